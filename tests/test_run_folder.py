"""The run folder's one definition (run_folder.RunInfo, the stage marker): run.json reads
and writes back unchanged, keys a newer `train` wrote survive, and a damaged run.json or
stage marker is one error line naming the file and the field (from the CLI too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import reviewscore
from reviewscore.errors import FolderError
from reviewscore.run_folder import RUN_INFO, STAGE_MARK, RunFolder, RunInfo
from reviewscore.train.checkpoint import recover
from tiny_models import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> RunFolder:
    return make_run(tmp_path_factory.mktemp("run-folder") / "run", "bert")


def edited_copy(run: RunFolder, tmp_path: Path, **changes: object) -> RunFolder:
    """A run folder sharing `run`'s model, whose run.json got `changes`."""
    copy = RunFolder(tmp_path / "run")
    copy.path.mkdir()
    (copy.path / "model").symlink_to(run.model_dir)
    data = json.loads(run.info_path.read_text())
    data.update(changes)
    copy.info_path.write_text(json.dumps(data))
    return copy


def test_run_json_round_trips_unchanged(run, tmp_path):
    text = run.info_path.read_text()
    info = run.read_info()
    assert info.to_dict() == json.loads(text)
    assert info.labels[0] == "negative" and info.stages_completed == info.stages_total == 1
    copy = RunFolder(tmp_path)
    copy.write_info(info)
    assert copy.info_path.read_text() == text


def test_a_str_path_opens_the_same_run_folder(run, monkeypatch):
    monkeypatch.chdir(run.path.parent)
    folder = RunFolder(run.path.name)
    assert isinstance(folder.path, Path) and folder == RunFolder(Path(run.path.name))
    assert folder.history_path == Path(run.path.name) / "history.json"
    assert folder.read_info() == run.read_info()


def test_keys_a_newer_train_wrote_are_kept(run, tmp_path):
    pruned = {"heads_kept": 8, "method": "magnitude"}
    copy = edited_copy(run, tmp_path, pruning=pruned)
    info = copy.read_info()
    assert info.extra == {"pruning": pruned}
    copy.write_info(info)
    assert json.loads(copy.info_path.read_text())["pruning"] == pruned


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_length": "48"}, "'max_length' must be a positive integer, not '48'"),
        ({"labels": []}, "'labels' must be a non-empty list of label names, not []"),
        ({"stages_completed": -1}, "'stages_completed' must be a count, not -1"),
        ({"columns": ["Phrase"]}, "'columns' must be a mapping of column role (text, label,"),
        ({"columns": {"txt": "Phrase"}}, "'columns' must be a mapping of column role (text,"),
        ({"base_model": None}, "'base_model' must be a model name or path, not None"),
    ],
)
def test_a_damaged_run_json_is_one_line_naming_the_file_and_the_field(
    run, tmp_path, monkeypatch, capsys, changes, message
):
    copy = edited_copy(run, tmp_path, **changes)
    with pytest.raises(FolderError) as raised:
        copy.read_info()
    assert str(raised.value).startswith(f"{copy.path / RUN_INFO}: {message}")
    assert "\n" not in str(raised.value)

    code, out, err = reviewscore(monkeypatch, capsys, "export", copy.path, "--out", tmp_path / "d")
    assert code == 1 and out == ""
    assert err.splitlines() == [f"error: {raised.value}"]
    assert not (tmp_path / "d").exists()


def test_a_missing_field_and_a_run_json_that_is_not_an_object(run, tmp_path):
    copy = edited_copy(run, tmp_path)
    data = json.loads(copy.info_path.read_text())
    del data["model_type"]
    copy.info_path.write_text(json.dumps(data))
    with pytest.raises(FolderError, match=r"run\.json: no 'model_type'; the run folder is dam"):
        copy.read_info()
    copy.info_path.write_text("[1, 2]")
    with pytest.raises(FolderError, match=r"run\.json: unknown format \[1, 2\]"):
        copy.read_info()


def test_a_damaged_stage_marker_is_named_not_a_key_error(run, tmp_path):
    copy = edited_copy(run, tmp_path)
    staging = copy.next_model_dir
    staging.mkdir()
    (staging / STAGE_MARK).write_text('{"stages": 1}')
    with pytest.raises(FolderError, match=f"{staging / STAGE_MARK}: no 'stages_completed'"):
        recover(copy)
    (staging / STAGE_MARK).write_text('{"stages_completed": "1"}')
    with pytest.raises(FolderError, match="'stages_completed' must be a count, not '1'"):
        recover(copy)
    RunFolder.mark_stage(staging, 1)
    assert RunFolder.marked_stage(staging) == 1
    assert json.loads((staging / STAGE_MARK).read_text()) == {"stages_completed": 1}


def test_run_info_built_in_code_writes_what_it_always_wrote(tmp_path):
    """The positional form bench/ uses, and the key order of every run.json so far."""
    info = RunInfo("minilm", "bert", ["a", "b"], 128, {"text": "Phrase"}, {}, 1, 1)
    assert list(info.to_dict()) == [
        "base_model",
        "model_type",
        "labels",
        "max_length",
        "columns",
        "config",
        "stages_total",
        "stages_completed",
        "format",
    ]
