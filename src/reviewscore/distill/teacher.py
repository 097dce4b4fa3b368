"""The teacher: a finished run folder, checked before any row is read, and its identity.

Its soft labels are only meaningful for the label set the data uses, and only reproducible
from the exact weights they came from: run.json records the teacher's path and a hash of
its model folder, and the logits cache is keyed by that hash.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reviewscore.data import Columns, read_reviews
from reviewscore.errors import FolderError, ReviewscoreError
from reviewscore.labels import LABEL_NAMES
from reviewscore.run_folder import RunFolder, RunInfo
from reviewscore.run_model import load_run_model


@dataclass
class Teacher:
    run: RunFolder
    info: RunInfo
    sha256: str  # of model/ (every file's name and bytes), what the soft labels come from
    model: Any  # *ForSequenceClassification, eval mode
    tokenizer: Any

    @property
    def depth(self) -> int:
        return int(self.model.config.num_hidden_layers)


def open_teacher(path: Path) -> Teacher:
    """Load a finished run; FolderError/ReviewscoreError naming what is wrong otherwise."""
    run = RunFolder(path)
    if not run.info_path.is_file():
        raise FolderError(f"teacher {path} is not a run folder (no run.json); train one first")
    info = run.read_info()
    if info.stages_total < 1 or info.stages_completed < info.stages_total:
        raise FolderError(
            f"teacher {path} is not a finished run ({info.stages_completed}/"
            f"{info.stages_total} stages complete); finish it with `reviewscore train "
            "--resume` first"
        )
    if list(info.labels) != list(LABEL_NAMES):
        raise ReviewscoreError(
            f"teacher {path} predicts labels {info.labels}, not this data's "
            f"{list(LABEL_NAMES)}: its soft labels would be read against the wrong classes"
        )
    loaded = load_run_model(run.path)
    check_tokenizer(path, loaded.model, loaded.tokenizer)
    return Teacher(run, info, model_hash(run.model_dir), loaded.model, loaded.tokenizer)


def check_tokenizer(path: Path, model: Any, tokenizer: Any) -> None:
    """A tokenizer whose ids run past the model's embedding rows (a tokenizer swapped into
    model/ from another model) gives index errors or meaningless logits: refuse it."""
    if model.config.num_labels != len(LABEL_NAMES):
        raise ReviewscoreError(
            f"teacher {path} has {model.config.num_labels} outputs, not {len(LABEL_NAMES)}"
        )
    vocab = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > vocab:
        raise ReviewscoreError(
            f"teacher {path}: its tokenizer has {len(tokenizer):,} tokens but the model "
            f"embeds {vocab:,}: the tokenizer does not belong to this model"
        )


def model_hash(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(file.relative_to(model_dir).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def validation_groups(teacher: Teacher, columns: Columns) -> set[str]:
    """Sentences of the teacher's valid.csv: the student never trains on them, so the
    teacher's own validation rows stay a fair comparison of the two."""
    if not teacher.run.valid_path.is_file():
        return set()
    rows = read_reviews(str(teacher.run.valid_path), Columns(**teacher.info.columns))
    if rows.groups is None or columns.group != teacher.info.columns.get("group"):
        return set()
    return set(rows.groups)
