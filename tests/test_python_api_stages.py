"""The training side of the Python API (`reviewscore.train`, `export`, `distill`): the same
folders as the commands, the same options and defaults, and errors as exceptions (a failed
parity gate carries its figures)."""

from __future__ import annotations

import inspect
import json
import pickle
from pathlib import Path

import pytest

import reviewscore
from cli_runner import reviewscore as run_reviewscore
from reviewscore.deploy_folder import MANIFEST, Manifest
from reviewscore.run_folder import RunFolder, RunInfo
from reviewscore.train.config import TrainOptions
from tiny_models import keyword_rows, make_run, write_toy_tsv

# Measured times of a run: the only entries two identical trainings may differ in.
TIMES = {"train_seconds", "phrases_per_second", "teacher_logits_seconds"}
TRAIN = {"max_length": 48, "lr": 5e-3, "epochs": 2, "seed": 3, "device": "cpu"}


def flags(options: dict) -> list[str]:
    return [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]


def without_times(value):
    """A run's JSON with its measured durations taken out."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def assert_same_run(api: Path, cli: Path) -> None:
    """Every file equal byte for byte (weights, tokenizer, valid.csv, plots), but for the
    durations in the JSON records."""
    files = sorted(p.relative_to(api) for p in api.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(cli) for p in cli.rglob("*") if p.is_file())
    for name in files:
        ours, theirs = (api / name).read_bytes(), (cli / name).read_bytes()
        if name.suffix == ".json" and name.name in ("history.json", "metrics.json", "run.json"):
            assert without_times(json.loads(ours)) == without_times(json.loads(theirs)), name
        else:
            assert ours == theirs, name


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """The same tiny training through the API and through the command."""
    root = tmp_path_factory.mktemp("stages")
    run = reviewscore.train(
        tiny / "toy.tsv", root / "api", model=str(tiny / "tiny"), echo=lambda _: None, **TRAIN
    )
    return root, run


def test_train_gives_the_folder_the_command_gives(tiny, trained, monkeypatch, capsys):
    root, run = trained
    assert isinstance(run, RunFolder) and run.path == root / "api"
    info = run.read_info()
    assert isinstance(info, RunInfo) and info.stages_completed == info.stages_total == 1
    assert info.config["lr"] == 5e-3 and info.config["recipe"] == "plain"
    args = ["train", "--data", tiny / "toy.tsv", "--out", root / "cli", "--model", tiny / "tiny"]
    code, _, err = run_reviewscore(monkeypatch, capsys, *args, *flags(TRAIN))
    assert code == 0, err
    assert_same_run(root / "api", root / "cli")


def test_export_gives_the_folder_the_command_gives(trained, monkeypatch, capsys):
    root, run = trained
    lines: list[str] = []
    manifest = reviewscore.export(
        run.path, root / "deploy-api", quantize="int8-static", echo=lines.append
    )
    assert not [line for line in lines if "deprecated" in line]
    assert isinstance(manifest, Manifest) and manifest.path == root / "deploy-api" / MANIFEST
    assert set(manifest.variants) == {"fp32", "int8-static"} and manifest.parity_passed
    # the old spelling of the variant's name still works, with a one-line note
    args = ["export", run.path, "--out", root / "deploy-cli", "--quantize", "static-int8"]
    code, _, err = run_reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "note: quantize 'static-int8' is deprecated; use 'int8-static'" in err
    for path in sorted((root / "deploy-api").iterdir()):
        assert path.read_bytes() == (root / "deploy-cli" / path.name).read_bytes(), path.name


def test_a_failed_gate_raises_the_parity_error_with_its_figures(trained):
    root, run = trained
    out = root / "deploy-strict"
    with pytest.raises(reviewscore.ParityError, match="max abs logit difference") as failed:
        reviewscore.export(run.path, out, max_logit_diff=1e-15, echo=lambda _: None)
    error = failed.value
    assert error.exit_code == 3 and isinstance(error, reviewscore.ReviewscoreError)
    figures = error.figures["fp32"]
    assert not figures.passed and figures.max_abs_logit_diff > 1e-15
    assert figures.failures and figures.failures[0].startswith("max abs logit difference")
    assert isinstance(error.report, Manifest) and error.report.parity_passed is False
    on_disk = json.loads((out / MANIFEST).read_text())
    assert on_disk["parity"]["fp32"]["max_abs_logit_diff"] == figures.max_abs_logit_diff
    copied = pickle.loads(pickle.dumps(error))  # as Ray or multiprocessing hand it back
    assert copied.figures == error.figures and str(copied) == str(error)


def test_train_takes_a_typed_options_object_and_refuses_unknown_names(tiny, trained, tmp_path):
    _, run = trained
    options = TrainOptions(model=str(tiny / "tiny"), lr=5e-3, epochs=2, seed=3, max_length=48)
    again = reviewscore.train(
        tiny / "toy.tsv", tmp_path / "typed", options, device="cpu", echo=lambda _: None
    )
    assert_same_run(again.path, run.path)
    with pytest.raises(TypeError, match="learning_rate"):
        reviewscore.train(tiny / "toy.tsv", tmp_path / "x", learning_rate=1e-3)
    with pytest.raises(reviewscore.UsageError, match="--data is required"):
        reviewscore.train(None, tmp_path / "x")
    with pytest.raises(reviewscore.ReviewscoreError, match="drop --epochs, --lr"):
        reviewscore.train(None, run.path, resume=True, lr=1.0, epochs=2)
    with pytest.raises(reviewscore.UsageError, match="unknown quantize 'int4'"):
        reviewscore.export(run.path, tmp_path / "d", quantize=["int4"])
    assert not (tmp_path / "x").exists() and not (tmp_path / "d").exists()


def test_distill_gives_the_folder_the_command_gives(tmp_path, monkeypatch, capsys):
    make_run(tmp_path / "teacher", trained=True)
    data = write_toy_tsv(tmp_path / "data.tsv", 300, seed=7, rows=keyword_rows)
    options = {"lr": 3e-3, "seed": 1, "epochs": 1, "device": "cpu"}
    student = reviewscore.distill(
        tmp_path / "teacher", data, tmp_path / "api", layers=1, echo=lambda _: None, **options
    )
    assert student.read_info().distillation["layers_kept"] == [0]
    args = ["distill", tmp_path / "teacher", "--data", data, "--out", tmp_path / "cli"]
    code, _, err = run_reviewscore(monkeypatch, capsys, *args, "--layers", 1, *flags(options))
    assert code == 0, err
    assert_same_run(tmp_path / "api", tmp_path / "cli")
    with pytest.raises(TypeError, match="unfreeze"):
        reviewscore.distill(tmp_path / "teacher", data, tmp_path / "x", layers=1, unfreeze="1")


def test_the_stage_packages_are_called_as_their_functions():
    import reviewscore.train.loop  # a submodule still imports: the package is the attribute

    assert reviewscore.train.loop.LOG_EVERY > 0
    for name in ("train", "export", "distill"):
        signature = inspect.signature(getattr(reviewscore, name))
        assert "out" in signature.parameters and "echo" in signature.parameters
    assert inspect.signature(reviewscore.export).parameters["optimize"].default == "fusions"


def test_the_commands_take_their_defaults_from_the_stages_options():
    from reviewscore.cli import distill_command, export_command
    from reviewscore.deploy_folder import Thresholds
    from reviewscore.distill.options import DistillOptions
    from reviewscore.export.deploy import ExportOptions

    exported = {p.name: p.default for p in export_command.params}
    api = inspect.signature(reviewscore.export).parameters
    for name in ("optimize", "default_variant", "opset", "check", "parity_rows", "min_agreement"):
        assert exported[name] == api[name].default, name
    assert exported["max_logit_diff"] == Thresholds().max_abs_logit_diff
    assert exported["calibration_rows"] == ExportOptions().calibration_rows
    distilled = {p.name: p.default for p in distill_command.params}
    defaults = DistillOptions(teacher=Path("t"))
    assert (distilled["keep"], distilled["temperature"], distilled["alpha"]) == (
        defaults.keep,
        defaults.temperature,
        defaults.alpha,
    )
