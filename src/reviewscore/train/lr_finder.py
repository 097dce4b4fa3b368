"""`reviewscore lr-find`: the learning-rate range test (Smith 2015; fastai's lr_find).

Train for up to `num_iter` batches while the rate grows exponentially from `start_lr` to
`end_lr`, track the smoothed loss, stop once it diverges (4x the best), then put the
weights back: the sweep is a measurement, not training. The rate swept is the head's;
lower groups keep their discriminative ratio to it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reviewscore.data import Columns
from reviewscore.errors import ReviewscoreError
from reviewscore.files import write_json
from reviewscore.train.batching import EncodedRows, batch_stream, collate, encode
from reviewscore.train.config import DEFAULT_DEVICE, LrFindOptions, TrainConfig
from reviewscore.train.data_prep import prepare_data
from reviewscore.train.layer_groups import (
    LayerGroup,
    discriminative_lrs,
    find_layer_groups,
    set_trainable,
    trainable_count,
)
from reviewscore.train.model_load import load_model
from reviewscore.train.plots import plot_lr_find, smooth
from reviewscore.train.precision import Precision, pick_precision
from reviewscore.train.step import train_step

DIVERGE_FACTOR = 4.0
_SWEEP = LrFindOptions()
SKIP_START, SKIP_END = 5, 3  # fastai's margins: the ends of the curve are noise


@dataclass
class Sweep:
    lrs: list[float]
    losses: list[float]  # smoothed
    suggestions: dict[str, float]


def suggest(lrs: list[float], losses: list[float]) -> dict[str, float]:
    """Steepest descent of the smoothed loss against log(lr) before its minimum (past the
    minimum the curve is divergence), and the minimum's lr / 10."""
    lr, loss = np.asarray(lrs), np.asarray(losses)
    if len(lr) > SKIP_START + SKIP_END + 2:
        lr, loss = lr[SKIP_START : len(lr) - SKIP_END], loss[SKIP_START : len(lr) - SKIP_END]
    lowest = int(np.argmin(loss))
    slope = np.gradient(loss[: lowest + 1], np.log(lr[: lowest + 1])) if lowest > 0 else [0.0]
    return {"steepest": float(lr[int(np.argmin(slope))]), "min/10": float(lr[lowest] / 10)}


def sweep(
    model: torch.nn.Module,
    groups: list[LayerGroup],
    encoded: EncodedRows,
    config: TrainConfig,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_iter: int = 100,
    precision: Precision | None = None,
) -> Sweep:
    """Run the range test on the trainable groups; the model's weights are restored after."""
    precision = precision or pick_precision("cpu")
    scaler = precision.scaler()
    saved = copy.deepcopy(model.state_dict())
    ratios = [lr / config.lr for lr in discriminative_lrs(config.lr, len(groups), config.lr_decay)]
    param_groups = [
        {"params": [p for p in g.params if p.requires_grad], "ratio": r}
        for g, r in zip(groups, ratios, strict=True)
    ]
    optimizer = torch.optim.AdamW(
        [g for g in param_groups if g["params"]], lr=start_lr, weight_decay=config.weight_decay
    )
    torch.manual_seed(config.seed)
    batches = batch_stream(encoded.lengths, config.batch_size, config.seed)
    lrs, raw = [], []
    best = float("inf")
    model.train()
    try:
        for i in range(num_iter):
            lr = start_lr * (end_lr / start_lr) ** (i / max(num_iter - 1, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr * group["ratio"]
            batch = collate(encoded, next(batches))
            loss = train_step(model, batch, optimizer, scaler, precision, config.grad_clip)
            lrs.append(lr)
            raw.append(loss.item())
            smoothed = float(smooth(raw)[-1])
            best = min(best, smoothed)
            if not np.isfinite(smoothed) or (i > SKIP_START and smoothed > DIVERGE_FACTOR * best):
                break
    finally:
        model.load_state_dict(saved)
    losses = smooth(raw).tolist()
    return Sweep(lrs, losses, suggest(lrs, losses))


def run_lr_find(
    config: TrainConfig,
    out_dir: Path,
    *,
    unfreeze: str = _SWEEP.unfreeze,
    start_lr: float = _SWEEP.start_lr,
    end_lr: float = _SWEEP.end_lr,
    num_iter: int = _SWEEP.num_iter,
    device: str = DEFAULT_DEVICE,
    echo: Callable[[str], None] = print,
) -> Sweep:
    """The command: sweep on the training rows, write lr_find.png and lr_find.json."""
    if not 0 < start_lr < end_lr < math.inf:
        raise ReviewscoreError(
            f"--start-lr and --end-lr must be finite, positive and rising, not {start_lr} "
            f"and {end_lr}"
        )
    data = prepare_data(
        config.data,
        Columns(**config.columns),
        valid_fraction=config.valid_fraction,
        seed=config.seed,
        limit_rows=config.limit_rows,
    )
    torch.manual_seed(config.seed)
    model, tokenizer = load_model(config.model)
    groups = find_layer_groups(model)
    set_trainable(groups, trainable_count(unfreeze, len(groups)))
    encoded = encode(data.train.texts, data.train.labels, tokenizer, config.max_length)
    precision = pick_precision(device)
    model.to(precision.device)
    result = sweep(
        model,
        groups,
        encoded,
        config,
        start_lr=start_lr,
        end_lr=end_lr,
        num_iter=num_iter,
        precision=precision,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_lr_find(result.lrs, result.losses, result.suggestions, out_dir / "lr_find.png")
    write_json(
        out_dir / "lr_find.json",
        {"lrs": result.lrs, "losses": result.losses, "suggestions": result.suggestions},
    )
    steepest, min10 = result.suggestions["steepest"], result.suggestions["min/10"]
    echo(
        f"{len(result.lrs)} batches; suggested head lr: steepest {steepest:.2e}, "
        f"min/10 {min10:.2e} (plot: {out_dir / 'lr_find.png'})"
    )
    return result
