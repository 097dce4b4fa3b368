"""The parity gate: each variant, scored through the scorer's own classifier (its sorting
and token-budget batching), against the PyTorch model on the same labelled rows.

fp32 must match PyTorch's logits; int8 and fp16 must agree on the label and keep accuracy;
a variant the manifest calls batch-invariant must not move a label between two batchings.
Every variant reports the share of labels that move, batch-invariant or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reviewscore.data import read_reviews
from reviewscore.errors import ReviewscoreError

# Token budgets of the two batchings compared: one row per batch for most phrases vs the
# scorer's largest batches, so rows meet different neighbours and padded widths.
SMALL_BATCH_TOKENS = 64
LARGE_BATCH_TOKENS = 16384


class ParityError(ReviewscoreError):
    """A variant failed a parity check: the deploy folder is written (figures in its
    manifest) but must not be trusted; exit code 3 lets CI tell this from a crash."""

    exit_code = 3


@dataclass(frozen=True)
class Thresholds:
    max_abs_logit_diff: float = 1e-4  # fp32
    min_agreement: float = 0.98  # int8 / fp16: argmax agreement with PyTorch
    max_accuracy_drop: float = 0.01  # int8 / fp16: accuracy lost on labelled rows
    max_labels_moved: float = 0.0  # batch-invariant variants: labels moved by batching


def torch_logits(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    """Reference logits from PyTorch in eval mode, fp32, one phrase at a time (no padding,
    so the reference depends on no batching at all)."""
    import torch

    out = np.empty((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for i, text in enumerate(texts):
            batch = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            out[i] = model(**batch).logits[0].float().numpy()
    return out


def variant_figures(
    deploy_dir: Path,
    name: str,
    variant: dict[str, Any],
    reference: np.ndarray,
    texts: list[str],
    labels: np.ndarray | None,
    thresholds: Thresholds,
) -> dict[str, Any]:
    """Figures and verdict for one variant (a dict for the manifest)."""
    from reviewscore.score.classifier import DeployedClassifier

    classifier = DeployedClassifier.open(deploy_dir, name, require_finished=False)
    encoded = classifier.encode(texts)
    logits = classifier.logits_encoded(encoded, LARGE_BATCH_TOKENS)
    small = classifier.logits_encoded(encoded, SMALL_BATCH_TOKENS).argmax(axis=1)
    predicted = logits.argmax(axis=1)
    figures: dict[str, Any] = {
        "checked": True,
        "rows": len(texts),
        "max_abs_logit_diff": float(np.abs(logits - reference).max()),
        "agreement": float((predicted == reference.argmax(axis=1)).mean()),
        "labels_moved_between_batchings": float((predicted != small).mean()),
        "batchings_compared": {"batch_tokens": [SMALL_BATCH_TOKENS, LARGE_BATCH_TOKENS]},
    }
    if labels is not None:
        figures["accuracy"] = float((predicted == labels).mean())
        figures["torch_accuracy"] = float((reference.argmax(axis=1) == labels).mean())
        figures["accuracy_change"] = figures["accuracy"] - figures["torch_accuracy"]
    figures["failures"] = _failures(figures, variant, thresholds)
    figures["passed"] = not figures["failures"]
    return figures


def _failures(figures: dict[str, Any], variant: dict[str, Any], limit: Thresholds) -> list[str]:
    failures = []
    if variant["precision"] == "fp32":
        if figures["max_abs_logit_diff"] > limit.max_abs_logit_diff:
            failures.append(
                f"max abs logit difference {figures['max_abs_logit_diff']:.2e} > "
                f"{limit.max_abs_logit_diff:.0e}"
            )
    else:
        if figures["agreement"] < limit.min_agreement:
            failures.append(
                f"label agreement with PyTorch {figures['agreement']:.2%} < "
                f"{limit.min_agreement:.0%}"
            )
        drop = -figures.get("accuracy_change", 0.0)
        if drop > limit.max_accuracy_drop:
            failures.append(
                f"accuracy dropped {drop * 100:.2f} points > {limit.max_accuracy_drop * 100:g}"
            )
    moved = figures["labels_moved_between_batchings"]
    if variant["batch_invariant"] and moved > limit.max_labels_moved:
        failures.append(
            f"labels moved between batchings {moved:.2%} > {limit.max_labels_moved:.2%} "
            "for a variant marked batch-invariant"
        )
    return failures


def run_parity(
    loaded: Any,
    deploy_dir: Path,
    variants: dict[str, dict[str, Any]],
    data: Path,
    rows: int,
    thresholds: Thresholds,
    echo: Callable[[str], None],
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Figures for every variant on the first `rows` rows of `data`; fp16 that the CPU
    provider cannot run is recorded as not checked, with onnxruntime's reason."""
    sample = read_reviews(str(data), limit=rows)
    reference = torch_logits(
        loaded.model, loaded.tokenizer, sample.texts, int(loaded.info.max_length)
    )
    parity: dict[str, dict[str, Any]] = {}
    for name, variant in variants.items():
        try:
            parity[name] = variant_figures(
                deploy_dir, name, variant, reference, sample.texts, sample.labels, thresholds
            )
        except Exception as exc:  # only fp16 may lack CPU kernels; anything else is a bug
            if variant["precision"] != "fp16":
                raise
            parity[name] = {
                "checked": False,
                "reason": f"the CPU provider cannot run it: {str(exc)[:300]}",
                "failures": [],
                "passed": True,
            }
        echo(f"parity {name}: {summary(parity[name])}")
    return parity, {"file": str(data), "rows": len(sample)}


def summary(figures: dict[str, Any]) -> str:
    """One line per variant for the export's progress output."""
    if not figures["checked"]:
        return "not checked (" + figures["reason"][:120] + ")"
    text = (
        f"max |logit diff| {figures['max_abs_logit_diff']:.2e}, agreement "
        f"{figures['agreement']:.2%}, labels moved by batching "
        f"{figures['labels_moved_between_batchings']:.2%}"
    )
    if "accuracy_change" in figures:
        text += f", accuracy {figures['accuracy']:.4f} ({figures['accuracy_change'] * 100:+.2f})"
    return text + ("" if figures["passed"] else "  FAILED: " + "; ".join(figures["failures"]))


def failures_message(parity: dict[str, dict[str, Any]]) -> str | None:
    """The ParityError message: each failed variant with each check and its figure."""
    failed = [
        f"{name}: {'; '.join(p['failures'])}" for name, p in parity.items() if not p["passed"]
    ]
    return "parity check failed for " + " | ".join(failed) if failed else None
