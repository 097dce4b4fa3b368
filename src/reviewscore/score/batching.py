"""Length-sorted, token-budgeted batches with dynamic padding (as sentence-transformers'
`encode`): most phrases are a few tokens, so padding each batch only to its own longest
row removes most of the work, and sorting makes neighbours the same length.

Token ids live in one flat int64 array per chunk (`Ragged`), so a padded batch is built
with a handful of numpy gathers instead of a Python loop over its rows and tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

import numpy as np

DEFAULT_BATCH_TOKENS = 4096
MAX_BATCH_ROWS = 512


@dataclass(frozen=True)
class Padding:
    pad_token_id: int
    pad_token_type_id: int
    side: str  # "right", or "left" for models that read the last token (XLNet)


@dataclass(frozen=True)
class Ragged:
    """Rows of different lengths as one flat array: row r is flat[starts[r]:starts[r] +
    lengths[r]]."""

    flat: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_lists(cls, rows: list[list[int]]) -> Ragged:
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
        starts = np.zeros_like(lengths)
        np.cumsum(lengths[:-1], out=starts[1:])
        return cls(flat, starts, lengths)

    def __len__(self) -> int:
        return len(self.lengths)


def plan_batches(
    lengths: np.ndarray, batch_tokens: int = DEFAULT_BATCH_TOKENS, max_rows: int = MAX_BATCH_ROWS
) -> Iterator[np.ndarray]:
    """Row indices per batch, shortest rows first; a batch's padded size (rows x its longest
    row) stays within `batch_tokens` (a single row longer than the budget is its own batch)."""
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    start = 0
    n = len(order)
    while start < n:
        # Sorted ascending, so the batch's last row is its longest: the batch may grow while
        # (rows so far + 1) x length of the next row stays within the budget.
        rows = np.arange(1, min(max_rows, n - start) + 1)
        fits = rows * sorted_lengths[start : start + len(rows)] <= batch_tokens
        size = max(1, int(np.argmin(fits)) if not fits.all() else len(rows))
        yield order[start : start + size]
        start += size


def pad_batch(
    ids: Ragged, type_ids: Ragged | None, rows: np.ndarray, padding: Padding
) -> dict[str, np.ndarray]:
    """int64 input_ids, attention_mask (and token_type_ids when given) for `rows`, padded to
    the longest of them on `padding.side`."""
    lengths = ids.lengths[rows]
    width = int(lengths.max())
    # Position of each cell within its row's tokens (negative or >= length: padding).
    offset = width - lengths if padding.side == "left" else np.zeros_like(lengths)
    position = np.arange(width)[None, :] - offset[:, None]
    mask = (position >= 0) & (position < lengths[:, None])
    gather = (ids.starts[rows][:, None] + position)[mask]
    input_ids = np.full(mask.shape, padding.pad_token_id, dtype=np.int64)
    input_ids[mask] = ids.flat[gather]
    batch = {"input_ids": input_ids, "attention_mask": mask.astype(np.int64)}
    if type_ids is not None:
        types = np.full(mask.shape, padding.pad_token_type_id, dtype=np.int64)
        types[mask] = type_ids.flat[gather]
        batch["token_type_ids"] = types
    return batch
