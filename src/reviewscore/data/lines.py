"""Decoded lines of a file, gzip or plain, or of stdin, with their line numbers.

Decoding line by line (rather than letting a text wrapper decode blocks) is what lets an
undecodable byte be reported with its line and position.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from typing import BinaryIO

from reviewscore.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


def display_name(path: str) -> str:
    return "<stdin>" if path == STDIN else str(path)


def _open_binary(path: str) -> BinaryIO:
    if path == STDIN:
        raw: io.BufferedReader = sys.stdin.buffer  # type: ignore[assignment]
        magic = raw.peek(2)[:2]
        return gzip.GzipFile(fileobj=raw) if magic == GZIP_MAGIC else raw  # type: ignore[return-value]
    try:
        handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
    except FileNotFoundError:
        raise DataError(str(path), "no such file") from None
    except IsADirectoryError:
        raise DataError(str(path), "is a directory, not a file") from None
    except PermissionError:
        raise DataError(
            str(path), "permission denied; make the file readable to this user"
        ) from None
    except OSError as exc:  # an I/O error: say so, with the file's name
        raise DataError(str(path), f"cannot open the file: {exc.strerror}") from None
    if handle.read(2) == GZIP_MAGIC:
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def iter_lines(path: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line with its newline), strictly UTF-8 (BOM allowed).

    The newline is kept so the csv module can rebuild quoted fields that span lines."""
    name = display_name(path)
    handle = _open_binary(path)
    try:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(
                    name,
                    f"bytes are not valid UTF-8 (byte {exc.object[exc.start]:#04x} at byte "
                    f"offset {exc.start + 1} of the line); re-encode the file as UTF-8",
                    line=number,
                ) from None
            yield number, text
    except (EOFError, OSError) as exc:  # truncated or corrupt gzip, I/O failure
        raise DataError(name, f"cannot read the file: {exc}") from None
    finally:
        if handle is not getattr(sys.stdin, "buffer", None):
            handle.close()
