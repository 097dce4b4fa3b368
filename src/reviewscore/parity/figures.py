"""The parity figures of one variant against a stored PyTorch reference, with onnxruntime
only, judged by judge.py: the export's gate and `reviewscore verify` both call this module,
so what CI checked and what a server re-checks cannot drift apart.

Each variant is scored through the scorer's own classifier (its sorting and token-budget
batching). fp32 must match PyTorch's logits; int8 and fp16 must agree on the label and keep
accuracy; a variant the manifest calls batch-invariant must not move a label between two
batchings. Every variant reports the share of labels that move, batch-invariant or not, and
the machine the figures were measured on (int8 kernels differ between CPU families).

Kept free of torch and transformers: the scorer imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from reviewscore.cpu_features import measured_on
from reviewscore.deploy_folder import ParityFigures, Thresholds
from reviewscore.parity.judge import judge
from reviewscore.parity.reference import Reference

if TYPE_CHECKING:
    from reviewscore.score.classifier import DeployedClassifier

# Token budgets of the two batchings compared: one row per batch for most phrases vs the
# scorer's largest batches, so rows meet different neighbours and padded widths.
SMALL_BATCH_TOKENS = 64
LARGE_BATCH_TOKENS = 16384


def variant_figures(
    classifier: DeployedClassifier, reference: Reference, thresholds: Thresholds
) -> ParityFigures:
    """Figures and verdict for the classifier's variant."""
    encoded = classifier.encode(reference.texts)
    logits = classifier.logits_encoded(encoded, LARGE_BATCH_TOKENS)
    small = classifier.logits_encoded(encoded, SMALL_BATCH_TOKENS).argmax(axis=1)
    predicted = logits.argmax(axis=1)
    torch_predicted = reference.logits.argmax(axis=1)
    accuracy = torch_accuracy = None
    if reference.labels is not None:
        accuracy = float((predicted == reference.labels).mean())
        torch_accuracy = float((torch_predicted == reference.labels).mean())
    figures = ParityFigures(
        checked=True,
        rows=len(reference.texts),
        max_abs_logit_diff=float(np.abs(logits - reference.logits).max(initial=0.0)),
        agreement=float((predicted == torch_predicted).mean()),
        labels_moved_between_batchings=float((predicted != small).mean()),
        batchings_compared={"batch_tokens": [SMALL_BATCH_TOKENS, LARGE_BATCH_TOKENS]},
        accuracy=accuracy,
        torch_accuracy=torch_accuracy,
        accuracy_change=None if accuracy is None else accuracy - torch_accuracy,
        failures=(),
        passed=True,
    )
    failures = tuple(judge(figures, classifier.variant, thresholds))
    return replace(
        figures,
        failures=failures,
        passed=not failures,
        measured_on=measured_on(classifier.provider, classifier.session.exact_int8),
    )


def checked_variant(
    open_classifier: Callable[[], DeployedClassifier],
    precision: str,
    reference: Reference,
    thresholds: Thresholds,
) -> ParityFigures:
    """variant_figures, or, for fp16 that the provider has no kernels for (onnxruntime's
    NOT_IMPLEMENTED), "not checked" with onnxruntime's reason. Only that: any other failure,
    of fp16 too, is a broken variant and is raised, never recorded as passed."""
    try:
        return variant_figures(open_classifier(), reference, thresholds)
    except Exception as exc:
        if precision != "fp16" or "NOT_IMPLEMENTED" not in str(exc):
            raise
        return ParityFigures(
            checked=False,
            reason=f"the provider cannot run it: {str(exc)[:300]}",
            failures=(),
            passed=True,
        )


def summary(figures: ParityFigures) -> str:
    """One line per variant, for the export's progress output and `verify`."""
    if not figures.checked:
        return "not checked (" + (figures.reason or "")[:120] + ")"
    text = (
        f"max |logit diff| {figures.max_abs_logit_diff:.2e}, agreement "
        f"{figures.agreement:.2%}, labels moved by batching "
        f"{figures.labels_moved_between_batchings:.2%}"
    )
    if figures.accuracy_change is not None:
        text += f", accuracy {figures.accuracy:.4f} ({figures.accuracy_change * 100:+.2f})"
    return text + ("" if figures.passed else "  FAILED: " + "; ".join(figures.failures))
