"""history.json as a typed record (training_history.TrainingHistory): it writes the bytes the
loop always wrote, reads back what it wrote, keeps only committed stages on resume, and a
damaged file is one error line naming the file and the field."""

from __future__ import annotations

import json

import pytest

from reviewscore.errors import FolderError
from reviewscore.training_history import EpochRecord, StepRecord, TrainingHistory


def step(stage: int, step: int) -> StepRecord:
    return StepRecord(stage=stage, step=step, loss=1.5 - step / 10, lr=1e-3, lr_bottom=2.5e-4,
                      beta1=0.95)  # fmt: skip


def epoch(stage: int, step: int) -> EpochRecord:
    return EpochRecord(stage=stage, unfreeze="all", epoch=0, step=step, train_loss=1.25,
                       valid_loss=1.0, accuracy=0.5, macro_f1=0.375, train_seconds=2.0,
                       phrases_per_second=64.0, confusion=[[1, 0], [1, 2]])  # fmt: skip


def history() -> TrainingHistory:
    return (
        TrainingHistory.empty()
        .with_steps([step(0, 0), step(0, 1)])
        .with_epoch(epoch(0, 2))
        .with_steps([step(1, 2)])
        .with_epoch(epoch(1, 3))
    )


def test_it_writes_the_keys_in_the_order_the_loop_always_wrote(tmp_path):
    """Epochs, then steps; each row's keys in the order of the dicts the loop once built."""
    path = tmp_path / "history.json"
    history().save(path)
    data = json.loads(path.read_text())
    assert list(data) == ["epochs", "steps"]
    assert list(data["steps"][0]) == ["stage", "step", "loss", "lr", "lr_bottom", "beta1"]
    assert list(data["epochs"][0]) == [
        "stage", "unfreeze", "epoch", "step", "train_loss", "valid_loss", "accuracy",
        "macro_f1", "train_seconds", "phrases_per_second", "confusion",
    ]  # fmt: skip
    assert path.read_text() == json.dumps(data, indent=2) + "\n"
    assert [s["step"] for s in data["steps"]] == [0, 1, 2]


def test_it_reads_back_what_it_wrote_and_keeps_unknown_keys(tmp_path):
    path = tmp_path / "history.json"
    history().save(path)
    data = json.loads(path.read_text())
    data["steps"][0]["grad_norm"] = 0.5  # as a newer `train` might log
    path.write_text(json.dumps(data, indent=2) + "\n")
    loaded = TrainingHistory.load(path)
    assert loaded.steps[1] == step(0, 1) and loaded.epochs[1] == epoch(1, 3)
    loaded.save(path)
    assert json.loads(path.read_text()) == data


def test_before_stage_keeps_the_committed_stages_only():
    kept = history().before_stage(1)
    assert [s.step for s in kept.steps] == [0, 1]
    assert [e.stage for e in kept.epochs] == [0]
    assert history().before_stage(2) == history()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["steps"][1].update(loss="nan"), "'steps.1.loss' must be a number, not 'nan'"),
        (lambda d: d["epochs"][0].pop("valid_loss"), "no 'epochs.0.valid_loss'"),
        (lambda d: d["epochs"][1].update(confusion=[[1.5]]), "'epochs.1.confusion' must be a ma"),
        (lambda d: d.update(steps={}), "'steps' must be a list of steps, not {}"),
    ],
)
def test_a_damaged_history_is_one_line_naming_the_file_and_the_field(tmp_path, edit, message):
    path = tmp_path / "history.json"
    data = history().to_dict()
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(FolderError) as raised:
        TrainingHistory.load(path)
    assert str(raised.value).startswith(f"{path}: {message}")
    assert str(raised.value).endswith("train it again with `reviewscore train`")
    assert "\n" not in str(raised.value)
