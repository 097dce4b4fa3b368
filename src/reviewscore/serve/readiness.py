"""When the server is ready for traffic: the model is loaded, warmed up, and its parity
re-checked on this CPU where the deploy folder carries a reference.

The parity re-check is `reviewscore verify`'s, run on the loaded session (or, where
`--variant auto` has just measured the variant, that measurement: parity/recheck.py): a
folder exported before verify existed (or with --no-check) has no reference and is served
with "no reference"; a failed re-check keeps /readyz at 503 (and says why in its body)
and makes /v1/score refuse with 503, since its labels are not the ones the export
checked, unless the server was started with --serve-unverified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reviewscore.parity.recheck import ParityCheck, recheck_parity
from reviewscore.score.classifier import DeployedClassifier

WARM_UP_TEXT = "a warm-up phrase"


def warm_up(classifier: DeployedClassifier) -> None:
    """Run the session on a short and a full-length batch, so onnxruntime's first-run costs
    (arena growth, kernel selection) are paid before the first client's request."""
    long_text = " ".join([WARM_UP_TEXT] * classifier.manifest.max_length)
    classifier.logits([WARM_UP_TEXT])
    classifier.logits([WARM_UP_TEXT, long_text] * 4)


@dataclass
class Readiness:
    """Set by the inference worker as it starts; read by /readyz."""

    loaded: bool = True  # the server is built around an already-opened classifier
    warmed: bool = False
    parity: ParityCheck | None = None
    failure: str | None = field(default=None)
    # --serve-unverified: a failed re-check is reported (log, /readyz) but not refused
    serve_unverified: bool = False

    @property
    def ready(self) -> bool:
        checked = self.parity is not None and (
            self.serve_unverified or not self.parity.blocks_readiness
        )
        return self.loaded and self.warmed and checked and self.failure is None

    @property
    def refusal(self) -> str | None:
        """Why score requests are refused (503), or None while they may be scored."""
        if self.failure is not None:
            return f"the model cannot run on this server: {self.failure}"
        if self.parity is not None and self.parity.blocks_readiness and not self.serve_unverified:
            return (
                "the model failed its parity re-check on this CPU, so its labels are not "
                f"the ones the export checked ({self.parity.detail}); the server refuses to "
                "score until it is started with --serve-unverified"
            )
        return None

    def prepare(self, classifier: DeployedClassifier) -> None:
        """Warm up, then re-check parity (in the inference worker, before any request)."""
        warm_up(classifier)
        self.warmed = True
        self.parity = recheck_parity(classifier)

    def report(self) -> dict[str, Any]:
        parity = None if self.parity is None else vars(self.parity)
        report: dict[str, Any] = {"ready": self.ready, "loaded": self.loaded}
        report |= {"warmed": self.warmed, "parity_recheck": parity}
        report["serve_unverified"] = self.serve_unverified
        if self.failure is not None:
            report["failure"] = self.failure
        return report
