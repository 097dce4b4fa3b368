"""Stream a TSV/CSV review file as validated chunks of rows.

TSV is read with quoting disabled (the Kaggle files contain bare `"` characters that are
text); CSV uses standard quoting. Every error names the file, the line and the column.
A field may be as long as the line holding it: real review files hold reviews longer than
the csv module's default limit of 131,072 characters, and the model truncates them anyway.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from reviewscore.data.columns import Columns
from reviewscore.data.lines import display_name, iter_lines
from reviewscore.errors import DataError
from reviewscore.labels import parse_label

DEFAULT_CHUNK_ROWS = 8192
TSV_SUFFIXES = (".tsv", ".tsv.gz", ".tab", ".tab.gz", ".txt", ".txt.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")
# The largest limit every platform's C long takes; a field is held in memory either way.
FIELD_SIZE_LIMIT = 2**31 - 1


class LabelMode(Enum):
    """Whether the label column must be present (train), is used if present, or is ignored."""

    REQUIRED = "required"
    IF_PRESENT = "if-present"
    IGNORED = "ignored"


@dataclass
class ReviewRows:
    """A batch of rows from one file. `ids` fall back to the row number when there is no id
    column; `labels`/`groups` are None when the file has no such column."""

    source: str
    ids: list[str]
    texts: list[str]
    lines: list[int]
    labels: np.ndarray | None = None
    groups: list[str] | None = None
    has_id_column: bool = True

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: np.ndarray | list[int]) -> ReviewRows:
        idx = list(map(int, indices))
        return ReviewRows(
            source=self.source,
            ids=[self.ids[i] for i in idx],
            texts=[self.texts[i] for i in idx],
            lines=[self.lines[i] for i in idx],
            labels=None if self.labels is None else self.labels[idx],
            groups=None if self.groups is None else [self.groups[i] for i in idx],
            has_id_column=self.has_id_column,
        )


@dataclass(frozen=True)
class BadLine:
    """A row skipped under on_bad_line='skip', kept so it can be reported, not lost."""

    source: str
    line: int
    message: str


@dataclass
class _Layout:
    text: int
    width: int
    id: int | None
    label: int | None
    group: int | None
    header: list[str] = field(default_factory=list)


def sniff_delimiter(path: str, header: str) -> str:
    lowered = str(path).lower()
    if lowered.endswith(TSV_SUFFIXES):
        return "\t"
    if lowered.endswith(CSV_SUFFIXES):
        return ","
    return "\t" if "\t" in header else ","


def _layout(name: str, header: list[str], columns: Columns, label_mode: LabelMode) -> _Layout:
    def find(column: str, required: bool) -> int | None:
        if column in header:
            return header.index(column)
        if required:
            found = ", ".join(repr(h) for h in header)
            raise DataError(name, f"no column {column!r}; columns found: {found}", line=1)
        return None

    text = find(columns.text, required=True)
    assert text is not None
    label = None
    if label_mode is not LabelMode.IGNORED:
        label = find(columns.label, required=label_mode is LabelMode.REQUIRED)
    return _Layout(
        text=text,
        width=len(header),
        id=find(columns.id, required=False),
        label=label,
        group=find(columns.group, required=False),
        header=header,
    )


def iter_review_chunks(
    path: str,
    columns: Columns = Columns(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    label_mode: LabelMode = LabelMode.IF_PRESENT,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_bad_line: str = "error",
    bad_lines: list[BadLine] | None = None,
    delimiter: str | None = None,
) -> Iterator[ReviewRows]:
    """Yield the file's rows in order, `chunk_rows` at a time, memory flat in the file size.

    With on_bad_line='skip', rows with the wrong number of fields or a bad label are appended
    to `bad_lines` instead of raising; undecodable bytes always raise (the rest of the file
    cannot be trusted).
    """
    if on_bad_line not in ("error", "skip"):
        raise ValueError(f"on_bad_line must be 'error' or 'skip', not {on_bad_line!r}")
    name = display_name(path)
    lines = iter_lines(path)
    first = next(lines, None)
    if first is None:
        raise DataError(name, "the file is empty (expected a header line naming the columns)")
    _, header_line = first
    sep = delimiter or sniff_delimiter(path, header_line.rstrip("\r\n"))
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    line_numbers: list[int] = [1]

    def text_lines() -> Iterator[str]:
        yield header_line
        for number, text in lines:
            line_numbers[0] = number
            yield text

    csv.field_size_limit(FIELD_SIZE_LIMIT)  # per process: Ray's read tasks run elsewhere
    reader = csv.reader(text_lines(), delimiter=sep, quoting=quoting, strict=True)
    header = next(reader)
    layout = _layout(name, header, columns, label_mode)

    def fail(line: int, message: str, column: str | None = None) -> None:
        if on_bad_line == "error":
            raise DataError(name, message, line=line, column=column)
        if bad_lines is not None:
            where = f"column {column}: " if column else ""
            bad_lines.append(BadLine(name, line, where + message))

    def new_chunk() -> ReviewRows:
        return ReviewRows(
            source=name,
            ids=[],
            texts=[],
            lines=[],
            labels=[] if layout.label is not None else None,  # type: ignore[arg-type]
            groups=[] if layout.group is not None else None,
            has_id_column=layout.id is not None,
        )

    def finish(chunk: ReviewRows) -> ReviewRows:
        if chunk.labels is not None:
            chunk.labels = np.asarray(chunk.labels, dtype=np.int64)
        return chunk

    chunk = new_chunk()
    row_number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(name, f"malformed CSV: {exc}", line=line_numbers[0]) from None
        line = line_numbers[0]
        if len(fields) == 0 and layout.width == 1:
            fields = [""]  # an empty line in a one-column file is an empty text
        if len(fields) != layout.width:
            fail(line, f"expected {layout.width} fields, found {len(fields)}")
            continue
        if layout.label is not None:
            try:
                label = parse_label(fields[layout.label])
            except ValueError as exc:
                fail(line, str(exc), column=f"{header[layout.label]!r} ({layout.label + 1})")
                continue
            chunk.labels.append(label)  # type: ignore[union-attr]
        row_number += 1
        chunk.texts.append(fields[layout.text])
        chunk.ids.append(fields[layout.id] if layout.id is not None else str(row_number))
        chunk.lines.append(line)
        if chunk.groups is not None:
            chunk.groups.append(fields[layout.group])  # type: ignore[index]
        if len(chunk) >= chunk_rows:
            yield finish(chunk)
            chunk = new_chunk()
    if len(chunk):
        yield finish(chunk)


def read_reviews(
    path: str,
    columns: Columns = Columns(),  # noqa: B008
    *,
    label_mode: LabelMode = LabelMode.IF_PRESENT,
    limit: int | None = None,
) -> ReviewRows:
    """Read a whole file (training and evaluation sets fit in memory; scoring streams)."""
    parts = []
    total = 0
    for chunk in iter_review_chunks(path, columns, label_mode=label_mode):
        parts.append(chunk)
        total += len(chunk)
        if limit is not None and total >= limit:
            break
    if not parts:
        raise DataError(display_name(path), "the file has a header but no rows")
    rows = _concat(parts)
    return rows.take(range(limit)) if limit is not None and len(rows) > limit else rows


def _concat(parts: list[ReviewRows]) -> ReviewRows:
    first = parts[0]
    return ReviewRows(
        source=first.source,
        ids=[i for p in parts for i in p.ids],
        texts=[t for p in parts for t in p.texts],
        lines=[n for p in parts for n in p.lines],
        labels=None if first.labels is None else np.concatenate([p.labels for p in parts]),
        groups=None if first.groups is None else [g for p in parts for g in p.groups],
        has_id_column=first.has_id_column,
    )
