"""No user-facing text quotes a speed figure or a date it did not measure on the machine
running it: a ratio like `1.07x` measured on one CPU is wrong on the next. Scanned: every
string literal in src/ that is not a docstring (messages, warnings, log lines, exception
texts, option help), f-strings' fixed parts included, and every `--help` text click shows
(command docstrings become those). Figures with their date and CPU belong in the docs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from reviewscore.cli import cli

SRC = Path(__file__).resolve().parent.parent / "src" / "reviewscore"
FIGURES = {
    "speed ratio": re.compile(r"(?<![\w.#])\d+(?:\.\d+)?x\b"),
    "speed percentage": re.compile(r"\d+(?:\.\d+)?\s*%\s*(?:faster|slower|quicker)", re.I),
    "date": re.compile(
        r"\b(?:19|20)\d\d-[01]\d(?:-[0-3]\d)?\b"
        r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? (?:[0-3]?\d, )?"
        r"(?:19|20)\d\d\b"
    ),
}


def figures_in(text: str) -> list[str]:
    return [f"{kind} {m.group()!r}" for kind, rx in FIGURES.items() for m in rx.finditer(text)]


def _docstrings_and_format_specs(tree: ast.AST) -> set[int]:
    """The constants that are not texts shown to a user: docstrings (issue 28 keeps those
    free of one machine's figures) and f-string format specs (`{x:#04x}`)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            skipped.update(id(part) for part in ast.walk(node.format_spec))
    return skipped


def message_figures(source: str) -> list[tuple[int, str, str]]:
    """(line, figure, text) for each figure in a string literal of `source` that a user
    could see."""
    tree = ast.parse(source)
    skipped = _docstrings_and_format_specs(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) not in skipped:
            found += [(node.lineno, figure, node.value[:90]) for figure in figures_in(node.value)]
    return found


def help_texts(command: click.Command, path: str = "reviewscore") -> list[tuple[str, str]]:
    """Every text `--help` shows for `command` and its subcommands."""
    texts = [(path, command.help or ""), (path, command.short_help or "")]
    texts += [(f"{path} {p.name}", getattr(p, "help", None) or "") for p in command.params]
    for name, sub in getattr(command, "commands", {}).items():
        texts += help_texts(sub, f"{path} {name}")
    return texts


def test_no_message_in_src_quotes_a_speed_or_a_date():
    found = [
        f"{file.relative_to(SRC.parent)}:{line}: {figure} in {text!r}"
        for file in sorted(SRC.rglob("*.py"))
        for line, figure, text in message_figures(file.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_no_help_text_quotes_a_speed_or_a_date():
    found = [f"{where}: {figures_in(text)}" for where, text in help_texts(cli) if figures_in(text)]
    assert found == []


@pytest.mark.parametrize(
    ("source", "figure"),
    [
        ('raise ValueError("int8 ran only 1.07x as fast as fp32")', "speed ratio '1.07x'"),
        ('log.warning("about 2x faster")', "speed ratio '2x'"),
        ('x = f"{n} rows; " "24% slower with it off"', "speed percentage '24% slower'"),
        ('echo("measured 2026-11-24 on 2 cores")', "date '2026-11-24'"),
        ('echo(f"measured in November 2026: {x}")', "date 'November 2026'"),
    ],
)
def test_the_scan_finds_figures_in_messages(source, figure):
    assert [found for _, found, _ in message_figures(source)] == [figure]


@pytest.mark.parametrize(
    "source",
    [
        'def f():\n    """1.07x as fast, measured 2026-11-24."""',
        'x = f"{value:#04x} {ratio:.2f}x the fp32 variant"',
        'x = "0x1F, 16x16, --threads 2, int8"',
    ],
)
def test_the_scan_leaves_docstrings_format_specs_and_measured_figures(source):
    assert message_figures(source) == []
