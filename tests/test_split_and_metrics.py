"""The grouped split never leaks a sentence; metrics match their definitions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewscore.data import split_train_valid
from reviewscore.metrics import classification_metrics, format_metrics


@settings(max_examples=50, deadline=None)
@given(
    groups=st.lists(st.integers(0, 30), min_size=2, max_size=200),
    fraction=st.floats(0.05, 0.5),
    seed=st.integers(0, 1000),
)
def test_grouped_split_never_leaks_a_group(groups, fraction, seed):
    labels = [str(g) for g in groups]
    split = split_train_valid(len(labels), labels, fraction, seed)
    assert split.grouped
    train_groups = {labels[i] for i in split.train}
    valid_groups = {labels[i] for i in split.valid}
    assert not train_groups & valid_groups
    assert sorted(np.concatenate([split.train, split.valid]).tolist()) == list(range(len(labels)))


def test_split_is_seeded_and_random_without_groups():
    a = split_train_valid(100, None, 0.2, seed=3)
    b = split_train_valid(100, None, 0.2, seed=3)
    c = split_train_valid(100, None, 0.2, seed=4)
    assert not a.grouped and len(a.valid) == 20
    np.testing.assert_array_equal(a.valid, b.valid)
    assert not np.array_equal(a.valid, c.valid)


def test_metrics_agree_with_hand_computed_values():
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 3, 4, 4])
    preds = np.array([0, 1, 1, 1, 2, 2, 3, 3, 4, 3])
    m = classification_metrics(labels, preds)
    assert m.accuracy == 0.7
    assert m.confusion[0] == [1, 1, 0, 0, 0] and m.confusion[4] == [0, 0, 0, 1, 1]
    # per-class F1 from precision p and recall r:
    # 0: p1 r.5 -> 2/3; 1: p2/3 r1 -> .8; 2: p1 r2/3 -> .8; 3: p1/3 r1 -> .5; 4: p1 r.5 -> 2/3
    assert abs(m.macro_f1 - np.mean([2 / 3, 0.8, 0.8, 0.5, 2 / 3])) < 1e-12
    assert "accuracy 0.7000" in format_metrics(m)
