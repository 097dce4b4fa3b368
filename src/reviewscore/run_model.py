"""Load the model and tokenizer of a run folder, with its checked run.json: the source of
`export` (export/deploy.py), the model of `evaluate` (train/evaluate.py) and the teacher of
`distill` (distill/teacher.py). A resumed `train` loads its model with train/model_load.py.

Imports transformers, so the scorer must never import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reviewscore.progress_bars import transformers_bars_on_terminal_only
from reviewscore.run_folder import RunFolder, RunInfo


@dataclass
class LoadedRun:
    run: RunFolder
    info: RunInfo
    model: Any  # a transformers *ForSequenceClassification, in eval mode
    tokenizer: Any  # a transformers fast tokenizer


def load_run_model(run_dir: str | Path) -> LoadedRun:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    transformers_bars_on_terminal_only()
    run = RunFolder(run_dir)
    info = run.read_info()
    model = AutoModelForSequenceClassification.from_pretrained(run.model_dir)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(run.model_dir)
    return LoadedRun(run=run, info=info, model=model, tokenizer=tokenizer)
