"""Output formats. `kaggle` is byte-exact to Kaggle's sampleSubmission.csv; the others keep
the id, the label, its name and optionally the class probabilities."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

import numpy as np

from reviewscore.data.tsv import TsvWriter

FORMATS = ("kaggle", "csv", "tsv", "jsonl")


class Writer:
    def __init__(
        self,
        handle: IO[str],
        fmt: str,
        *,
        id_column: str,
        label_column: str,
        label_names: list[str],
        probs: bool,
        with_source: bool,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.handle = handle
        self.fmt = fmt
        self.label_names = label_names
        self.probs = probs and fmt != "kaggle"
        self.with_source = with_source and fmt != "kaggle"
        self.id_column = id_column
        self.label_column = label_column
        self._csv: Any = None
        if fmt == "csv":
            self._csv = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        elif fmt == "tsv":
            self._csv = TsvWriter(handle)
        self._started = False

    def finish(self) -> None:
        """The header, if no row came (an input with a header and no rows)."""
        self._start()

    def _start(self) -> None:
        """The header goes out with the first rows, not before: an input that fails at its
        first line (empty, a missing column) leaves standard output empty, not a header
        that looks like the start of a result."""
        if not self._started:
            self._started = True
            self._header()

    def _header(self) -> None:
        if self.fmt == "kaggle":
            self.handle.write(f"{self.id_column},{self.label_column}\n")
        elif self._csv is not None:
            header = [self.id_column] + (["source"] if self.with_source else [])
            header += [self.label_column, "label_name"]
            if self.probs:
                header += [f"p_{i}" for i in range(len(self.label_names))]
            self._csv.writerow(header)

    def write(self, source: str, ids: list[str], labels: np.ndarray, probs: np.ndarray) -> None:
        self._start()
        names = self.label_names
        if self.fmt == "kaggle":
            self.handle.write(
                "".join(f"{i},{int(lab)}\n" for i, lab in zip(ids, labels, strict=True))
            )
        elif self._csv is not None:
            rows = []
            for k, (row_id, lab) in enumerate(zip(ids, labels, strict=True)):
                row = [row_id] + ([source] if self.with_source else []) + [int(lab), names[lab]]
                if self.probs:
                    row += [f"{p:.6f}" for p in probs[k]]
                rows.append(row)
            self._csv.writerows(rows)
        else:
            lines = []
            for k, (row_id, lab) in enumerate(zip(ids, labels, strict=True)):
                record: dict = {"id": row_id}
                if self.with_source:
                    record["source"] = source
                record.update(label=int(lab), label_name=names[lab])
                if self.probs:
                    record["probs"] = {
                        n: round(float(p), 6) for n, p in zip(names, probs[k], strict=True)
                    }
                lines.append(json.dumps(record, ensure_ascii=False))
            self.handle.write("\n".join(lines) + "\n")
