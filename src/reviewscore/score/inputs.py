"""Resolve the INPUT arguments: files, globs the shell did not expand, or `-` for stdin."""

from __future__ import annotations

import glob
from pathlib import Path

from reviewscore.errors import DataError, ReviewscoreError

GLOB_CHARS = set("*?[")


def resolve_inputs(patterns: list[str]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        if pattern == "-" or Path(pattern).exists() or not GLOB_CHARS & set(pattern):
            paths.append(pattern)
            continue
        matches = sorted(glob.glob(pattern, recursive=True))
        if not matches:
            raise DataError(pattern, "no file matches this pattern")
        paths.extend(matches)
    if paths.count("-") > 1:
        raise ReviewscoreError("`-` (stdin) may be given only once")
    return paths


def check_output_is_not_an_input(
    output: str | None, inputs: list[str], folders: tuple[Path, ...] = ()
) -> None:
    """Scoring writes a new file; it must never replace the data it reads, nor lie inside a
    folder it reads (the deploy folder: a file added there is no part of its manifest)."""
    if output in (None, "-"):
        return
    target = Path(output).resolve()
    for path in inputs:
        if path != "-" and Path(path).resolve() == target:
            raise ReviewscoreError(f"output {output} is also an input; choose another -o path")
    for folder in folders:
        if target.is_relative_to(Path(folder).resolve()):
            raise ReviewscoreError(
                f"output {output} lies inside the input folder {folder}; choose another -o path"
            )
