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

from reviewscore.padding import Padding, Ragged, pad_batch

POOL_BATCHES = 50  # a pool holds this many batches: sorted enough, still well mixed


@dataclass(frozen=True)
class EncodedRows:
    """Token ids of each row, unpadded, the labels (None for unlabelled rows), how this
    model pads, and optional per-row soft targets (distillation's teacher logits), which
    ride in each batch as `targets`."""

    ids: Ragged
    labels: np.ndarray | None
    padding: Padding
    targets: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return self.ids.lengths


def encode(
    texts: list[str],
    labels: np.ndarray | None,
    tokenizer,
    max_length: int,
    targets: np.ndarray | None = None,
) -> EncodedRows:
    """One batch call of the fast tokenizer (Rust, multi-threaded), truncating, no padding."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    side = "left" if tokenizer.padding_side == "left" else "right"
    return EncodedRows(Ragged.from_lists(ids), labels, Padding(pad_id, 0, side), targets)


def collate(encoded: EncodedRows, indices: np.ndarray) -> dict[str, torch.Tensor]:
    """Pad the rows at `indices` to their own longest length (left for XLNet-style models)."""
    padded = pad_batch(encoded.ids, None, indices, encoded.padding)
    batch = {name: torch.from_numpy(array) for name, array in padded.items()}
    if encoded.labels is not None:
        batch["labels"] = torch.from_numpy(encoded.labels[indices].astype(np.int64))
    if encoded.targets is not None:
        batch["targets"] = torch.from_numpy(encoded.targets[indices].astype(np.float32))
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
