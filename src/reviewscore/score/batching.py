"""Length-sorted, token-budgeted batches for the scorer: most phrases are a few tokens, so
padding each batch only to its own longest row (reviewscore.padding) removes most of the
work, and sorting makes neighbours the same length. The budget is in tokens (rows x longest
row), not rows: a batch of short phrases holds many more rows than one of long sentences,
so every batch costs about the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

DEFAULT_BATCH_TOKENS = 4096
MAX_BATCH_ROWS = 512


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
