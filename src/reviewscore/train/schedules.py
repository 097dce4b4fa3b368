"""Optimizer and learning-rate schedule for one training stage.

A fresh AdamW per stage: each stage is one cycle over a different set of groups, and a
stage boundary is then a clean resume point (nothing but the weights carries over).

Each schedule is a pure function of the step (as nanoGPT's `get_lr`), giving the multiple
of every group's peak rate and AdamW's beta1; the loop sets both before each step. Pure
functions keep no state to save or replay on resume, and tests read them directly.

- one-cycle: torch's OneCycleLR (fastai's defaults: div 25, pct_start 0.3, final div 1e4,
  cosine), with per-group peak rates and AdamW's beta1 cycling 0.95 -> 0.85 -> 0.95 against
  the rate;
- slanted: ULMFiT's slanted triangular rate (cut_frac 0.1, ratio 32), fixed momentum;
- linear: warm-up then linear decay, as BERT fine-tuning (transformers' own schedule).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from reviewscore.train.config import TrainConfig
from reviewscore.train.layer_groups import LayerGroup

FIXED_BETA1 = 0.9  # AdamW's default, for the schedules that do not cycle momentum


class Setting(NamedTuple):
    """What the schedule sets at one step."""

    scale: float  # multiple of each parameter group's peak rate
    beta1: float  # AdamW's momentum


def make_optimizer(
    groups: list[LayerGroup], lrs: list[float], config: TrainConfig
) -> torch.optim.AdamW:
    """One AdamW parameter group per trainable layer group, at that group's rate, which is
    kept as its `peak_lr` for `apply_setting` to scale."""
    param_groups = []
    for group, lr in zip(groups, lrs, strict=True):
        params = [p for p in group.params if p.requires_grad]
        if params:
            param_groups.append({"params": params, "lr": lr, "peak_lr": lr, "name": group.name})
    beta1 = config.momentum[0] if config.schedule == "one-cycle" else FIXED_BETA1
    return torch.optim.AdamW(
        param_groups, lr=lrs[-1], betas=(beta1, 0.999), weight_decay=config.weight_decay
    )


def apply_setting(optimizer: torch.optim.Optimizer, setting: Setting) -> None:
    """Set every group's rate to its peak times `setting.scale`, and its beta1."""
    for group in optimizer.param_groups:
        group["lr"] = group["peak_lr"] * setting.scale
        group["betas"] = (setting.beta1, *group["betas"][1:])


def schedule_at(step: int, total: int, config: TrainConfig) -> Setting:
    """The setting of `config.schedule` at `step` (0-based) of `total` optimizer steps."""
    if config.schedule == "one-cycle":
        return one_cycle(step, total, config)
    if config.schedule == "slanted":
        scale = slanted_triangular(step, total, config.cut_frac, config.ratio)
        return Setting(scale, FIXED_BETA1)
    return Setting(linear_warmup(step, total, round(config.warmup * total)), FIXED_BETA1)


def cosine(start: float, end: float, pct: float) -> float:
    """Cosine anneal from `start` to `end` as `pct` goes from 0 to 1 (torch's formula)."""
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def one_cycle(step: int, total: int, config: TrainConfig) -> Setting:
    """torch's OneCycleLR (two phases, cosine) as a function: the rate rises from
    peak/div_factor to the peak at pct_start of the steps, then falls to
    peak/div_factor/final_div_factor at the last step; beta1 moves against it."""
    total = max(total, 2)
    start = 1 / config.div_factor
    top_beta, low_beta = config.momentum
    rise_end = config.pct_start * total - 1  # the step at the peak, as torch counts it
    if step <= rise_end:
        pct = step / rise_end if rise_end > 0 else 1.0
        return Setting(cosine(start, 1.0, pct), cosine(top_beta, low_beta, pct))
    pct = (step - rise_end) / (total - 1 - rise_end)
    return Setting(
        cosine(1.0, start / config.final_div_factor, pct), cosine(low_beta, top_beta, pct)
    )


def slanted_triangular(step: int, total: int, cut_frac: float, ratio: float) -> float:
    """ULMFiT's multiplier of the peak rate: a short linear rise to 1 at cut_frac of the
    steps, a long linear fall, never below 1/ratio (Howard & Ruder 2018, eq. 3)."""
    cut = max(1, math.floor(total * cut_frac))
    p = step / cut if step < cut else 1 - (step - cut) / max(1, total - cut)
    return (1 + max(p, 0.0) * (ratio - 1)) / ratio


def linear_warmup(step: int, total: int, warmup: int) -> float:
    """transformers' get_linear_schedule_with_warmup as a multiplier: linear from 0 to 1
    over `warmup` steps, then linear down to 0 at `total`."""
    total = max(total, 1)
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))
