"""Run the real `reviewscore` entry point in-process, as the console script does, so a test
sees exactly the exit code and the stdout/stderr a user would."""

from __future__ import annotations

import sys

from reviewscore.cli import main


def reviewscore(monkeypatch, capsys, *args: object) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `reviewscore ARGS...`."""
    monkeypatch.setattr(sys, "argv", ["reviewscore", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err
