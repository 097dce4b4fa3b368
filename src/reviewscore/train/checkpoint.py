"""Stage-atomic writes to the run folder, so a killed run resumes from its last whole stage.

A stage is saved into model.next/ (with a stage marker written last), then history.json,
then run.json, whose `stages_completed` is the commit point, then model.next/ replaces
model/ (files.move_into_place: the old one is moved aside, then deleted). `recover`
finishes or discards a save that a crash interrupted at any of those points; the marker
lets resume check that model/ holds the stage run.json claims.
"""

from __future__ import annotations

import shutil
from typing import Any

from reviewscore.errors import FolderError
from reviewscore.files import follow_umask, move_into_place
from reviewscore.run_folder import RunFolder, RunInfo
from reviewscore.training_history import TrainingHistory


def _promote(run: RunFolder) -> None:
    move_into_place(run.next_model_dir, run.model_dir)


def save_stage(
    run: RunFolder, model: Any, tokenizer: Any, info: RunInfo, history: TrainingHistory
) -> None:
    """Save weights, tokenizer, history and info for `info.stages_completed` stages."""
    staging = run.next_model_dir
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    follow_umask(staging)
    run.mark_stage(staging, info.stages_completed)
    history.save(run.history_path)
    run.write_info(info)
    _promote(run)


def recover(run: RunFolder) -> None:
    """Complete a save that reached its commit point; drop one that did not."""
    staging = run.next_model_dir
    if not staging.exists():
        return
    committed = run.committed_info().stages_completed
    if run.marked_stage(staging) == committed:
        _promote(run)
    else:
        shutil.rmtree(staging)


def check_model_stage(run: RunFolder, info: RunInfo) -> None:
    marked = run.marked_stage(run.model_dir)
    if marked != info.stages_completed:
        raise FolderError(
            f"{run.path}: model/ holds stage {marked} but run.json says "
            f"{info.stages_completed} stages are complete; cannot resume safely"
        )
