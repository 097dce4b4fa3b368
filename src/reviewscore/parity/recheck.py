"""The server's parity re-check: `reviewscore verify`'s check of the loaded variant on
this CPU, as the outcome /readyz reports (passed, failed, or no reference to check
against). serve/readiness.py decides what a failed outcome blocks."""

from __future__ import annotations

from dataclasses import dataclass

from reviewscore.errors import ReviewscoreError
from reviewscore.parity.verify import verify_classifier
from reviewscore.score.classifier import DeployedClassifier


@dataclass(frozen=True)
class ParityCheck:
    """The outcome of re-checking the model on this CPU against the folder's reference."""

    status: str  # "passed", "failed" or "no reference"
    detail: str = ""

    @property
    def blocks_readiness(self) -> bool:
        return self.status == "failed"


def recheck_parity(classifier: DeployedClassifier) -> ParityCheck:
    """Re-check the loaded variant on this CPU against the deploy folder's reference outputs
    (the export's parity rows and PyTorch's logits), with the export's thresholds. When
    `--variant auto` has just measured it (not read from its cache), that measurement is
    this very check, made here with the same provider and threads: it is not run twice."""
    if classifier.manifest.parity_reference is None:
        return ParityCheck("no reference", "this deploy folder carries no reference outputs")
    auto = classifier.auto
    if auto is not None and auto.verification is not None:
        verification = auto.verification.of(classifier.variant_name)
    else:
        try:
            verification = verify_classifier(classifier)
        except ReviewscoreError as exc:  # a damaged reference: not verifiable, so not ready
            return ParityCheck("failed", str(exc))
    failures = verification.failures()
    if failures:
        return ParityCheck("failed", failures)
    return ParityCheck("passed", "; ".join(verification.lines()))
