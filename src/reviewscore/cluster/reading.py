"""Review files -> a Ray Dataset of rows `source, line, id, text`.

Each file is read whole by one Ray task, with the single-machine reader for TSV/CSV
(`iter_review_chunks`: the same quoting rules, gzip detection and errors naming file and
line) and pyarrow for Parquet. A data lake is many files, which is where the parallelism is;
a gzip stream cannot be split anyway.

Every read task also leaves a small report in `reports_dir` (rows read, bad lines with file
and line): the job checks at the end that every row read was written exactly once, and lists
the lines it skipped instead of losing them. Reports are named after the file and reading is
deterministic, so a retried task rewrites the same report.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import ray.data

from reviewscore.data import BadLine, Columns, LabelMode, iter_review_chunks
from reviewscore.data.reader import CSV_SUFFIXES, DEFAULT_CHUNK_ROWS, TSV_SUFFIXES
from reviewscore.errors import DataError, ReviewscoreError
from reviewscore.files import read_json, write_json
from reviewscore.score.inputs import resolve_inputs

PARQUET_SUFFIXES = (".parquet", ".pq")
READABLE_SUFFIXES = TSV_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES
# Ray Data glues what a task yields into blocks of up to 128 MiB, and a block goes to one
# actor whole: a file would then be scored by a single actor. Small blocks spread it; the
# scoring stage bundles them back up to its batch size (and the write stage to a shard).
READ_BLOCK_BYTES = 64 * 1024
ROW_SCHEMA = pa.schema(
    [("source", pa.string()), ("line", pa.int64()), ("id", pa.string()), ("text", pa.string())]
)


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files, globs and folders (searched recursively for review files) as absolute paths:
    on a cluster every node reads them, so they must not depend on the driver's directory."""
    if "-" in patterns:
        raise ReviewscoreError("--engine ray reads files, not standard input (`-`)")
    paths: list[str] = []
    for path in resolve_inputs(patterns):
        if os.path.isdir(path):
            found = sorted(
                str(p)
                for p in Path(path).rglob("*")
                if p.is_file() and p.name.lower().endswith(READABLE_SUFFIXES)
            )
            if not found:
                raise DataError(path, f"no review file ({', '.join(READABLE_SUFFIXES)}) in it")
            paths.extend(found)
        else:
            paths.append(path)
    return [os.path.abspath(p) for p in dict.fromkeys(paths)]


def report_path(reports_dir: str | Path, source: str) -> Path:
    return Path(reports_dir) / f"{hashlib.sha1(source.encode()).hexdigest()[:20]}.json"


def read_report(path: Path) -> tuple[str, int, list[BadLine]]:
    """(source, rows read, bad lines) from a report written by a read task."""
    report = read_json(path)
    bad = [BadLine(report["source"], line, message) for line, message in report["bad_lines"]]
    return report["source"], int(report["rows"]), bad


def _table(source: str, lines: list[int], ids: list[str], texts: list[str]) -> pa.Table:
    return pa.table(
        [pa.array([source] * len(lines)), pa.array(lines), pa.array(ids), pa.array(texts)],
        schema=ROW_SCHEMA,
    )


def _text_file_tables(
    path: str, columns: Columns, chunk_rows: int, on_bad_line: str, bad: list[BadLine]
) -> Iterator[pa.Table]:
    chunks = iter_review_chunks(
        path,
        columns,
        label_mode=LabelMode.IGNORED,
        chunk_rows=chunk_rows,
        on_bad_line=on_bad_line,
        bad_lines=bad,
    )
    for chunk in chunks:
        yield _table(chunk.source, chunk.lines, chunk.ids, chunk.texts)


def _parquet_tables(
    path: str, columns: Columns, chunk_rows: int, on_bad_line: str, bad: list[BadLine]
) -> Iterator[pa.Table]:
    """Parquet has no lines: `line` is the row's 1-based position in the file, and `id` that
    position too when there is no id column. A null text is a bad row."""
    names = pq.ParquetFile(path).schema_arrow.names
    if columns.text not in names:
        found = ", ".join(repr(n) for n in names)
        raise DataError(path, f"no column {columns.text!r}; columns found: {found}")
    has_id = columns.id in names
    wanted = [columns.text] + [columns.id] * has_id
    position = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=wanted):
        texts = batch.column(columns.text).cast(pa.string()).to_pylist()
        ids = batch.column(columns.id).cast(pa.string()).to_pylist() if has_id else None
        lines, kept_ids, kept_texts = [], [], []
        for k, text in enumerate(texts):
            line = position + k + 1
            if text is None:
                if on_bad_line == "error":
                    raise DataError(path, "the text is null", line=line, column=columns.text)
                bad.append(BadLine(path, line, f"column {columns.text}: the text is null"))
                continue
            lines.append(line)
            kept_ids.append(str(line) if ids is None or ids[k] is None else ids[k])
            kept_texts.append(text)
        position += len(texts)
        yield _table(path, lines, kept_ids, kept_texts)


def read_files(
    batch: dict[str, Any],
    *,
    columns: Columns,
    chunk_rows: int,
    on_bad_line: str,
    reports_dir: str | None,
) -> Iterator[pa.Table]:
    """The read task: yield each file's rows a chunk at a time, then write its report."""
    for path in batch["path"].tolist():
        bad: list[BadLine] = []
        rows = 0
        parquet = path.lower().endswith(PARQUET_SUFFIXES)
        tables = (_parquet_tables if parquet else _text_file_tables)(
            path, columns, chunk_rows, on_bad_line, bad
        )
        try:
            for table in tables:
                rows += table.num_rows
                yield table
        except ReviewscoreError as exc:
            # DataError's constructor does not round-trip through pickle; its message does.
            raise ReviewscoreError(str(exc)) from None
        except (OSError, pa.ArrowException) as exc:
            raise ReviewscoreError(f"{path}: cannot read it: {exc}") from None
        if reports_dir is not None:
            write_json(
                report_path(reports_dir, path),
                {"source": path, "rows": rows, "bad_lines": [[b.line, b.message] for b in bad]},
            )


def read_review_dataset(
    paths: list[str],
    columns: Columns = Columns(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_bad_line: str = "error",
    reports_dir: str | Path | None = None,
    concurrency: int | None = None,
) -> ray.data.Dataset:
    """A Dataset of rows `source, line, id, text` from TSV/CSV (gzip too) and Parquet files.

    `paths` as `expand_inputs` returns them (absolute, visible to every node). Read tasks
    reserve no CPU: parsing is a few per cent of the work next to the model, and the
    actors' reservations are what should decide where the CPUs go. `concurrency` caps how
    many files are read at once. With on_bad_line='skip', `reports_dir` is required: skipped
    lines are reported there, never silently lost.
    """
    if on_bad_line not in ("error", "skip"):
        raise ValueError(f"on_bad_line must be 'error' or 'skip', not {on_bad_line!r}")
    if on_bad_line == "skip" and reports_dir is None:
        raise ValueError("on_bad_line='skip' needs reports_dir, where skipped lines are listed")
    with _block_bytes(READ_BLOCK_BYTES):
        files = ray.data.from_items([{"path": p} for p in paths], override_num_blocks=len(paths))
        return files.map_batches(
            read_files,
            batch_size=1,
            batch_format="numpy",
            fn_kwargs={
                "columns": columns,
                "chunk_rows": chunk_rows,
                "on_bad_line": on_bad_line,
                "reports_dir": None if reports_dir is None else str(reports_dir),
            },
            num_cpus=0,
            compute=ray.data.TaskPoolStrategy(size=concurrency),
        )


@contextmanager
def data_context(setting: str, value: Any) -> Iterator[None]:
    """Ray Data's DataContext `setting` set to `value` for one block, the caller's value
    restored after. The DataContext is global to the process: a job that left a setting
    changed would change every later Ray Data call there."""
    context = ray.data.DataContext.get_current()
    previous = getattr(context, setting)
    setattr(context, setting, value)
    try:
        yield
    finally:
        setattr(context, setting, previous)


def _block_bytes(size: int) -> contextlib.AbstractContextManager[None]:
    """Datasets created in this block use blocks of about `size` bytes: a pipeline keeps the
    DataContext that was current when its first Dataset was made (here: the list of files),
    so the setting holds downstream too."""
    return data_context("target_max_block_size", size)
