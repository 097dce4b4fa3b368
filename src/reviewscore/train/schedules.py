"""Optimizer and learning-rate schedule for one training stage.

A fresh AdamW per stage: each stage is one cycle over a different set of groups, and a
stage boundary is then a clean resume point (nothing but the weights carries over).

- one-cycle: torch's OneCycleLR (fastai's defaults: div 25, pct_start 0.3, final div 1e4,
  cosine), with per-group peak rates and AdamW's beta1 cycling 0.95 -> 0.85 -> 0.95 against
  the rate;
- slanted: ULMFiT's slanted triangular rate (cut_frac 0.1, ratio 32), fixed momentum;
- linear: warm-up then linear decay, as BERT fine-tuning (transformers' own schedule).
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from reviewscore.train.config import TrainConfig
from reviewscore.train.layer_groups import LayerGroup


def make_optimizer(
    groups: list[LayerGroup], lrs: list[float], config: TrainConfig
) -> torch.optim.AdamW:
    """One AdamW parameter group per trainable layer group, at that group's rate."""
    param_groups = []
    for group, lr in zip(groups, lrs, strict=True):
        params = [p for p in group.params if p.requires_grad]
        if params:
            param_groups.append({"params": params, "lr": lr, "name": group.name})
    beta1 = config.momentum[0] if config.schedule == "one-cycle" else 0.9
    return torch.optim.AdamW(
        param_groups, lr=lrs[-1], betas=(beta1, 0.999), weight_decay=config.weight_decay
    )


def slanted_triangular(step: int, total: int, cut_frac: float, ratio: float) -> float:
    """ULMFiT's multiplier of the peak rate: a short linear rise to 1 at cut_frac of the
    steps, a long linear fall, never below 1/ratio (Howard & Ruder 2018, eq. 3)."""
    cut = max(1, math.floor(total * cut_frac))
    p = step / cut if step < cut else 1 - (step - cut) / max(1, total - cut)
    return (1 + max(p, 0.0) * (ratio - 1)) / ratio


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, config: TrainConfig
) -> LRScheduler:
    """The per-step schedule of `config.schedule` over `total_steps` optimizer steps."""
    peaks = [group["lr"] for group in optimizer.param_groups]
    if config.schedule == "one-cycle":
        return OneCycleLR(
            optimizer,
            max_lr=peaks,
            total_steps=max(total_steps, 2),
            pct_start=config.pct_start,
            anneal_strategy="cos",
            div_factor=config.div_factor,
            final_div_factor=config.final_div_factor,
            cycle_momentum=True,
            base_momentum=config.momentum[1],
            max_momentum=config.momentum[0],
        )
    if config.schedule == "slanted":
        return LambdaLR(
            optimizer,
            lambda step: slanted_triangular(step, total_steps, config.cut_frac, config.ratio),
        )
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(
        optimizer, round(config.warmup * total_steps), max(total_steps, 1)
    )
