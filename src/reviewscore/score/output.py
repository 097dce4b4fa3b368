"""The `-o` path of `score`: refused before any work when it cannot be a file, and a failure
to write it (permission, full disk) reported as one line that names it and says what to do."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from reviewscore.errors import OutputError, UsageError

ADVICE = {
    errno.EACCES: "choose a folder you can write to",
    errno.EPERM: "choose a folder you can write to",
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EROFS: "write to another file system",
}


def check_probs_format(fmt: str | None, probs: bool) -> None:
    """Kaggle's format is exactly id and label: no room for probabilities (any engine)."""
    if probs and fmt == "kaggle":
        raise UsageError("--probs does not apply to --format kaggle (id and label only)")


def check_output_path(output: str | None) -> None:
    """Refuse a path that can never be the output file; `None` and `-` are stdout."""
    if output in (None, "-"):
        return
    if output == "":
        raise OutputError("-o '': the path is empty; give a file path, or - for standard output")
    path = Path(output)
    if path.is_dir():
        raise OutputError(f"-o {output} is a directory; give a file path (e.g. {path / 'x.csv'})")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(
                    f"-o {output}: {parent} is a file, not a folder; choose another path"
                )
            return


@contextlib.contextmanager
def output_errors(output: str | None) -> Iterator[None]:
    """Turn an OSError of the writing block into an OutputError naming `output` (inputs raise
    DataError for theirs, so an OSError here is the output's)."""
    try:
        yield
    except OSError as exc:
        name = "standard output" if output in (None, "-") else output
        advice = ADVICE.get(exc.errno or 0, "choose another -o path")
        raise OutputError(f"cannot write {name}: {exc.strerror or exc}; {advice}") from None
