"""The run folder that `train` writes and `export` reads.

RUN/run.json        what the run is: base model, labels, max length, columns, config,
                    stages completed (so a run can resume)
RUN/model/          model + tokenizer, saved with save_pretrained
RUN/valid.csv       the validation rows (id, group, text, label; quoted CSV): export's parity
                    check and benchmarks use the very rows training never saw
RUN/history.json    per stage and epoch: losses, accuracy, macro-F1, learning rates
RUN/metrics.json    final validation metrics, confusion matrix included
RUN/plots/*.png     loss, learning rate, confusion matrix
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reviewscore.errors import FolderError
from reviewscore.files import read_json, write_json

RUN_INFO = "run.json"
FORMAT = "reviewscore-run/1"


@dataclass
class RunInfo:
    base_model: str
    model_type: str
    labels: list[str]
    max_length: int
    columns: dict[str, str]
    config: dict[str, Any] = field(default_factory=dict)
    stages_total: int = 0
    stages_completed: int = 0
    format: str = FORMAT
    # A distilled run's teacher (path, sha256), layers kept, temperature and alpha; None
    # for a run fine-tuned on labels alone.
    distillation: dict[str, Any] | None = None


def is_run_folder(path: Path) -> bool:
    """Whether `path` is an earlier run (it has run.json), which `train --overwrite` may
    replace; no other non-empty folder may be."""
    return (Path(path) / RUN_INFO).is_file()


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def info_path(self) -> Path:
        return self.path / RUN_INFO

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

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
        if not self.info_path.is_file():
            raise FolderError(
                f"{self.path} is not a run folder: {RUN_INFO} is missing "
                "(create one with `reviewscore train`)"
            )
        data = read_json(self.info_path)
        if data.get("format") != FORMAT:
            raise FolderError(f"{self.info_path}: unknown format {data.get('format')!r}")
        if not (self.model_dir / "config.json").is_file():
            raise FolderError(f"{self.path}: model/ has no saved model (config.json missing)")
        return RunInfo(**data)

    def write_info(self, info: RunInfo) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.info_path, asdict(info))
