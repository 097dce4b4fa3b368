"""`reviewscore distill`, top to bottom: check the teacher and --out, read and split the
data as `train` does, get the teacher's logits for the training rows (once), build the
student, then hand over to the train loop with the distillation loss."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reviewscore.data import Columns
from reviewscore.distill.loss import make_loss_fn
from reviewscore.distill.options import DistillOptions
from reviewscore.distill.soft_targets import teacher_logits
from reviewscore.distill.student import kept_layers, truncated_copy
from reviewscore.distill.teacher import Teacher, open_teacher, validation_groups
from reviewscore.errors import DataError
from reviewscore.run_folder import RunFolder
from reviewscore.train.config import TrainConfig
from reviewscore.train.data_prep import TrainData, check_classes
from reviewscore.train.loop import Start, load_data, open_run, print_to_stderr, train
from reviewscore.train.model_load import load_model, resolve_model
from reviewscore.train.precision import pick_precision


def distill(
    config: TrainConfig,
    options: DistillOptions,
    out: Path,
    *,
    overwrite: bool = False,
    device: str = "auto",
    echo: Callable[[str], None] = print,
    notice: Callable[[str], None] = print_to_stderr,
) -> RunFolder:
    """Distill `options.teacher` into a new run folder `out` (config: the student's
    training settings, `model` and `max_length` taken from the teacher with --layers)."""
    options.check()
    if options.student is not None:  # a name that cannot load fails now, not after the teacher
        resolve_model(options.student)
    teacher = open_teacher(options.teacher)
    keep = None
    if options.layers is not None:
        keep = kept_layers(teacher.depth, options.layers, options.keep)
        config = dataclasses.replace(
            config,
            model=str(teacher.run.model_dir.resolve()),
            max_length=teacher.info.max_length,
        )
    else:
        config = dataclasses.replace(config, model=options.student)
    # refuse a bad --out now: never inside the teacher's run folder (nor data, nor student)
    inputs = (teacher.run.path,)
    open_run(Path(out), config, resume=False, overwrite=overwrite, inputs=inputs)

    columns = Columns(**config.columns)
    data = without_groups(load_data(config, columns), validation_groups(teacher, columns), notice)
    precision = pick_precision(device)
    echo(
        f"teacher {options.teacher} ({teacher.depth} layers): logits for "
        f"{len(data.train):,} training rows"
    )
    started = time.perf_counter()
    targets = teacher_logits(
        teacher,
        data.train.texts,
        precision,
        batch_size=config.eval_batch_size,
        cache=options.cache,
        echo=echo,
    )
    teacher_seconds = time.perf_counter() - started

    torch.manual_seed(config.seed)  # a --student's fresh head
    if keep is not None:
        model, tokenizer = truncated_copy(teacher.model, keep), teacher.tokenizer
        echo(f"student: the teacher's layers {keep} ({len(keep)} of {teacher.depth})")
    else:
        model, tokenizer = load_model(options.student)
        echo(f"student: {options.student} ({model.config.num_hidden_layers} layers)")
    start = Start(
        data=data,
        model=model,
        tokenizer=tokenizer,
        targets=targets,
        loss_fn=make_loss_fn(options.temperature, options.alpha),
        distillation=record(teacher, options, keep, teacher_seconds),
        inputs=inputs,
    )
    return train(
        config, out, overwrite=overwrite, device=device, echo=echo, notice=notice, start=start
    )


def without_groups(data: TrainData, groups: set[str], notice: Callable[[str], None]) -> TrainData:
    """Training rows minus the sentences in `groups` (the teacher's validation rows)."""
    if not groups or data.train.groups is None:
        return data
    keep = np.array([g not in groups for g in data.train.groups], dtype=bool)
    if keep.all():
        return data
    notice(
        f"left out {int((~keep).sum()):,} training row(s) whose sentences the teacher "
        "validated on (its valid.csv)"
    )
    if not keep.any():
        raise DataError(data.train.source, "every training sentence is in the teacher's valid.csv")
    train = data.train.take(np.flatnonzero(keep))
    check_classes(train)
    return TrainData(train, data.valid, data.grouped)


def record(
    teacher: Teacher, options: DistillOptions, keep: list[int] | None, seconds: float
) -> dict[str, Any]:
    """run.json's `distillation` object."""
    return {
        "teacher": str(teacher.run.path.resolve()),
        "teacher_sha256": teacher.sha256,
        "teacher_layers": teacher.depth,
        "layers_kept": keep,
        "student": options.student,
        "temperature": options.temperature,
        "alpha": options.alpha,
        "teacher_logits_seconds": round(seconds, 3),
    }
