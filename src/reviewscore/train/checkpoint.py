"""Stage-atomic writes to the run folder, so a killed run resumes from its last whole stage.

A stage is saved into model.next/ (with a stage marker written last), then history.json,
then run.json, whose `stages_completed` is the commit point, then model.next/ replaces
model/ (files.move_into_place: the old one is moved aside, then deleted). `recover`
finishes or discards a save that a crash interrupted at any of those points; the marker
lets resume check that model/ holds the stage run.json claims.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from reviewscore.errors import FolderError
from reviewscore.files import move_into_place, read_json, write_json
from reviewscore.run_folder import RunFolder, RunInfo

STAGE_MARK = "reviewscore_stage.json"


def _next_dir(run: RunFolder) -> Path:
    return run.path / "model.next"


def _marked_stage(model_dir: Path) -> int | None:
    mark = model_dir / STAGE_MARK
    return int(read_json(mark)["stages_completed"]) if mark.is_file() else None


def _promote(run: RunFolder) -> None:
    move_into_place(_next_dir(run), run.model_dir)


def save_stage(
    run: RunFolder, model: Any, tokenizer: Any, info: RunInfo, history: dict[str, Any]
) -> None:
    """Save weights, tokenizer, history and info for `info.stages_completed` stages."""
    staging = _next_dir(run)
    if staging.exists():
        shutil.rmtree(staging)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_json(staging / STAGE_MARK, {"stages_completed": info.stages_completed})
    write_json(run.history_path, history)
    run.write_info(info)
    _promote(run)


def recover(run: RunFolder) -> None:
    """Complete a save that reached its commit point; drop one that did not."""
    staging = _next_dir(run)
    if not staging.exists():
        return
    committed = int(read_json(run.info_path)["stages_completed"])
    if _marked_stage(staging) == committed:
        _promote(run)
    else:
        shutil.rmtree(staging)


def check_model_stage(run: RunFolder, info: RunInfo) -> None:
    marked = _marked_stage(run.model_dir)
    if marked != info.stages_completed:
        raise FolderError(
            f"{run.path}: model/ holds stage {marked} but run.json says "
            f"{info.stages_completed} stages are complete; cannot resume safely"
        )
