"""Train/validation split that keeps every sentence's phrases on one side.

The movie-review files hold each sentence and all of its sub-phrases; a random row split
puts a validation sentence's sub-phrases in training and inflates accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    valid: np.ndarray
    grouped: bool


def split_train_valid(
    n_rows: int, groups: list[str] | None, valid_fraction: float, seed: int
) -> Split:
    """Seeded split by group when groups are given, by row otherwise (`grouped` says which)."""
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be between 0 and 1, not {valid_fraction}")
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n_rows)
        n_valid = max(1, round(n_rows * valid_fraction))
        return Split(np.sort(order[n_valid:]), np.sort(order[:n_valid]), grouped=False)
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    shuffled = rng.permutation(len(unique))
    n_valid_groups = max(1, round(len(unique) * valid_fraction))
    is_valid_group = np.zeros(len(unique), dtype=bool)
    is_valid_group[shuffled[:n_valid_groups]] = True
    in_valid = is_valid_group[inverse]
    return Split(np.flatnonzero(~in_valid), np.flatnonzero(in_valid), grouped=True)
