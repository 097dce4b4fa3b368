"""Vectorised padding and token-budget batch plans against plain per-row references."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reviewscore.padding import Padding, Ragged, pad_batch
from reviewscore.score.batching import plan_batches


def test_pad_batch_right_and_left():
    ids = Ragged.from_lists([[7, 8, 9], [5]])
    types = Ragged.from_lists([[0, 0, 1], [2]])
    right = pad_batch(ids, types, np.array([0, 1]), Padding(0, 3, "right"))
    assert right["input_ids"].tolist() == [[7, 8, 9], [5, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert right["token_type_ids"].tolist() == [[0, 0, 1], [2, 3, 3]]
    left = pad_batch(ids, None, np.array([1, 0]), Padding(4, 0, "left"))
    assert left["input_ids"].tolist() == [[4, 4, 5], [7, 8, 9]]
    assert "token_type_ids" not in left


ragged_rows = st.lists(st.lists(st.integers(1, 999), min_size=1, max_size=12), min_size=1)


def reference_pad(rows: list[list[int]], pad: int, side: str) -> tuple[list, list]:
    width = max(map(len, rows))
    filler = [[pad] * (width - len(r)) for r in rows]
    zeros = [[0] * (width - len(r)) for r in rows]
    if side == "left":
        ids = [f + r for f, r in zip(filler, rows, strict=True)]
        mask = [z + [1] * len(r) for z, r in zip(zeros, rows, strict=True)]
    else:
        ids = [r + f for f, r in zip(filler, rows, strict=True)]
        mask = [[1] * len(r) + z for z, r in zip(zeros, rows, strict=True)]
    return ids, mask


@given(ragged_rows, st.sampled_from(["left", "right"]), st.randoms(use_true_random=False))
def test_pad_batch_equals_per_row_padding(rows, side, rnd):
    chosen = rnd.sample(range(len(rows)), rnd.randint(1, len(rows)))
    types = [[(t * 7) % 3 for t in r] for r in rows]
    batch = pad_batch(
        Ragged.from_lists(rows),
        Ragged.from_lists(types),
        np.array(chosen),
        Padding(pad_token_id=5000, pad_token_type_id=9, side=side),
    )
    ids, mask = reference_pad([rows[i] for i in chosen], 5000, side)
    expected_types, _ = reference_pad([types[i] for i in chosen], 9, side)
    assert batch["input_ids"].tolist() == ids
    assert batch["attention_mask"].tolist() == mask
    assert batch["token_type_ids"].tolist() == expected_types
    assert {a.dtype for a in batch.values()} == {np.dtype(np.int64)}


@given(
    st.lists(st.integers(1, 80), min_size=1, max_size=300),
    st.integers(1, 600),
    st.integers(1, 64),
)
def test_plan_covers_every_row_once_within_budget_shortest_first(lengths, budget, max_rows):
    lengths = np.array(lengths)
    batches = list(plan_batches(lengths, budget, max_rows))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for rows in batches:
        assert 1 <= len(rows) <= max_rows
        assert len(rows) == 1 or len(rows) * lengths[rows].max() <= budget
    longest = [int(lengths[rows].max()) for rows in batches]
    assert longest == sorted(longest)
    # Greedy: a batch stops only when the next row would break the budget or the row cap.
    for rows, following in pairwise(batches):
        grown = (len(rows) + 1) * lengths[following[0]]
        assert len(rows) == max_rows or grown > budget
