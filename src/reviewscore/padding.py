"""Dynamic padding, vectorised: the one implementation the scorer and the trainer share.

Token ids live in one flat int64 array per set of rows (`Ragged`), so a padded batch is
built with a handful of numpy gathers instead of a Python loop over its rows and tokens.
numpy only: the scorer imports this and must never import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np


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
