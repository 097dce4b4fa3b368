"""What distillation adds to a training config, and its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from reviewscore.distill.student import KEEP_CHOICES
from reviewscore.errors import ReviewscoreError


@dataclass(frozen=True)
class DistillOptions:
    teacher: Path
    layers: int | None = None  # keep N of the teacher's layers ...
    student: str | None = None  # ... or start from this pretrained model
    keep: str = "bottom"
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the soft (KL) term; 1 - alpha on the true labels
    cache: Path | None = None  # folder for the teacher's logits

    def check(self) -> None:
        if (self.layers is None) == (self.student is None):
            raise ReviewscoreError("give exactly one of --layers N and --student MODEL")
        if self.keep not in KEEP_CHOICES:
            raise ReviewscoreError(f"--keep must be one of {', '.join(KEEP_CHOICES)}")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ReviewscoreError(f"--temperature must be positive, not {self.temperature}")
        if not (math.isfinite(self.alpha) and 0 <= self.alpha <= 1):
            raise ReviewscoreError(f"--alpha must be between 0 and 1, not {self.alpha}")
