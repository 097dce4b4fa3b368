"""Training data preparation (grouped split through train's own path, whole-sentence
subsets) and batching (length buckets, dynamic padding, a stream that resumes exactly)."""

from __future__ import annotations

import numpy as np
import pytest

from reviewscore.data import Columns
from reviewscore.train.batching import (
    EncodedRows,
    batch_stream,
    batches_per_epoch,
    bucketed_batches,
    collate,
    encode,
)
from reviewscore.train.data_prep import prepare_data
from tiny_models import make_tokenizer, write_toy_tsv


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return str(write_toy_tsv(tmp_path_factory.mktemp("data") / "toy.tsv", 900, seed=3))


def test_prepared_split_never_leaks_a_sentence_and_limits_keep_validation(toy):
    full = prepare_data(toy, Columns(), valid_fraction=0.2, seed=5)
    assert full.grouped
    assert not set(full.train.groups) & set(full.valid.groups)
    assert len(full.train) + len(full.valid) == 900

    limited = prepare_data(toy, Columns(), valid_fraction=0.2, seed=5, limit_rows=100)
    assert limited.valid.ids == full.valid.ids  # the subset never moves validation rows
    assert 90 < len(limited.train) <= 100
    train_groups = set(limited.train.groups)
    assert not train_groups & set(limited.valid.groups)
    whole = set(full.train.groups)
    for group in train_groups:  # whole sentences only
        assert limited.train.groups.count(group) == full.train.groups.count(group)
        assert group in whole
    again = prepare_data(toy, Columns(), valid_fraction=0.2, seed=5, limit_rows=100)
    assert again.train.ids == limited.train.ids


def test_without_group_column_the_split_is_random(tmp_path):
    path = tmp_path / "nogroup.tsv"
    path.write_text("Phrase\tSentiment\n" + "".join(f"w{i}\t{i % 5}\n" for i in range(50)))
    data = prepare_data(str(path), Columns(), valid_fraction=0.2, seed=0)
    assert not data.grouped and len(data.valid) == 10


def test_bucketed_epoch_covers_each_row_once_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=5000)
    batches = bucketed_batches(lengths, 32, np.random.default_rng(1))
    assert len(batches) == batches_per_epoch(5000, 32)
    assert sorted(np.concatenate(batches).tolist()) == list(range(5000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    random_order = rng.permutation(5000)
    padded_random = sum(lengths[random_order[i : i + 32]].max() * 32 for i in range(0, 5000, 32))
    assert padded < 0.6 * padded_random
    sizes = [len(b) for b in batches]  # batch order shuffled: short and long ones mixed
    first_lengths = [lengths[b].mean() for b in batches[:20]]
    assert max(first_lengths) - min(first_lengths) > 10 and max(sizes) == 32


def test_stream_resumes_at_any_batch():
    lengths = np.random.default_rng(0).integers(3, 30, size=300)
    stream = batch_stream(lengths, 16, seed=7)
    straight = [next(stream) for _ in range(50)]
    resumed = batch_stream(lengths, 16, seed=7, start=23)
    for expected in straight[23:]:
        np.testing.assert_array_equal(next(resumed), expected)
    per_epoch = batches_per_epoch(300, 16)
    assert sorted(np.concatenate(straight[:per_epoch]).tolist()) == list(range(300))


@pytest.mark.parametrize("side", ["right", "left"])
def test_collate_pads_each_batch_to_its_own_longest_row(side):
    tokenizer = make_tokenizer(padding_side=side)
    encoded = encode(["good film", "the plot was very dull and boring", "fun"], None, tokenizer, 48)
    assert isinstance(encoded, EncodedRows) and encoded.padding.side == side
    batch = collate(encoded, np.array([0, 2]))
    assert batch["input_ids"].shape == (2, 4)  # [CLS] good film [SEP]; no global max length
    assert batch["attention_mask"].sum().item() == 4 + 3
    pad_column = 0 if side == "left" else -1
    assert batch["input_ids"][1, pad_column].item() == tokenizer.pad_token_id
    assert "labels" not in batch
    truncated = encode(["good " * 100], np.array([1]), tokenizer, 10)
    assert truncated.lengths[0] == 10
