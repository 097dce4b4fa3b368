"""Option types and options the `reviewscore` commands share, declared once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from reviewscore.data.columns import Columns
from reviewscore.score.session import DEFAULT_PROVIDER, PROVIDER_CHOICES
from reviewscore.train.config import (
    DEFAULT_DEVICE,
    DEFAULT_RECIPE,
    DEVICES,
    RECIPE_DEFAULTS,
    RECIPES,
    SCHEDULES,
    TrainConfig,
)

F = TypeVar("F", bound=Callable[..., Any])


class ChoiceWithOldNames(click.Choice):
    """A choice that also takes the old names of its values, unlisted in --help and in the
    error for a bad value; the value is passed on as written, so the stage that owns the
    names turns an old one into its new one (with its deprecation note) in one place."""

    def __init__(self, choices: Iterable[str], old_names: Iterable[str]) -> None:
        super().__init__(list(choices))
        self.old_names = frozenset(old_names)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self.old_names:
            return value
        return super().convert(value, param, ctx)


def with_options(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Apply click options in the order given (that is their order in --help)."""

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


_COLUMNS = Columns()  # the columns of the Kaggle files
_TRAIN = TrainConfig(data="")  # a run's defaults (the plain recipe's)
_PLAIN, _ULMFIT = RECIPE_DEFAULTS["plain"], RECIPE_DEFAULTS["ulmfit"]


def rate(value: float) -> str:
    """A learning rate as people write one: 2e-4, not 0.0002."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


# --- the scoring side: score, verify, serve ---

DEPLOY_DIR = click.argument(
    "deploy_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
RUN_DIR = click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))


def provider(help: str) -> Callable[[F], F]:
    """--provider: the onnxruntime execution provider asked for (score, verify)."""
    return click.option(
        "--provider",
        type=click.Choice(PROVIDER_CHOICES),
        default=DEFAULT_PROVIDER,
        show_default=True,
        help=help,
    )


def threads(more: str = "") -> Callable[[F], F]:
    """--threads: onnxruntime's intra-op threads (score, verify, serve); `more` adds what
    one command does differently."""
    return click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help=f"onnxruntime intra-op threads (default: physical cores{more}).",
    )


def variant(help: str) -> Callable[[F], F]:
    """--variant: one variant of the deploy folder, or auto (score, serve)."""
    return click.option("--variant", default=None, help=help)


ALLOW_BATCH_DEPENDENT = click.option(
    "--allow-batch-dependent",
    is_flag=True,
    help="With --variant auto: let it pick a variant that is not batch-invariant "
    "(int8-dynamic), whose labels may depend on the rows batched together.",
)

# --- the training side: train, distill, lr-find, evaluate ---

# Options default to None = "not given": the recipe fills them (TrainOptions, in
# train/config.py), and --resume refuses them (a resumed run keeps its run.json config).

DEVICE = click.option(
    "--device",
    type=click.Choice(DEVICES),
    default=DEFAULT_DEVICE,
    show_default=True,
    help="auto: a CUDA GPU when torch sees one, else the CPU.",
)
DATA_HELP = "Labelled TSV/CSV file, plain or gzip."
# The split and batches of `train`, `lr-find` and `distill`.
SPLIT_OPTIONS = (
    click.option("--batch-size", type=int, help=f"Training batch size ({_TRAIN.batch_size})."),
    click.option(
        "--valid-fraction",
        type=float,
        help=f"Share of sentences held out ({_TRAIN.valid_fraction}).",
    ),
    click.option("--limit-rows", type=int, help="Train on a seeded subset of whole sentences."),
    click.option(
        "--seed", type=int, help=f"Seed of split, subset, head and batches ({_TRAIN.seed})."
    ),
)
# What `train` and `distill` both do beyond the split: validate, freeze, run on a device.
FIT_OPTIONS = (
    click.option("--limit-valid-rows", type=int, help="Validate on a subset of whole sentences."),
    click.option(
        "--freeze-embeddings/--train-embeddings",
        default=None,
        help="Keep the word-embedding matrix fixed (faster on CPU). Default: train it.",
    ),
    DEVICE,
)
# The schedule options `train` and `distill` share.
EPOCHS_HELP = f"({_PLAIN['epochs']:g})."


def data_options(command: F) -> F:
    """Data, model and column options shared by `train` and `lr-find`."""
    return with_options(
        click.option("--data", help=DATA_HELP),
        click.option(
            "--model",
            help="minilm (default: all-MiniLM-L6-v2, offline), mpnet (all-mpnet-base-v2, "
            "offline from five PyPI parts), a saved model folder, or a hub id.",
        ),
        click.option("--recipe", type=click.Choice(RECIPES), help=f"Default: {DEFAULT_RECIPE}."),
        click.option(
            "--lr",
            type=float,
            help=f"Peak rate of the top group (plain {rate(_PLAIN['lr'])}, ulmfit "
            f"{rate(_ULMFIT['lr'])}).",
        ),
        click.option("--lr-decay", type=float, help="Each lower group's lr = lr above / this."),
        click.option(
            "--max-length", type=int, help=f"Tokens kept per phrase ({_TRAIN.max_length})."
        ),
        *SPLIT_OPTIONS,
        *(
            click.option(
                f"--{name}-column", f"{name}_column", help=f"Column name (default {default})."
            )
            for name, default in _COLUMNS.to_dict().items()
        ),
    )(command)


def train_schedule_options(command: F) -> F:
    """The schedule options only `train` takes (distill's are the plain recipe's)."""
    return with_options(
        click.option(
            "--epochs",
            type=float,
            help=f"Epochs per unfreezing stage, may be fractional {EPOCHS_HELP}",
        ),
        click.option(
            "--unfreeze",
            help="Groups trained per stage, from the top "
            f"(ulmfit: {','.join(_ULMFIT['unfreeze'])}).",
        ),
        click.option(
            "--schedule",
            type=click.Choice(SCHEDULES),
            help=f"Per-stage schedule (ulmfit: {_ULMFIT['schedule']}, "
            f"plain: {_PLAIN['schedule']}).",
        ),
        click.option(
            "--weight-decay", type=float, help=f"AdamW weight decay ({_TRAIN.weight_decay})."
        ),
        click.option(
            "--warmup",
            type=float,
            help=f"Linear schedule: warm-up share of steps ({_TRAIN.warmup}).",
        ),
    )(command)
