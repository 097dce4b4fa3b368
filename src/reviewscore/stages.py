"""The training side of the Python API: `reviewscore.train`, `reviewscore.export` and
`reviewscore.distill`. The commands `reviewscore train`, `export` and `distill` are thin
calls of these functions, so they take the same options under the same names (`--lr-decay`
is `lr_decay=`) with the same defaults, defined once by each stage (TrainOptions,
ExportOptions and Thresholds, DistillOptions).

They need the [train] extra: torch and transformers are imported when a function runs,
not before. Errors are exceptions (`reviewscore.ReviewscoreError` and its kinds); a failed
parity gate is a `ParityError` carrying the figures, raised after the folder is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from os import PathLike, fspath
from pathlib import Path
from typing import Any, Union

from reviewscore.deploy_folder import Manifest, Thresholds
from reviewscore.distill.options import (
    DEFAULT_ALPHA,
    DEFAULT_KEEP,
    DEFAULT_TEMPERATURE,
    TRAIN_OPTIONS,
    DistillOptions,
)
from reviewscore.errors import ReviewscoreError, UsageError
from reviewscore.export.deploy import ExportOptions, quantized_variants
from reviewscore.run_folder import RunFolder
from reviewscore.train.config import DEFAULT_DEVICE, LrFindOptions, TrainOptions, parse_unfreeze

StrPath = Union[str, "PathLike[str]"]
Echo = Callable[[str], None]
_EXPORT = ExportOptions()
_LIMITS = Thresholds()
_SWEEP = LrFindOptions()


def to_stderr(line: str) -> None:
    """The functions' default progress output: one line each on standard error."""
    print(line, file=sys.stderr)


def _data_path(data: StrPath) -> str:
    """The data file as run.json keeps it: absolute when it is a file, so that resume and
    a distilled student find it from any directory (a glob or URL stays as given)."""
    path = fspath(data)
    return str(Path(path).resolve()) if Path(path).is_file() else path


def train(
    data: StrPath | None,
    out: StrPath,
    options: TrainOptions | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str = DEFAULT_DEVICE,
    echo: Echo = to_stderr,
    **kwargs: Any,
) -> RunFolder:
    """Fine-tune a classifier on the labelled file `data` into the run folder `out`, as
    `reviewscore train --data DATA --out OUT`; returns the run folder (`.path`,
    `.read_info()`: the run's RunInfo, `.model_dir`, `.metrics_path`, ...).

    Options: a TrainOptions, and/or keyword arguments under the command's names (model,
    recipe, lr, lr_decay, max_length, batch_size, valid_fraction, limit_rows, seed,
    text_column, label_column, id_column, group_column, epochs, unfreeze, schedule,
    weight_decay, warmup, limit_valid_rows, freeze_embeddings); an option left out takes
    the recipe's default, as on the command line. `resume` continues `out` from its last
    completed stage with its saved config (then give no data or option); `overwrite`
    replaces an earlier run folder. `device`: auto, cpu or cuda. Progress lines go to `echo`.

    >>> run = reviewscore.train("train.tsv.gz", "runs/small", epochs=0.5, limit_rows=4000)
    >>> run.read_info().stages_completed
    """
    from reviewscore.train.loop import train as run_training

    chosen = replace(options or TrainOptions(), **kwargs)
    if resume:
        given = sorted(chosen.given() + (["data"] if data else []))
        if given:
            names = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ReviewscoreError(f"--resume uses the run's saved config; drop {names}")
        return run_training(None, Path(out), resume=True, device=device, echo=echo)
    if not data:
        raise UsageError("--data is required (unless --resume)")
    config = chosen.config(_data_path(data))
    return run_training(config, Path(out), overwrite=overwrite, device=device, echo=echo)


def distill(
    teacher: StrPath,
    data: StrPath,
    out: StrPath,
    *,
    layers: int | None = None,
    student: str | None = None,
    keep: str = DEFAULT_KEEP,
    temperature: float = DEFAULT_TEMPERATURE,
    alpha: float = DEFAULT_ALPHA,
    cache: StrPath | None = None,
    overwrite: bool = False,
    device: str = DEFAULT_DEVICE,
    echo: Echo = to_stderr,
    **kwargs: Any,
) -> RunFolder:
    """Train a smaller student on the soft labels of `teacher` (a finished run folder), as
    `reviewscore distill TEACHER --data DATA --out OUT`; returns the student's run folder.

    The student is the teacher with `layers` of its layers kept (`keep`: the bottom ones,
    or spread over its depth) or the pretrained model `student`: give exactly one. The loss
    mixes `alpha` x T^2 x KL at `temperature` T with (1 - alpha) x cross-entropy. `cache`: a
    folder keeping the teacher's logits for other students of the same rows. Training
    options by the command's names: epochs, lr, batch_size, valid_fraction, limit_rows,
    seed, limit_valid_rows, freeze_embeddings (the plain recipe's defaults otherwise).

    >>> small = reviewscore.distill("runs/minilm", "train.tsv.gz", "runs/small", layers=3)
    """
    from reviewscore.distill.command import distill as run_distillation

    unknown = sorted(set(kwargs) - set(TRAIN_OPTIONS))
    if unknown:
        raise TypeError(
            f"distill() got unexpected option(s) {', '.join(unknown)}; it takes "
            f"{', '.join(TRAIN_OPTIONS)} besides its own"
        )
    config = TrainOptions(recipe="plain", **kwargs).config(_data_path(data))
    options = DistillOptions(
        teacher=Path(teacher),
        layers=layers,
        student=student,
        keep=keep,
        temperature=temperature,
        alpha=alpha,
        cache=None if cache is None else Path(cache),
    )
    return run_distillation(
        config, options, Path(out), overwrite=overwrite, device=device, echo=echo
    )


def export(
    run_dir: StrPath,
    out: StrPath,
    *,
    quantize: str | Sequence[str] = (),
    fp16: bool = False,
    edge: bool = _EXPORT.edge,
    optimize: str = _EXPORT.optimize,
    default_variant: str = _EXPORT.default_variant,
    opset: int = _EXPORT.opset,
    check: bool = _EXPORT.check,
    parity_data: StrPath | None = _EXPORT.parity_data,
    parity_rows: int = _EXPORT.parity_rows,
    calibration: StrPath | None = _EXPORT.calibration,
    calibration_rows: int = _EXPORT.calibration_rows,
    max_logit_diff: float = _LIMITS.max_abs_logit_diff,
    min_agreement: float = _LIMITS.min_agreement,
    max_accuracy_drop: float = _LIMITS.max_accuracy_drop,
    max_labels_moved: float = _LIMITS.max_labels_moved,
    echo: Echo = to_stderr,
) -> Manifest:
    """Convert the model of `run_dir` (from `train`) into the deploy folder `out`, as
    `reviewscore export RUN_DIR --out OUT`; returns the manifest written (variants, files
    and their hashes, parity figures).

    `quantize`: "int8-static" and/or "int8-dynamic" variants beside fp32 (dynamic int8 is
    not batch-invariant); `fp16` adds an fp16 variant, `edge` the strings-in variants. The
    parity gate (`check`) compares each variant with PyTorch on `parity_rows` rows of
    `parity_data` (default: the run's valid.csv) against the thresholds `max_logit_diff`,
    `min_agreement`, `max_accuracy_drop` and `max_labels_moved`; a failure writes the
    folder, figures in its manifest, then raises ParityError with the figures (exit 3 on
    the command line). The other options are the command's.

    >>> manifest = reviewscore.export("runs/minilm", "deploy/minilm", quantize="int8-static")
    >>> manifest.parity["int8-static"].agreement
    """
    from reviewscore.export.deploy import export_run

    chosen = [quantize] if isinstance(quantize, str) else list(quantize)
    variants = ["fp32", *quantized_variants(chosen, echo)] + ["fp16"] * fp16
    options = ExportOptions(
        opset=opset,
        optimize=optimize,
        variants=tuple(dict.fromkeys(variants)),
        default_variant=default_variant,
        check=check,
        edge=edge,
        parity_data=None if parity_data is None else Path(parity_data),
        parity_rows=parity_rows,
        calibration=None if calibration is None else Path(calibration),
        calibration_rows=calibration_rows,
        thresholds=Thresholds(max_logit_diff, min_agreement, max_accuracy_drop, max_labels_moved),
    )
    return export_run(Path(run_dir), Path(out), options, echo=echo)


def lr_find(
    data: StrPath | None,
    out: StrPath,
    sweep: LrFindOptions = _SWEEP,
    *,
    device: str = DEFAULT_DEVICE,
    echo: Echo = to_stderr,
    **kwargs: Any,
) -> None:
    """The learning-rate range test of `reviewscore lr-find`: sweeps `sweep`'s rates on
    `data` with the training options in `kwargs` (train's names and defaults), writes
    lr_find.png and lr_find.json to `out` and echoes the suggested rate."""
    from reviewscore.train.lr_finder import run_lr_find

    if not data:
        raise UsageError("--data is required")
    (stage,) = parse_unfreeze(sweep.unfreeze)
    config = TrainOptions(**kwargs).config(fspath(data))
    run_lr_find(
        config,
        Path(out),
        unfreeze=stage,
        start_lr=sweep.start_lr,
        end_lr=sweep.end_lr,
        num_iter=sweep.num_iter,
        device=device,
        echo=echo,
    )
