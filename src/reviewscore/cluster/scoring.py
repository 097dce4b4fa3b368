"""Score a Ray Dataset with a pool of actors, each holding one Scorer (`reviewscore.load`).

An actor opens the deploy folder once (manifest check, tokenizer, onnxruntime session) and
then scores batch after batch with the single-machine scorer's own code: `predict_proba`
(tokenise, length sort, token-budget batches, dynamic padding, session.run, input order
restored), one batch as one chunk. Nothing of the per-batch work is re-implemented here.

A dead actor is Ray's business: Ray Data creates the pool with max_restarts=-1 and
max_task_retries=-1, so the actor is restarted and the task it held is run again, and a
task's output reaches the next stage only once computed whole. The job then checks rows
read against rows written before publishing (job.py); tests/test_cluster.py kills an actor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import ray.data

from reviewscore.data.reader import DEFAULT_CHUNK_ROWS
from reviewscore.deploy_folder import load_manifest
from reviewscore.score.auto_variant import (
    AUTO,
    AutoVariant,
    check_allow_batch_dependent,
    resolve_auto_variant,
)
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS
from reviewscore.score.classifier import refuse_text_variant
from reviewscore.scorer import load


class ScorerActor:
    """The per-actor state: one Scorer, loaded in `__init__`, used by every `__call__`.

    Subclass it to add per-batch work (call `super().__call__`) and pass the subclass to
    `score_dataset(actor_class=...)`.
    """

    def __init__(
        self,
        deploy_dir: str,
        *,
        variant: str | None,
        provider: str,
        threads: int,
        max_length: int | None,
        batch_tokens: int,
        probs: bool,
        text_column: str,
        keep_text: bool,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        """`chunk_rows`: at least the rows of a batch, so each batch is sorted and
        batched whole, as `score_dataset` passes its `batch_rows`."""
        self.scorer = load(
            deploy_dir,
            variant,
            provider,
            threads,
            max_length=max_length,
            batch_tokens=batch_tokens,
            chunk_rows=chunk_rows,
        )
        self.label_names = np.asarray(self.scorer.label_names, dtype=object)
        self.probs = probs
        self.text_column = text_column
        self.keep_text = keep_text

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        probs = self.scorer.predict_proba(batch[self.text_column].tolist())
        labels = probs.argmax(axis=1)
        out = {k: v for k, v in batch.items() if self.keep_text or k != self.text_column}
        out["label"] = labels.astype(np.int64)
        out["label_name"] = self.label_names[labels]
        if self.probs:
            out.update({f"p_{i}": probs[:, i] for i in range(probs.shape[1])})
        return out


def check_deploy_dir(deploy_dir: str | Path, variant: str | None) -> Path:
    """Fail on the driver, before any actor starts, when the folder or variant is wrong; the
    actors still verify the files' hashes when they open it. "auto" is resolved later, on
    the driver too (`driver_variant`)."""
    deploy_dir = Path(deploy_dir).resolve()
    manifest = load_manifest(deploy_dir, verify=False)
    refuse_text_variant(manifest, None if variant == AUTO else variant)
    return deploy_dir


def driver_variant(
    deploy_dir: Path,
    variant: str | None,
    *,
    provider: str,
    threads: int,
    allow_batch_dependent: bool,
) -> tuple[str | None, AutoVariant | None]:
    """The variant every actor opens: "auto" is chosen here, once, measured on the driver
    with the actors' thread count and provider (or read from the driver's cache), so every
    actor scores with the same variant; any other is passed on as it is."""
    if variant != AUTO:
        return variant, None
    auto = resolve_auto_variant(
        deploy_dir,
        provider=provider,
        threads=threads,
        allow_batch_dependent=allow_batch_dependent,
    )
    return auto.variant, auto


def score_dataset(
    dataset: ray.data.Dataset,
    deploy_dir: str | Path,
    *,
    actors: int = 1,
    threads: int = 1,
    gpus_per_actor: float = 0,
    variant: str | None = None,
    provider: str = "auto",
    max_length: int | None = None,
    batch_rows: int = DEFAULT_CHUNK_ROWS,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    probs: bool = False,
    text_column: str = "text",
    keep_text: bool = True,
    actor_class: type[ScorerActor] = ScorerActor,
    allow_batch_dependent: bool = False,
) -> ray.data.Dataset:
    """`dataset` with `label`, `label_name` (and `p_0`... with `probs`) added to each row.

    `actors` actors each run an onnxruntime session with `threads` intra-op threads and
    reserve as many CPUs, plus `gpus_per_actor` GPUs (0.5 puts two actors on a GPU). Every
    actor gets `batch_rows` rows at a time, which it splits into token-budget batches (the
    local scorer's 8192 by default: smaller chunks scored measurably slower, likely the
    shorter window to sort by length); a block bigger than that goes to one actor whole, so
    feed it small blocks (`read_review_dataset` does; for your own Dataset, lower
    DataContext.target_max_block_size before making it). `variant="auto"` is chosen here,
    on the driver (`driver_variant`).
    """
    check_allow_batch_dependent(variant, allow_batch_dependent)
    deploy_dir = check_deploy_dir(deploy_dir, variant)
    variant, _ = driver_variant(
        deploy_dir,
        variant,
        provider=provider,
        threads=threads,
        allow_batch_dependent=allow_batch_dependent,
    )
    constructor: dict[str, Any] = {
        "variant": variant,
        "provider": provider,
        "threads": threads,
        "max_length": max_length,
        "batch_tokens": batch_tokens,
        "probs": probs,
        "text_column": text_column,
        "keep_text": keep_text,
        "chunk_rows": batch_rows,
    }
    # No repartition here: its tasks would need a CPU that the actors may all hold (a
    # deadlock). A block goes to one actor whole, so `read_review_dataset` makes small blocks.
    return dataset.map_batches(
        actor_class,
        fn_constructor_args=(str(deploy_dir),),
        fn_constructor_kwargs=constructor,
        batch_size=batch_rows,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=threads,
        num_gpus=gpus_per_actor or None,
    )
