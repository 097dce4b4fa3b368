"""Training and validation rows: read, split by sentence, optionally take a subset.

The split is made on the whole file first, so `--limit-rows` (a seeded subset of whole
training sentences, for demos and benchmarks) never changes which sentences validate:
runs with different limits are scored on the same validation rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reviewscore.data import Columns, LabelMode, ReviewRows, read_reviews, split_train_valid
from reviewscore.errors import DataError


@dataclass
class TrainData:
    train: ReviewRows
    valid: ReviewRows
    grouped: bool


def limit_whole_groups(rows: ReviewRows, limit: int, seed: int) -> ReviewRows:
    """Up to `limit` rows made of whole groups in seeded random order (rows, if no groups);
    always at least one group. Rows keep their file order."""
    if len(rows) <= limit:
        return rows
    rng = np.random.default_rng([seed, limit])
    if rows.groups is None:
        return rows.take(np.sort(rng.permutation(len(rows))[:limit]))
    unique, inverse, counts = np.unique(
        np.asarray(rows.groups), return_inverse=True, return_counts=True
    )
    order = rng.permutation(len(unique))
    taken = np.cumsum(counts[order]) <= limit
    taken[0] = True
    keep = np.zeros(len(unique), dtype=bool)
    keep[order[taken]] = True
    return rows.take(np.flatnonzero(keep[inverse]))


def prepare_data(
    data: str,
    columns: Columns,
    *,
    valid_fraction: float,
    seed: int,
    limit_rows: int | None = None,
    limit_valid_rows: int | None = None,
) -> TrainData:
    rows = read_reviews(data, columns, label_mode=LabelMode.REQUIRED)
    split = split_train_valid(len(rows), rows.groups, valid_fraction, seed)
    if len(split.train) == 0:
        raise DataError(rows.source, "too few rows (or sentences) to keep any for training")
    train, valid = rows.take(split.train), rows.take(split.valid)
    if limit_rows is not None:
        train = limit_whole_groups(train, limit_rows, seed)
    if limit_valid_rows is not None:
        valid = limit_whole_groups(valid, limit_valid_rows, seed)
    return TrainData(train, valid, split.grouped)
