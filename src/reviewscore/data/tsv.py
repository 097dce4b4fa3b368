"""Write TSV in the dialect the reader reads: fields joined by tabs, one row per line, no
quoting and no escapes.

Any escape would come back as text: the reader cannot unescape, because review files hold
bare `"` and `\\` that are text. So a value is written exactly as it is, and one that this
dialect cannot hold (a tab or a line break in it) is refused rather than altered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from reviewscore.errors import ReviewscoreError


class TsvWriter:
    """`writerow`/`writerows` as csv.writer's; None is written as an empty field."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def writerow(self, row: Iterable[Any]) -> None:
        self.writerows([row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        lines = []
        for row in rows:
            fields = ["" if value is None else str(value) for value in row]
            for field in fields:
                if "\t" in field or "\n" in field or "\r" in field:
                    raise ReviewscoreError(
                        f"{field[:100]!r} holds a tab or a line break, which TSV output "
                        "cannot hold (no quoting); choose another --format"
                    )
            lines.append("\t".join(fields) + "\n")
        self.handle.write("".join(lines))
