"""`reviewscore train`: the training loop, top to bottom.

run folder (new / overwrite / resume)  ->  data (read, split by sentence, limit)
-> model + tokenizer  ->  layer groups and their rates
-> for each unfreezing stage: optimizer + schedule, steps over length-bucketed batches,
   validation after each (possibly fractional) epoch, save the stage atomically
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from reviewscore.data import Columns, read_reviews, write_reviews_csv
from reviewscore.errors import FolderError, ReviewscoreError
from reviewscore.files import check_replaceable, replace_folder, write_json
from reviewscore.labels import LABEL_NAMES
from reviewscore.run_folder import RunFolder, RunInfo, is_run_folder
from reviewscore.train.batching import batch_stream, batches_per_epoch, collate, encode
from reviewscore.train.checkpoint import check_model_stage, recover, save_stage
from reviewscore.train.config import TrainConfig
from reviewscore.train.data_prep import TrainData, data_notices, prepare_data
from reviewscore.train.layer_groups import (
    discriminative_lrs,
    find_layer_groups,
    set_trainable,
    trainable_count,
)
from reviewscore.train.model_load import load_model
from reviewscore.train.plots import plot_confusion, plot_history
from reviewscore.train.precision import pick_precision
from reviewscore.train.predict import validation_metrics
from reviewscore.train.schedules import apply_setting, make_optimizer, schedule_at
from reviewscore.train.step import LossFn, model_loss, train_step
from reviewscore.training_history import EpochRecord, StepRecord, TrainingHistory

# Steps between reads of the loss: `.item()` makes the CPU wait for the GPU to finish every
# queued step, so the CPU's and the GPU's time per step add up instead of overlapping
# (nanoGPT logs at an interval for this reason).
LOG_EVERY = 50


@dataclass
class Start:
    """A new run's data, model and loss given by the caller instead of taken from the config
    (`reviewscore distill`: the student, rows with the teacher's logits as `targets`, the
    distillation loss, and the `distillation` object of run.json). Everything after, the
    schedules, batches, validation, precision and saves, is the same loop."""

    data: TrainData
    model: Any
    tokenizer: Any
    targets: np.ndarray
    loss_fn: LossFn
    distillation: dict[str, Any]
    # Folders read beside the config's data and model (the teacher's run folder): the new
    # run folder may neither hold nor lie inside them.
    inputs: tuple[Path, ...] = ()


def epoch_chunks(stage_steps: int, steps_per_epoch: int) -> list[int]:
    """Steps between validations: whole epochs, then the fractional rest (2.5 -> [n, n, n/2])."""
    full, rest = divmod(stage_steps, steps_per_epoch)
    return [steps_per_epoch] * full + ([rest] if rest else [])


def open_run(
    out: Path,
    config: TrainConfig | None,
    *,
    resume: bool,
    overwrite: bool,
    inputs: tuple[Path, ...] = (),
):
    """(run folder, config, info or None, history). Resume takes the config run.json saved.
    `inputs`: folders read beside the config's data and model (see `run_inputs`)."""
    run = RunFolder(out)
    if resume:
        if not run.info_path.is_file():
            raise FolderError(
                f"{out}: nothing to resume (no run.json); start a run without --resume"
            )
        recover(run)
        info = run.read_info()
        if info.distillation is not None:
            raise FolderError(
                f"{out}: a distilled run cannot be resumed by train (its loss needs the "
                "teacher); run `reviewscore distill` again with --overwrite"
            )
        check_model_stage(run, info)
        saved = TrainConfig.from_dict(info.config)
        history = TrainingHistory.load(run.history_path).before_stage(info.stages_completed)
        return run, saved, info, history
    assert config is not None
    check_replaceable(out, "run folder", is_run_folder, run_inputs(config, inputs))
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FolderError(
            f"{out} already exists; pass --resume to continue it or --overwrite to replace it"
        )
    return run, config, None, TrainingHistory.empty()


def run_inputs(config: TrainConfig, more: tuple[Path, ...] = ()) -> list[Path]:
    """What a new run reads from disk (the data, a local base model, `more`): its run
    folder may neither hold nor lie inside them. A model saved in a run folder (RUN/model,
    a teacher's or an earlier run's) stands for the whole run folder: RUN/sub would lie
    inside an input as surely as RUN/model/sub."""
    found = [Path(p) for p in (config.data, config.model) if p and Path(p).exists()]
    return [_enclosing_run(path) for path in (*found, *more)]


def _enclosing_run(path: Path) -> Path:
    return path.parent if path.name == "model" and is_run_folder(path.parent) else path


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def check_finite(loss: float, where: str, config: TrainConfig) -> None:
    """A NaN or infinite loss means the weights are already ruined (every later loss is
    NaN too): stop before the stage is saved, so run.json never marks it complete."""
    if not math.isfinite(loss):
        raise ReviewscoreError(
            f"training diverged: the loss is {loss} at {where}; the stage was not saved; "
            f"try a lower --lr (this run: {config.lr:g})"
        )


def read_losses(
    pending: list[tuple[StepRecord, torch.Tensor]], config: TrainConfig
) -> list[StepRecord]:
    """The pending step records with their losses, read with one device-to-host copy;
    stops at the first non-finite one (the run stops before its stage is saved)."""
    values = torch.stack([loss for _, loss in pending]).float().tolist()
    records = []
    for (record, _), value in zip(pending, values, strict=True):
        check_finite(value, f"stage {record.stage + 1}, step {record.step + 1}", config)
        records.append(replace(record, loss=value))
    return records


def train(
    config: TrainConfig | None,
    out: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str = "auto",
    echo: Callable[[str], None] = print,
    notice: Callable[[str], None] = print_to_stderr,
    start: Start | None = None,
) -> RunFolder:
    """Train into `out`: progress lines go to `echo`, notices and warnings to `notice`.
    `start` (new runs only) supplies the data, model and loss instead of the config."""
    assert start is None or not resume, "a given start is for new runs only"
    # 1. The run folder, and the config it runs with.
    inputs = start.inputs if start else ()
    run, config, info, history = open_run(
        Path(out), config, resume=resume, overwrite=overwrite, inputs=inputs
    )
    if info is not None and info.stages_completed == config.stages:
        echo(f"{run.path}: all {config.stages} stages are already complete; nothing to resume")
        return run
    columns = Columns(**config.columns)

    # 2. Data: split by sentence on the whole file, then limit; tokenise once.
    data = start.data if start else load_data(config, columns)
    for line in data_notices(data, columns.group):
        notice(line)
    echo(f"train {len(data.train):,} rows, validation {len(data.valid):,} rows ({config.data})")

    # 3. Model: fresh head (seeded) for a new run, the last saved stage for a resumed one.
    torch.manual_seed(config.seed)
    if start:
        model, tokenizer = start.model, start.tokenizer
    else:
        model, tokenizer = load_model(str(run.model_dir) if info else config.model)
    precision = pick_precision(device)
    model.to(precision.device)
    targets = start.targets if start else None
    train_set = encode(data.train.texts, data.train.labels, tokenizer, config.max_length, targets)
    valid_set = encode(data.valid.texts, data.valid.labels, tokenizer, config.max_length)
    if info is None:
        info = RunInfo(
            base_model=config.model,
            model_type=model.config.model_type,
            labels=list(LABEL_NAMES),
            max_length=config.max_length,
            columns=columns.to_dict(),
            config=config.to_dict(),
            stages_total=config.stages,
            stages_completed=0,
            distillation=start.distillation if start else None,
        )
        # Built beside and swapped in once data and model loaded and stage 0 is saved: until
        # then, the folder --overwrite replaces is left as it was.
        inputs = run_inputs(config, start.inputs if start else ())
        with replace_folder(run.path, "run folder", is_run_folder, inputs) as new:
            write_reviews_csv(RunFolder(new).valid_path, data.valid, columns)
            save_stage(RunFolder(new), model, tokenizer, info, history)
    elif read_reviews(str(run.valid_path), columns).ids != data.valid.ids:
        raise FolderError(f"{run.path}: {config.data} no longer gives the saved validation rows")

    # 4. Layer groups: discriminative rates, optionally frozen word embeddings.
    groups = find_layer_groups(model)
    lrs = discriminative_lrs(config.lr, len(groups), config.lr_decay)
    frozen = {id(model.get_input_embeddings().weight)} if config.freeze_embeddings else set()
    steps_per_epoch = batches_per_epoch(len(train_set), config.batch_size)
    stage_steps = max(1, round(config.epochs * steps_per_epoch))
    lengths = train_set.lengths
    echo(
        f"{config.recipe}: {config.stages} stage(s) x {stage_steps} steps "
        f"({config.epochs:g} epoch of {steps_per_epoch} batches), groups "
        + ", ".join(g.name for g in groups)
    )

    # 5. Stages: each one cycle over the top groups, validated per epoch, saved at its end.
    scaler = precision.scaler()
    loss_fn = start.loss_fn if start else model_loss
    for stage in range(info.stages_completed, config.stages):
        n_top = trainable_count(config.unfreeze[stage], len(groups))
        set_trainable(groups, n_top, frozen)
        optimizer = make_optimizer(groups, lrs, config)
        torch.manual_seed(config.seed + 1 + stage)  # dropout: a resumed stage replays exactly
        stage_start = stage * stage_steps
        batches = batch_stream(lengths, config.batch_size, config.seed, start=stage_start)
        step = stage_start
        for epoch, epoch_steps in enumerate(epoch_chunks(stage_steps, steps_per_epoch)):
            model.train()
            started, seen, losses = time.perf_counter(), 0, []
            pending: list[tuple[StepRecord, torch.Tensor]] = []  # losses not yet read
            bar = tqdm(
                total=epoch_steps,
                desc=f"stage {stage + 1}/{config.stages}",
                leave=False,
                disable=None,  # shown on a terminal, not in logs
            )
            for i in range(epoch_steps):
                apply_setting(optimizer, schedule_at(step - stage_start, stage_steps, config))
                batch = collate(train_set, next(batches))
                record = StepRecord(
                    stage=stage,
                    step=step,
                    loss=math.nan,  # read back with the others of its interval
                    lr=optimizer.param_groups[-1]["lr"],
                    lr_bottom=optimizer.param_groups[0]["lr"],
                    beta1=optimizer.param_groups[-1]["betas"][0],
                )
                loss = train_step(
                    model, batch, optimizer, scaler, precision, config.grad_clip, loss_fn
                )
                pending.append((record, loss))
                step += 1
                seen += len(batch["input_ids"])
                if len(pending) == LOG_EVERY or i == epoch_steps - 1:
                    read = read_losses(pending, config)
                    losses += [record.loss for record in read]
                    history = history.with_steps(read)
                    pending = []
                    rate = seen / (time.perf_counter() - started)
                    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", phrases_s=f"{rate:.0f}")
                bar.update()
            bar.close()
            train_seconds = time.perf_counter() - started
            valid_loss, metrics = validation_metrics(
                model, valid_set, config.eval_batch_size, precision
            )
            check_finite(valid_loss, f"stage {stage + 1}, validation after step {step}", config)
            history = history.with_epoch(
                EpochRecord(
                    stage=stage,
                    unfreeze=config.unfreeze[stage],
                    epoch=epoch,
                    step=step,
                    train_loss=float(np.mean(losses)),
                    valid_loss=valid_loss,
                    accuracy=metrics.accuracy,
                    macro_f1=metrics.macro_f1,
                    train_seconds=train_seconds,
                    phrases_per_second=seen / train_seconds,
                    confusion=metrics.confusion,
                )
            )
            echo(
                f"stage {stage + 1}/{config.stages} ({config.unfreeze[stage]}) epoch {epoch + 1}: "
                f"train loss {np.mean(losses):.4f}  valid loss {valid_loss:.4f}  "
                f"accuracy {metrics.accuracy:.4f}  macro-F1 {metrics.macro_f1:.4f}  "
                f"({seen / train_seconds:.0f} phrases/s)"
            )
        info = replace(info, stages_completed=stage + 1)
        save_stage(run, model, tokenizer, info, history)
        write_json(run.metrics_path, final_metrics(config, history, metrics))
        plot_history(history, run.plots_dir)
        plot_confusion(metrics.confusion, run.plots_dir / "confusion.png")
    echo(f"run saved in {run.path} ({info.stages_completed}/{config.stages} stages)")
    return run


def load_data(config: TrainConfig, columns: Columns) -> TrainData:
    """The config's rows: split by sentence on the whole file, then limited."""
    return prepare_data(
        config.data,
        columns,
        valid_fraction=config.valid_fraction,
        seed=config.seed,
        limit_rows=config.limit_rows,
        limit_valid_rows=config.limit_valid_rows,
    )


def final_metrics(config: TrainConfig, history: TrainingHistory, metrics: Any) -> dict[str, Any]:
    return {
        "recipe": config.recipe,
        "stages_completed": history.epochs[-1].stage + 1,
        "train_seconds": sum(e.train_seconds for e in history.epochs),
        **metrics.to_dict(),
    }
