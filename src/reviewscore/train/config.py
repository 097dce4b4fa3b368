"""Training options, the two recipes they come in, and their validation.

A run stores its resolved config in run.json, so `--resume` continues with exactly the
settings it started with.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from reviewscore.data.columns import Columns
from reviewscore.errors import ReviewscoreError

RECIPES = ("plain", "ulmfit")
# The default is the recipe that won bench/train_compare.py on this data at the same number
# of examples (docs/benchmarks.md#training-recipes). ULMFiT trains in about half the time:
# its frozen stages skip most of the backward pass.
DEFAULT_RECIPE = "plain"
SCHEDULES = ("one-cycle", "slanted", "linear")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_DEVICE = "auto"  # a CUDA GPU when torch sees one, else the CPU

# What each recipe sets when the user leaves an option out. Plain: the usual fine-tune of
# the BERT papers (all layers, one rate, 6% warm-up, linear decay). ULMFiT: gradual
# unfreezing, discriminative rates (fastai's 2.6), one cycle per stage. Peak rates: the LR
# finder's suggestions for MiniLM here, and the better of the rates benchmarked.
RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "plain": {
        "unfreeze": ["all"],
        "lr_decay": 1.0,
        "schedule": "linear",
        "epochs": 1.0,
        "lr": 2e-4,
    },
    "ulmfit": {
        "unfreeze": ["1", "2", "3", "all"],
        "lr_decay": 2.6,
        "schedule": "one-cycle",
        "epochs": 1.0,
        "lr": 1e-3,
    },
}


@dataclass(frozen=True)
class LrFindOptions:
    """What `reviewscore lr-find` sweeps when not told otherwise: the groups trained and
    the range of rates (fastai's lr_find defaults), over at most `num_iter` batches."""

    unfreeze: str = "all"
    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_iter: int = 100


@dataclass
class TrainConfig:
    """Everything a run needs to be repeated. `epochs` is per unfreezing stage."""

    data: str
    model: str = "minilm"
    recipe: str = DEFAULT_RECIPE  # these defaults are the plain recipe's, as RECIPE_DEFAULTS
    epochs: float = 1.0
    lr: float = 2e-4
    lr_decay: float = 1.0
    unfreeze: list[str] = field(default_factory=lambda: ["all"])
    schedule: str = "linear"
    weight_decay: float = 0.01
    warmup: float = 0.06  # linear schedule: fraction of steps warming up
    pct_start: float = 0.3  # one-cycle: fraction of steps rising
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    momentum: tuple[float, float] = (0.95, 0.85)  # AdamW beta1 at the cycle's ends / peak
    cut_frac: float = 0.1  # slanted triangular
    ratio: float = 32.0
    batch_size: int = 32
    eval_batch_size: int = 128
    max_length: int = 128
    grad_clip: float = 1.0
    freeze_embeddings: bool = False
    valid_fraction: float = 0.1
    limit_rows: int | None = None
    limit_valid_rows: int | None = None
    seed: int = 42
    columns: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config a run saved. Settings this version does not know (the run was made by
        a newer one) are named on stderr and ignored: resuming without them may train
        differently, so the user should know, but the run is still readable."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            print(
                f"warning: the run's saved config has setting(s) this version of reviewscore "
                f"does not know, ignored: {', '.join(unknown)} (made by a newer version?)",
                file=sys.stderr,
            )
        values = {k: v for k, v in data.items() if k in known}
        if "momentum" in values:
            values["momentum"] = tuple(values["momentum"])
        return cls(**values)

    @property
    def stages(self) -> int:
        return len(self.unfreeze)


def build_config(recipe: str, options: dict[str, Any]) -> TrainConfig:
    """Recipe defaults first, then every option the user actually gave (None = not given)."""
    if recipe not in RECIPES:
        raise ReviewscoreError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    values = dict(RECIPE_DEFAULTS[recipe])
    values.update({k: v for k, v in options.items() if v is not None})
    config = TrainConfig(recipe=recipe, **values)
    validate(config)
    return config


@dataclass(frozen=True)
class TrainOptions:
    """`reviewscore train`'s options under their command-line names (`--lr-decay` is
    `lr_decay`), for the command and `reviewscore.train` alike. None means not given: the
    recipe's default (RECIPE_DEFAULTS, then TrainConfig's), and the Kaggle files' columns.

    >>> options = TrainOptions(recipe="ulmfit", unfreeze="1,2,all", epochs=0.5)
    >>> run = reviewscore.train("train.tsv.gz", "runs/ulmfit", options, device="cpu")
    """

    model: str | None = None
    recipe: str | None = None
    lr: float | None = None
    lr_decay: float | None = None
    max_length: int | None = None
    batch_size: int | None = None
    valid_fraction: float | None = None
    limit_rows: int | None = None
    seed: int | None = None
    text_column: str | None = None
    label_column: str | None = None
    id_column: str | None = None
    group_column: str | None = None
    epochs: float | None = None
    unfreeze: str | Sequence[str] | None = None  # "1,2,3,all" or ["1", "2", "3", "all"]
    schedule: str | None = None
    weight_decay: float | None = None
    warmup: float | None = None
    limit_valid_rows: int | None = None
    freeze_embeddings: bool | None = None

    def given(self) -> list[str]:
        """The names of the options set."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def config(self, data: str) -> TrainConfig:
        """The run's full config: recipe defaults, then every option given; checked."""
        defaults = Columns()
        columns = {
            role: getattr(self, f"{role}_column") or getattr(defaults, role)
            for role in defaults.to_dict()
        }
        values = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "recipe" and not f.name.endswith("_column")
        }
        if isinstance(self.unfreeze, str):
            values["unfreeze"] = parse_unfreeze(self.unfreeze)
        elif self.unfreeze is not None:
            values["unfreeze"] = parse_unfreeze(",".join(self.unfreeze))
        return build_config(
            self.recipe or DEFAULT_RECIPE, {**values, "data": data, "columns": columns}
        )


def parse_unfreeze(text: str) -> list[str]:
    """'1,2,3,all' -> ['1', '2', '3', 'all']: each stage trains the top N layer groups."""
    stages = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not stages:
        raise ReviewscoreError("--unfreeze needs at least one stage, e.g. 1,2,3,all")
    for stage in stages:
        if stage != "all" and not (stage.isdigit() and int(stage) >= 1):
            raise ReviewscoreError(
                f"--unfreeze stage {stage!r} is neither a positive number of groups nor 'all'"
            )
    return stages


def validate(config: TrainConfig) -> None:
    """Refuse settings that cannot train. A non-finite number (`--lr inf`) would pass the
    range checks below and train a NaN model, so every float is checked for it first."""
    for option in fields(config):
        value = getattr(config, option.name)
        if isinstance(value, float) and not math.isfinite(value):
            name = "--" + option.name.replace("_", "-")
            raise ReviewscoreError(f"{name} must be a finite number, not {value}")
    checks = [
        (config.epochs > 0, f"--epochs must be positive, not {config.epochs}"),
        (config.lr > 0, f"--lr must be positive, not {config.lr}"),
        (config.weight_decay >= 0, f"--weight-decay must be >= 0, not {config.weight_decay}"),
        (config.lr_decay >= 1.0, f"--lr-decay must be >= 1 (1 = no decay), not {config.lr_decay}"),
        (config.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}"),
        (config.batch_size >= 1, "--batch-size must be at least 1"),
        (config.max_length >= 2, "--max-length must be at least 2"),
        (0 < config.valid_fraction < 1, "--valid-fraction must be between 0 and 1"),
        (config.limit_rows is None or config.limit_rows > 0, "--limit-rows must be positive"),
        (
            config.limit_valid_rows is None or config.limit_valid_rows > 0,
            "--limit-valid-rows must be positive",
        ),
        (0 <= config.warmup < 1, "--warmup must be in [0, 1)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ReviewscoreError(message)
    parse_unfreeze(",".join(config.unfreeze))
