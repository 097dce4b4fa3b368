"""A run folder's history.json: what `train` logged at every optimizer step and validation.

The training loop adds to it and saves it with each stage (train/checkpoint.py); a resumed
run reads it back; the plots and bench/train_compare.py read it. Typed like run.json
(json_records.py), so a damaged file is a one-line FolderError naming the file and the
field, not a KeyError inside the plots.

Kept free of torch: benches and tools read it without the training stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from reviewscore.files import read_json, write_json
from reviewscore.json_records import (
    Record,
    dump_records,
    is_count,
    is_int,
    is_number,
    is_str,
    json_key,
    records_of,
)
from reviewscore.run_folder import REPAIR


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_matrix(value: Any) -> bool:
    return _is_list(value) and all(_is_list(row) and all(map(is_int, row)) for row in value)


@dataclass(frozen=True)
class StepRecord(Record):
    """One optimizer step: its training loss, and the rates and momentum it ran with (the
    head's group and the lowest trained group)."""

    repair: ClassVar[str] = REPAIR
    stage: int = json_key("a count", is_count)
    step: int = json_key("a count", is_count)
    loss: float = json_key("a number", is_number)
    lr: float = json_key("a number", is_number)
    lr_bottom: float = json_key("a number", is_number)
    beta1: float = json_key("a number", is_number)


@dataclass(frozen=True)
class EpochRecord(Record):
    """One validation, after each whole or fractional epoch of a stage."""

    repair: ClassVar[str] = REPAIR
    stage: int = json_key("a count", is_count)
    unfreeze: str = json_key("an --unfreeze setting", is_str)
    epoch: int = json_key("a count", is_count)
    step: int = json_key("a count", is_count)
    train_loss: float = json_key("a number", is_number)
    valid_loss: float = json_key("a number", is_number)
    accuracy: float = json_key("a number", is_number)
    macro_f1: float = json_key("a number", is_number)
    train_seconds: float = json_key("a number", is_number)
    phrases_per_second: float = json_key("a number", is_number)
    confusion: list[list[int]] = json_key("a matrix of counts", _is_matrix)


@dataclass(frozen=True)
class TrainingHistory(Record):
    """history.json: the validations, then the steps, each in the order they ran."""

    repair: ClassVar[str] = REPAIR
    epochs: tuple[EpochRecord, ...] = json_key(
        "a list of validations", _is_list, load=records_of(EpochRecord), dump=dump_records
    )
    steps: tuple[StepRecord, ...] = json_key(
        "a list of steps", _is_list, load=records_of(StepRecord), dump=dump_records
    )

    @classmethod
    def empty(cls) -> TrainingHistory:
        return cls(epochs=(), steps=())

    @classmethod
    def load(cls, path: Path) -> TrainingHistory:
        return cls.from_dict(read_json(path), path)

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    def before_stage(self, stage: int) -> TrainingHistory:
        """The rows of the stages before `stage`: what a resume keeps of a history that a
        crash left past the run's last committed stage."""
        return replace(
            self,
            epochs=tuple(e for e in self.epochs if e.stage < stage),
            steps=tuple(s for s in self.steps if s.stage < stage),
        )

    def with_steps(self, steps: Iterable[StepRecord]) -> TrainingHistory:
        return replace(self, steps=self.steps + tuple(steps))

    def with_epoch(self, epoch: EpochRecord) -> TrainingHistory:
        return replace(self, epochs=(*self.epochs, epoch))
