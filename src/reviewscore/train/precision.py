"""Device and numeric precision: fp32 on CPU; on CUDA, bf16 autocast where the GPU has it,
else fp16 autocast with a GradScaler (fp16 gradients underflow without loss scaling).

Kept to one pure function so the choice is tested on a CPU-only machine.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from reviewscore.errors import ReviewscoreError


@dataclass(frozen=True)
class Precision:
    device: str
    autocast_dtype: torch.dtype | None
    use_scaler: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.autocast_dtype)

    def scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device, enabled=self.use_scaler)


def pick_precision(
    device: str = "auto",
    *,
    cuda_available: bool | None = None,
    bf16_supported: bool | None = None,
) -> Precision:
    """'auto' takes CUDA when present. The two flags default to asking torch (tests pass them)."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda_available else "cpu"
    if device == "cpu":
        return Precision("cpu", None, False)
    if device != "cuda":
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if not cuda_available:
        raise ReviewscoreError("--device cuda was asked for, but torch sees no CUDA device")
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    if bf16_supported:
        return Precision("cuda", torch.bfloat16, False)
    return Precision("cuda", torch.float16, True)
