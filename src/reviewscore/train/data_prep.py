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
from reviewscore.labels import LABEL_NAMES

# Below this, one row moves validation accuracy by more than 2 points.
MIN_VALID_ROWS = 50


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
    check_classes(train)
    return TrainData(train, valid, split.grouped)


def check_classes(train: ReviewRows) -> None:
    """One class teaches nothing, yet trains to accuracy 1.0 on a validation set of that
    class: refuse it rather than save a classifier that always answers the same."""
    found = np.unique(train.labels)
    if len(found) < 2:
        label = int(found[0])
        raise DataError(
            train.source,
            f"all {len(train):,} training rows have label {label} ({LABEL_NAMES[label]}); "
            "training a classifier needs at least 2 classes",
        )


def data_notices(data: TrainData, group_column: str) -> list[str]:
    """Lines for stderr: how validation rows were chosen when the file has no sentence
    column, and a warning when there are too few of them for accuracy to mean much."""
    notices = []
    if not data.grouped:
        notices.append(f"no {group_column!r} column: validation rows are a random row split")
    if len(data.valid) < MIN_VALID_ROWS:
        notices.append(
            f"warning: validation has only {len(data.valid)} row(s), so its accuracy is "
            "mostly noise; give it more (--valid-fraction, --limit-valid-rows, more data)"
        )
    return notices
