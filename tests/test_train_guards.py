"""`reviewscore train` refuses to save a model that learned nothing: non-finite options, a
loss gone non-finite, one-class data; and its notices go to stderr, not stdout."""

from __future__ import annotations

import json

import pytest

from cli_runner import reviewscore
from tiny_models import toy_rows


def train_args(tiny, out, data=None, *extra: object) -> tuple:
    return (
        "train", "--data", data or tiny / "toy.tsv", "--out", out, "--model", tiny / "tiny",
        "--max-length", "48", *extra,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("option", "value"),
    [("--lr", "inf"), ("--lr", "nan"), ("--epochs", "inf"), ("--weight-decay", "nan")],
)
def test_non_finite_options_are_refused(tiny, monkeypatch, capsys, option, value):
    out = tiny / "never"
    code, _, err = reviewscore(monkeypatch, capsys, *train_args(tiny, out, None, option, value))
    assert code == 1
    assert err.splitlines() == [f"error: {option} must be a finite number, not {value}"]
    assert not out.exists()


def test_lr_find_refuses_a_non_finite_range(tiny, monkeypatch, capsys):
    args = ("lr-find", "--data", tiny / "toy.tsv", "--out", tiny / "lr", "--end-lr", "inf")
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 1
    assert err.splitlines() == [
        "error: --start-lr and --end-lr must be finite, positive and rising, not 1e-07 and inf"
    ]


def test_a_loss_gone_non_finite_stops_training_before_the_stage_is_saved(tiny, monkeypatch, capsys):
    out = tiny / "diverged"
    args = train_args(tiny, out, None, "--lr", "1e30", "--warmup", "0")
    code, stdout, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 1
    last = err.splitlines()[-1]
    assert last.startswith("error: training diverged: the loss is nan at stage 1, step ")
    assert last.endswith("the stage was not saved; try a lower --lr (this run: 1e+30)")
    assert "epoch 1:" not in stdout
    assert json.loads((out / "run.json").read_text())["stages_completed"] == 0
    assert not (out / "metrics.json").exists()


def test_one_class_data_is_refused_naming_file_and_label(tiny, monkeypatch, capsys):
    data = tiny / "one_class.tsv"
    lines = [f"{pid}\t{sid}\t{text}\t4" for pid, sid, text, _ in toy_rows(200, seed=3)]
    data.write_text("PhraseId\tSentenceId\tPhrase\tSentiment\n" + "\n".join(lines) + "\n")
    code, _, err = reviewscore(monkeypatch, capsys, *train_args(tiny, tiny / "one", data))
    assert code == 1
    assert err.splitlines()[-1].startswith(f"error: {data}: all ")
    assert err.splitlines()[-1].endswith(
        "training rows have label 4 (positive); training a classifier needs at least 2 classes"
    )
    assert not (tiny / "one").exists()


def test_notices_go_to_stderr_and_small_validation_is_warned(tiny, monkeypatch, capsys):
    data = tiny / "no_groups.tsv"
    lines = [f"{pid}\t{text}\t{label}" for pid, _, text, label in toy_rows(200, seed=4)]
    data.write_text("PhraseId\tPhrase\tSentiment\n" + "\n".join(lines) + "\n")
    args = train_args(tiny, tiny / "small", data, "--epochs", "0.1")
    code, stdout, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "train 180 rows, validation 20 rows" in stdout
    assert "random row split" not in stdout and "warning" not in stdout
    assert "no 'SentenceId' column: validation rows are a random row split" in err
    assert "warning: validation has only 20 row(s), so its accuracy is mostly noise" in err
