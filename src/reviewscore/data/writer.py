"""Write review rows back out as CSV with standard quoting, so any text (tabs, quotes,
newlines) reads back identical through `read_reviews`."""

from __future__ import annotations

import csv
from pathlib import Path

from reviewscore.data.columns import Columns
from reviewscore.data.reader import ReviewRows
from reviewscore.files import atomic_open


def write_reviews_csv(path: Path, rows: ReviewRows, columns: Columns = Columns()) -> None:  # noqa: B008
    header = [columns.id]
    if rows.groups is not None:
        header.append(columns.group)
    header.append(columns.text)
    if rows.labels is not None:
        header.append(columns.label)
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        for i in range(len(rows)):
            cells = [rows.ids[i]]
            if rows.groups is not None:
                cells.append(rows.groups[i])
            cells.append(rows.texts[i])
            if rows.labels is not None:
                cells.append(str(int(rows.labels[i])))
            writer.writerow(cells)
