"""Tokenise once, then length-bucketed batches with dynamic padding.

Phrases are mostly a few tokens and sentences up to ~60: padding every batch to the longest
sentence would multiply the work several times (field notes: sorting cut padding from
708k to 189k tokens). Training batches follow fastai's "sortish" sampler: shuffle, sort by
length within large pools, cut into batches, shuffle the batch order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

POOL_BATCHES = 50  # a pool holds this many batches: sorted enough, still well mixed


@dataclass
class Encoded:
    """Token ids of each row, unpadded, and the labels (None for unlabelled rows)."""

    ids: list[list[int]]
    labels: np.ndarray | None
    pad_id: int
    pad_left: bool

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(i) for i in self.ids), dtype=np.int64, count=len(self.ids))


def encode(texts: list[str], labels: np.ndarray | None, tokenizer, max_length: int) -> Encoded:
    """One batch call of the fast tokenizer (Rust, multi-threaded), truncating, no padding."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return Encoded(ids, labels, pad_id, tokenizer.padding_side == "left")


def collate(encoded: Encoded, indices: np.ndarray) -> dict[str, torch.Tensor]:
    """Pad the rows at `indices` to their own longest length (left for XLNet-style models)."""
    rows = [encoded.ids[i] for i in indices]
    width = max(len(r) for r in rows)
    input_ids = np.full((len(rows), width), encoded.pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        span = slice(width - len(row), width) if encoded.pad_left else slice(0, len(row))
        input_ids[r, span] = row
        mask[r, span] = 1
    batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if encoded.labels is not None:
        batch["labels"] = torch.from_numpy(encoded.labels[indices].astype(np.int64))
    return batch


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator):
    """One epoch's batches (index arrays): shuffled, sorted by length within pools of
    POOL_BATCHES batches, batched, batch order shuffled."""
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def batches_per_epoch(n_rows: int, batch_size: int) -> int:
    pool = batch_size * POOL_BATCHES
    full, rest = divmod(n_rows, pool)
    return full * POOL_BATCHES + -(-rest // batch_size)


def batch_stream(
    lengths: np.ndarray, batch_size: int, seed: int, start: int = 0
) -> Iterator[np.ndarray]:
    """An endless stream of batches, epoch after epoch, from global batch number `start`.

    Epoch e's order depends only on (seed, e), so stages that each take a fraction of an
    epoch walk through the data without repeats, and a resumed run sees the same batches
    the uninterrupted run would have."""
    per_epoch = batches_per_epoch(len(lengths), batch_size)
    epoch, offset = divmod(start, per_epoch)
    while True:
        batches = bucketed_batches(lengths, batch_size, np.random.default_rng([seed, epoch]))
        yield from batches[offset:]
        epoch, offset = epoch + 1, 0


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Inference batches: sorted by length (least padding); callers restore the order."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
