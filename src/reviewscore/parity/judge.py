"""The parity gate's verdict: which checks a variant's figures fail against the manifest's
thresholds, and the ParityError message naming each one. The export's gate, `reviewscore
verify`, `score --verify`, `--variant auto` and the server's re-check all judge here.
Torch-free."""

from __future__ import annotations

from reviewscore.deploy_folder import ParityFigures, Thresholds, Variant


def judge(figures: ParityFigures, variant: Variant, limit: Thresholds) -> list[str]:
    """The checks the figures of a measured variant fail (all figures but accuracy set):
    fp32 against the logit threshold, int8 and fp16 against agreement and accuracy, and
    a batch-invariant variant against the labels moved between two batchings."""
    failures = []
    if variant.precision == "fp32":
        if figures.max_abs_logit_diff > limit.max_abs_logit_diff:
            failures.append(
                f"max abs logit difference {figures.max_abs_logit_diff:.2e} > "
                f"{limit.max_abs_logit_diff:.0e}"
            )
    else:
        if figures.agreement < limit.min_agreement:
            failures.append(
                f"label agreement with PyTorch {figures.agreement:.2%} < {limit.min_agreement:.0%}"
            )
        drop = -(figures.accuracy_change or 0.0)
        if drop > limit.max_accuracy_drop:
            failures.append(
                f"accuracy dropped {drop * 100:.2f} points > {limit.max_accuracy_drop * 100:g}"
            )
    moved = moved_failure(figures.labels_moved_between_batchings, variant, limit)
    if moved:
        failures.append(moved)
    return failures


def moved_failure(moved: float, variant: Variant, limit: Thresholds) -> str | None:
    """The batching check (the scorer's and the edge variants' alike): a variant marked
    batch-invariant must not move more labels between two batchings than the threshold."""
    if variant.batch_invariant and moved > limit.max_labels_moved:
        return (
            f"labels moved between batchings {moved:.2%} > {limit.max_labels_moved:.2%} "
            "for a variant marked batch-invariant"
        )
    return None


def failures_message(parity: dict[str, ParityFigures]) -> str | None:
    """The ParityError message: each failed variant with each check and its figure."""
    failed = [f"{name}: {'; '.join(p.failures)}" for name, p in parity.items() if not p.passed]
    return "parity check failed for " + " | ".join(failed) if failed else None
