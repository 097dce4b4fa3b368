"""One optimizer step on one batch, shared by `train` and `lr-find` so the range test
measures the very step training takes (same precision, loss scaling and clipping)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from reviewscore.train.precision import Precision


def to_device(batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    """Copy a batch to `device`. To CUDA from pinned memory and without blocking: a plain
    copy from pageable memory waits for the GPU's queue, as `.item()` does."""
    if device == "cpu":
        return batch
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}


# What a step minimises: (model, batch on the device) -> scalar loss.
LossFn = Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]


def model_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Fine-tuning's loss: the model's own cross-entropy on the batch's labels."""
    return model(**batch).loss


def train_step(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    precision: Precision,
    grad_clip: float,
    loss_fn: LossFn = model_loss,
) -> torch.Tensor:
    """Forward, loss (`loss_fn`: distillation passes its own), backward, clip the
    gradients' norm to `grad_clip`, optimizer step.

    Returns the loss detached and still on the device: reading it is the caller's choice,
    since each read makes the CPU wait for the GPU."""
    with precision.autocast():
        loss = loss_fn(model, to_device(batch, precision.device))
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    torch.nn.utils.clip_grad_norm_(trainable, grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()
