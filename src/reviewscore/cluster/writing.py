"""The output folder of a Ray job: shards, `bad_rows.tsv`, `summary.json`, `_SUCCESS`.

Write tasks put each batch in a file of its own under a fresh name and report it; only the
files reported to the driver become shards. Ray Data delivers each batch's report exactly
once, so a write that died half-way, or ran twice after a retry, leaves a stray file that is
deleted, never a duplicate shard. Everything is built in a hidden staging sibling that is
swapped into place only once the job has succeeded (files.replace_folder), so a folder with
`_SUCCESS` is complete, and -o replaces only an earlier job's output or an empty folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import ray.data

from reviewscore.cluster.options import DEFAULT_SHARD_ROWS, OUTPUT_FORMATS
from reviewscore.data import BadLine
from reviewscore.data.tsv import TsvWriter
from reviewscore.files import write_json

SUCCESS = "_SUCCESS"
SUMMARY = "summary.json"
BAD_ROWS = "bad_rows.tsv"
ATTEMPTS = "_attempts"
REPORTS = "_reports"


def _write_tsv(table: pa.Table, path: str) -> None:
    columns = [
        [f"{v:.6f}" for v in table[name].to_pylist()]
        if name.startswith("p_")
        else table[name].to_pylist()
        for name in table.column_names
    ]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = TsvWriter(handle)
        writer.writerow(table.column_names)
        writer.writerows(zip(*columns, strict=True))


def write_shard(batch: pa.Table, *, attempts_dir: str, fmt: str) -> pa.Table:
    """The write task: one file per batch, under a name no other attempt uses; returns the
    file's name, its row count and its first row (to order the shards like the inputs)."""
    if batch.num_rows == 0:
        return pa.table({"file": [], "rows": [], "source": [], "line": []})
    name = f"{uuid.uuid4().hex}.{fmt}"
    path = os.path.join(attempts_dir, name)
    if fmt == "parquet":
        pq.write_table(batch, path)
    else:
        _write_tsv(batch, path)
    return pa.table(
        {
            "file": [name],
            "rows": [batch.num_rows],
            "source": [batch["source"][0].as_py()],
            "line": [batch["line"][0].as_py()],
        }
    )


def write_shards(
    dataset: ray.data.Dataset,
    attempts_dir: str | Path,
    *,
    fmt: str,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    concurrency: int | None = None,
) -> ray.data.Dataset:
    """A Dataset of one small record per file written (`file, rows, source, line`); the
    files appear as it is consumed. Write tasks, like read tasks, reserve no CPU."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; choose from {OUTPUT_FORMATS}")
    return dataset.map_batches(
        write_shard,
        batch_size=shard_rows,
        batch_format="pyarrow",
        fn_kwargs={"attempts_dir": str(attempts_dir), "fmt": fmt},
        num_cpus=0,
        compute=ray.data.TaskPoolStrategy(size=concurrency),
    )


@dataclass(frozen=True)
class Shard:
    """A file a write task reported: its name under `_attempts`, rows, and first row."""

    file: str
    rows: int
    source: str
    line: int


def is_job_output(path: Path) -> bool:
    return (path / SUCCESS).is_file() and (path / SUMMARY).is_file()


OUTPUT_KIND = f"job output folder (with {SUCCESS})"


class OutputFolder:
    """The job's files, gathered in the folder that files.replace_folder builds and swaps
    in once the job has succeeded."""

    def __init__(self, build_dir: Path) -> None:
        self.tmp = build_dir
        self.attempts_dir = self.tmp / ATTEMPTS
        self.reports_dir = self.tmp / REPORTS
        self.attempts_dir.mkdir()
        self.reports_dir.mkdir()

    def finish(
        self,
        shards: list[Shard],
        bad_lines: Iterable[BadLine],
        summary: dict[str, Any],
        *,
        source_order: list[str],
        fmt: str,
    ) -> list[str]:
        """Keep the reported files as `part-NNNNN`, numbered in input order of their first
        row (rows are not sorted across shards), drop the stray ones, add the bad rows,
        summary and marker. Returns the shards' names."""
        rank = {source: k for k, source in enumerate(source_order)}
        ordered = sorted(shards, key=lambda s: (rank.get(s.source, len(rank)), s.source, s.line))
        names = []
        for k, shard in enumerate(ordered):
            names.append(f"part-{k:05d}.{fmt}")
            os.replace(self.attempts_dir / shard.file, self.tmp / names[-1])
        shutil.rmtree(self.attempts_dir)
        shutil.rmtree(self.reports_dir)
        with open(self.tmp / BAD_ROWS, "w", encoding="utf-8", newline="") as handle:
            writer = TsvWriter(handle)
            writer.writerow(["source", "line", "message"])
            writer.writerows((b.source, b.line, b.message) for b in bad_lines)
        write_json(self.tmp / SUMMARY, {**summary, "shards": len(names)})
        (self.tmp / SUCCESS).touch()
        return names
