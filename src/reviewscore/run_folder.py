"""The run folder that `train` writes and `export` reads.

RUN/run.json        what the run is: base model, labels, max length, columns, config,
                    stages completed (so a run can resume)
RUN/model/          model + tokenizer, saved with save_pretrained, and the stage marker
                    (reviewscore_stage.json: the stages the weights hold)
RUN/model.next/     a stage being saved (train/checkpoint.py), before it replaces model/
RUN/valid.csv       the validation rows (id, group, text, label; quoted CSV): export's parity
                    check and benchmarks use the very rows training never saw
RUN/history.json    per step and per validation: losses, accuracy, macro-F1, learning rates
                    (training_history.TrainingHistory)
RUN/metrics.json    final validation metrics, confusion matrix included
RUN/plots/*.png     loss, learning rate, confusion matrix

run.json and the stage marker are defined here, and read and checked here only: a damaged
one is a one-line FolderError naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from reviewscore.data.columns import Columns
from reviewscore.errors import FolderError
from reviewscore.files import read_json, write_json
from reviewscore.json_records import (
    Record,
    is_count,
    is_int,
    is_object,
    is_str,
    is_str_list,
    json_key,
)

RUN_INFO = "run.json"
FORMAT = "reviewscore-run/1"
STAGE_MARK = "reviewscore_stage.json"
REPAIR = "the run folder is damaged: train it again with `reviewscore train`"


COLUMN_ROLES = tuple(item.name for item in fields(Columns))


def _is_columns(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) <= set(COLUMN_ROLES)
        and all(map(is_str, value.values()))
    )


@dataclass(frozen=True)
class RunInfo(Record):
    """run.json. `stages_completed` is the run's commit point (train/checkpoint.py)."""

    repair: ClassVar[str] = REPAIR
    base_model: str = json_key("a model name or path", is_str)
    model_type: str = json_key("a model type", is_str)
    labels: list[str] = json_key(
        "a non-empty list of label names", lambda v: is_str_list(v) and bool(v)
    )
    max_length: int = json_key("a positive integer", lambda v: is_int(v) and v > 0)
    columns: dict[str, str] = json_key(
        f"a mapping of column role ({', '.join(COLUMN_ROLES)}) to name", _is_columns
    )
    config: dict[str, Any] = json_key("a mapping", is_object, default_factory=dict)
    stages_total: int = json_key("a count", is_count, default=0)
    stages_completed: int = json_key("a count", is_count, default=0)
    format: str = json_key(repr(FORMAT), lambda v: v == FORMAT, default=FORMAT)
    # A distilled run's teacher (path, sha256), layers kept, temperature and alpha; absent
    # for a run fine-tuned on labels alone.
    distillation: dict[str, Any] | None = json_key("a mapping", is_object, default=None)


@dataclass(frozen=True)
class StageMark(Record):
    """model/reviewscore_stage.json, written last into a saved stage: how many stages the
    weights beside it hold."""

    repair: ClassVar[str] = REPAIR
    stages_completed: int = json_key("a count", is_count)


def is_run_folder(path: Path) -> bool:
    """Whether `path` is an earlier run (it has run.json), which `train --overwrite` may
    replace; no other non-empty folder may be."""
    return (Path(path) / RUN_INFO).is_file()


@dataclass(frozen=True, init=False)
class RunFolder:
    """The run folder at `path`, given as a Path or a str (`RunFolder("runs/minilm")`)."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def info_path(self) -> Path:
        return self.path / RUN_INFO

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def next_model_dir(self) -> Path:
        """Where a stage is saved before it replaces model/ (train/checkpoint.py)."""
        return self.path / "model.next"

    @property
    def valid_path(self) -> Path:
        return self.path / "valid.csv"

    @property
    def history_path(self) -> Path:
        return self.path / "history.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.json"

    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    def exists(self) -> bool:
        return is_run_folder(self.path)

    def read_info(self) -> RunInfo:
        """run.json, checked, of a run whose model/ holds a saved model."""
        info = self.committed_info()
        if not (self.model_dir / "config.json").is_file():
            raise FolderError(f"{self.path}: model/ has no saved model (config.json missing)")
        return info

    def committed_info(self) -> RunInfo:
        """run.json, checked, whatever model/ holds (a save may be half-way: recovery)."""
        if not self.info_path.is_file():
            raise FolderError(
                f"{self.path} is not a run folder: {RUN_INFO} is missing "
                "(create one with `reviewscore train`)"
            )
        data = read_json(self.info_path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else data
            raise FolderError(f"{self.info_path}: unknown format {found!r}")
        return RunInfo.from_dict(data, self.info_path)

    def write_info(self, info: RunInfo) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.info_path, info.to_dict())

    @staticmethod
    def marked_stage(model_dir: Path) -> int | None:
        """The stages the model saved in `model_dir` holds; None without a marker (a save
        cut short before its marker, or a model not saved by `train`)."""
        mark = model_dir / STAGE_MARK
        if not mark.is_file():
            return None
        return StageMark.from_dict(read_json(mark), mark).stages_completed

    @staticmethod
    def mark_stage(model_dir: Path, stages_completed: int) -> None:
        write_json(model_dir / STAGE_MARK, StageMark(stages_completed).to_dict())
