"""What distillation adds to a training config, and its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from reviewscore.errors import ReviewscoreError

KEEP_CHOICES = ("bottom", "spread")
# What the command and `reviewscore.distill` take when not told otherwise.
DEFAULT_KEEP = "bottom"
DEFAULT_TEMPERATURE = 2.0
DEFAULT_ALPHA = 0.5
# The training options `distill` takes besides its own (the rest are the teacher's or the
# plain recipe's): data, split, schedule length and rate, and the fit.
TRAIN_OPTIONS = (
    "epochs",
    "lr",
    "batch_size",
    "valid_fraction",
    "limit_rows",
    "seed",
    "limit_valid_rows",
    "freeze_embeddings",
)


@dataclass(frozen=True)
class DistillOptions:
    teacher: Path
    layers: int | None = None  # keep N of the teacher's layers ...
    student: str | None = None  # ... or start from this pretrained model
    keep: str = DEFAULT_KEEP
    temperature: float = DEFAULT_TEMPERATURE
    alpha: float = DEFAULT_ALPHA  # weight of the soft (KL) term; 1 - alpha on the true labels
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
