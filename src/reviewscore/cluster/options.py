"""What `reviewscore score --engine ray` does, and its policy: defaults and refusals.

Imports no Ray (nor does the package's lazy `__init__`): the CLI checks a job's options
before Ray loads, so a wrong option is a usage error even where Ray is not installed (the
job itself then says which extra is missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from reviewscore.data import Columns
from reviewscore.data.reader import DEFAULT_CHUNK_ROWS
from reviewscore.errors import UsageError
from reviewscore.score.auto_variant import check_allow_batch_dependent
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS
from reviewscore.score.output import check_probs_format

OUTPUT_FORMATS = ("parquet", "tsv")
DEFAULT_SHARD_ROWS = 65536
ACTOR_THREADS = 1  # onnxruntime threads per actor unless --threads: actors fill the CPUs
# ClusterOptions fields that `from_command` sets from options of other names or defaults;
# every other field the `score` command has by the same name is taken as given (None: the
# job's own default).
_SET_FROM_COMMAND = ("columns", "output_format", "on_bad_line")


@dataclass(frozen=True)
class ClusterOptions:
    """What `score_to_folder` does; None for actors/threads means "fill the cluster"."""

    columns: Columns = field(default_factory=Columns)
    output_format: str = "parquet"
    probs: bool = False
    variant: str | None = None  # "auto": chosen once, on the driver (cluster/job.py)
    allow_batch_dependent: bool = False  # with variant "auto"
    provider: str = "auto"
    max_length: int | None = None
    batch_tokens: int = DEFAULT_BATCH_TOKENS
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    shard_rows: int = DEFAULT_SHARD_ROWS
    on_bad_line: str = "skip"
    actors: int | None = None
    threads: int | None = None
    gpus_per_actor: float = 0

    @classmethod
    def from_command(cls, values: Mapping[str, Any]) -> ClusterOptions:
        """The options of the `score` command (by parameter name) as a Ray job's: parquet
        and skipping bad lines unless told otherwise; a UsageError for what a folder of
        shards cannot do (standard input or output, other formats, --evaluate)."""
        check_probs_format(values["fmt"], values["probs"])
        if values["output"] in (None, "-"):
            raise UsageError("--engine ray writes a folder: give it with -o OUTPUT_DIR")
        if "-" in values["inputs"]:
            raise UsageError("--engine ray reads files, not standard input (`-`)")
        fmt = values["fmt"] or "parquet"
        if fmt not in OUTPUT_FORMATS:
            raise UsageError(f"--engine ray writes parquet or tsv shards, not {fmt}")
        if values["evaluate"]:
            raise UsageError("--evaluate needs --engine local")
        if values.get("verify"):
            raise UsageError(
                "--verify needs --engine local (Ray actors may run on other machines: run "
                "`reviewscore verify` on one of them)"
            )
        check_allow_batch_dependent(values["variant"], values["allow_batch_dependent"])
        given = {
            f.name: values[f.name]
            for f in fields(cls)
            if f.name not in _SET_FROM_COMMAND and values.get(f.name) is not None
        }
        return cls(
            columns=Columns(text=values["text_column"], id=values["id_column"]),
            output_format=fmt,
            on_bad_line=values["on_bad_line"] or "skip",
            **given,
        )
