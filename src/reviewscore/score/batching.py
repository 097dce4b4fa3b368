"""Length-sorted, token-budgeted batches with dynamic padding (as sentence-transformers'
`encode`): most phrases are a few tokens, so padding each batch only to its own longest
row removes most of the work, and sorting makes neighbours the same length."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

DEFAULT_BATCH_TOKENS = 4096
MAX_BATCH_ROWS = 512


@dataclass(frozen=True)
class Padding:
    pad_token_id: int
    pad_token_type_id: int
    side: str  # "right", or "left" for models that read the last token (XLNet)


def plan_batches(
    lengths: np.ndarray, batch_tokens: int = DEFAULT_BATCH_TOKENS, max_rows: int = MAX_BATCH_ROWS
) -> Iterator[np.ndarray]:
    """Row indices per batch, shortest rows first; a batch's padded size (rows x its longest
    row) stays within `batch_tokens` (a single row longer than the budget is its own batch)."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    n = len(order)
    while start < n:
        end = start + 1
        while end < n and end - start < max_rows:
            if (end - start + 1) * int(lengths[order[end]]) > batch_tokens:
                break
            end += 1
        yield order[start:end]
        start = end


def pad_batch(
    ids: list[list[int]], type_ids: list[list[int]] | None, rows: np.ndarray, padding: Padding
) -> dict[str, np.ndarray]:
    """int64 input_ids, attention_mask (and token_type_ids when given) for `rows`."""
    width = max(len(ids[r]) for r in rows)
    shape = (len(rows), width)
    input_ids = np.full(shape, padding.pad_token_id, dtype=np.int64)
    mask = np.zeros(shape, dtype=np.int64)
    types = None if type_ids is None else np.full(shape, padding.pad_token_type_id, np.int64)
    left = padding.side == "left"
    for out, r in enumerate(rows):
        row = ids[r]
        span = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[out, span] = row
        mask[out, span] = 1
        if types is not None:
            types[out, span] = type_ids[r]  # type: ignore[index]
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = types
    return batch
