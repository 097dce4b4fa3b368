"""PNG plots of a run (loss, learning rate and momentum, confusion matrix) and of the LR
finder. matplotlib with the Agg backend: no display needed, safe in threads and CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: no display needed
import matplotlib.pyplot as plt
import numpy as np

from reviewscore.files import atomic_path
from reviewscore.labels import LABEL_NAMES
from reviewscore.training_history import TrainingHistory


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def smooth(values: list[float], beta: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average (fastai's smoothed loss)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return np.asarray(out)


def plot_history(history: TrainingHistory, plots_dir: Path) -> None:
    steps, epochs = history.steps, history.epochs
    if not steps:
        return
    x = [s.step for s in steps]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x, [s.loss for s in steps], alpha=0.25, label="train loss (batch)")
    ax.plot(x, smooth([s.loss for s in steps]), label="train loss (smoothed)")
    ax.plot([e.step for e in epochs], [e.valid_loss for e in epochs], "o-", label="valid")
    for e in epochs:
        ax.axvline(e.step, color="grey", lw=0.5, ls=":")
    ax.set(xlabel="optimizer step", ylabel="cross-entropy", title="loss (dotted: validations)")
    ax.legend()
    _save(fig, plots_dir / "loss.png")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x, [s.lr for s in steps], label="head lr")
    ax.plot(x, [s.lr_bottom for s in steps], label="lowest trained group lr")
    ax.set(xlabel="optimizer step", ylabel="learning rate", yscale="log")
    twin = ax.twinx()
    twin.plot(x, [s.beta1 for s in steps], color="grey", lw=0.8, label="AdamW beta1")
    twin.set_ylabel("beta1 (momentum)")
    ax.legend(loc="upper left")
    twin.legend(loc="upper right")
    _save(fig, plots_dir / "lr.png")


def plot_confusion(confusion: list[list[int]], path: Path) -> None:
    matrix = np.asarray(confusion)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                color="white" if share[i, j] > 0.5 else "black")  # fmt: skip
    ticks = range(len(LABEL_NAMES))
    ax.set_xticks(ticks, [f"{i}" for i in ticks])
    ax.set_yticks(ticks, [f"{i} {n}" for i, n in enumerate(LABEL_NAMES)])
    ax.set(xlabel="predicted", ylabel="true", title="validation confusion (colour: row share)")
    _save(fig, path)


def plot_lr_find(
    lrs: list[float], losses: list[float], suggestions: dict[str, float], path: Path
) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(lrs, losses)
    for (name, lr), colour in zip(suggestions.items(), ("red", "green"), strict=False):
        ax.axvline(lr, color=colour, ls="--", label=f"{name}: {lr:.2e}")
    ax.set(xscale="log", xlabel="learning rate (head)", ylabel="smoothed loss", title="LR finder")
    ax.legend()
    _save(fig, path)
