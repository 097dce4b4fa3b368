"""What every maintained benchmark writes, and how docs/benchmarks.md gets its tables.

A script adds `add_arguments(parser)` and ends with `write(NAME, args, tables, figures)`: the
result goes out as JSON (the tables, the script's raw figures, the date, the CPU model and
its int8 kernel class, the core count, the library versions, the exact command) and as a
markdown table beside it. By default into bench/out/ (git-ignored). With --publish into
docs/bench/NAME.CLASS.json, one result per CPU class (a new run replaces its own class's
results; another family's stay beside), and docs/benchmarks.md is re-rendered: refreshing a
figure is one command.

    .venv/bin/python bench/report.py        # re-render docs/benchmarks.md from docs/bench/

docs/benchmarks.md marks where each benchmark's tables go with a pair of comments,
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; what lies between them is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from reviewscore.cpu_features import ISA_CLASSES, local_cpu

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PUBLISHED = ROOT / "docs" / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
# The libraries a figure can depend on; a missing one is left out, never imported.
PACKAGES = (
    "reviewscore",
    "onnxruntime",
    "onnxruntime-extensions",
    "tokenizers",
    "numpy",
    "torch",
    "transformers",
    "ray",
    "uvicorn",
)
# Tables of the fastest kernels first, as onnxruntime prefers them.
CLASS_ORDER = [name for name, _ in ISA_CLASSES] + ["other", "unknown"]
MARKER = re.compile(r"(<!-- bench:([\w-]+) -->\n)(.*?)(<!-- /bench:\2 -->)", re.S)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The two options every benchmark shares: where its result goes."""
    parser.add_argument(
        "--results", type=Path, default=OUT, help="Folder for NAME.json and NAME.md."
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="Write to docs/bench/ (replacing this CPU class's result) and re-render "
        "docs/benchmarks.md.",
    )


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def environment() -> dict[str, Any]:
    """Where and when a result was measured, and the command that measured it."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": local_cpu(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_1m": round(os.getloadavg()[0], 1),
        "versions": versions(),
        "command": shlex.join(["python", str(shown), *sys.argv[1:]]),
    }


def table(title: str, columns: list[str], rows: list[list[Any]], note: str = "") -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": rows, "note": note}


def cell(value: Any) -> str:
    """Thousands separators for counts and rates; small ratios and accuracies as given."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(record: dict[str, Any]) -> str:
    """One result as markdown: a caption saying where it was measured, then its tables."""
    cpu = record["cpu"]
    cores = f", {record['cores']} cores" if record.get("cores") else ""
    ort = record.get("versions", {}).get("onnxruntime")
    lines = [
        f"**{cpu.get('cpu', 'unknown')} ({cpu.get('isa_class', 'unknown')}){cores}, "
        f"{record['date']}**" + (f", onnxruntime {ort}" if ort else ""),
        "",
    ]
    if record.get("transcribed"):
        lines += [f"*{record['transcribed']}*", ""]
    lines += [f"`{record['command']}`", ""]
    for part in record["tables"]:
        if part.get("title"):
            lines += [f"*{part['title']}*", ""]
        lines.append("| " + " | ".join(part["columns"]) + " |")
        lines.append("|" + "---|" * len(part["columns"]))
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in part["rows"]]
        lines.append("")
        if part.get("note"):
            lines += [part["note"], ""]
    return "\n".join(lines)


def write(
    name: str,
    args: argparse.Namespace,
    tables: list[dict[str, Any]],
    figures: dict[str, Any] | None = None,
) -> Path:
    """Write the result of benchmark `name`; with --publish, into the docs. Returns the JSON."""
    record = {"bench": name, **environment(), "tables": tables, "figures": figures or {}}
    if args.publish:
        isa = record["cpu"]["isa_class"]
        for old in PUBLISHED.glob(f"{name}.*.json"):  # this CPU class's earlier results
            if json.loads(old.read_text())["cpu"].get("isa_class") == isa:
                old.unlink()
                old.with_suffix(".md").unlink(missing_ok=True)
        folder, stem = PUBLISHED, f"{name}.{isa}"
    else:
        folder, stem = args.results, name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    path.with_suffix(".md").write_text(render(record))
    print(f"\n{render(record)}\nwrote {path} and {path.with_suffix('.md').name}")
    if args.publish:
        render_docs()
    return path


def published(name: str, folder: Path | None = None) -> list[dict[str, Any]]:
    """The published results of benchmark `name`, fastest CPU class first, then by date."""
    folder = folder or PUBLISHED
    records = [json.loads(p.read_text()) for p in folder.glob(f"{name}.*.json")]

    def order(record: dict[str, Any]) -> tuple[int, str]:
        isa = record["cpu"].get("isa_class", "unknown")
        return (CLASS_ORDER.index(isa) if isa in CLASS_ORDER else len(CLASS_ORDER), record["date"])

    return sorted(records, key=order)


def splice(text: str, folder: Path | None = None) -> str:
    """`text` with every marked section replaced by its benchmark's published results."""

    def replace(match: re.Match[str]) -> str:
        records = published(match.group(2), folder)
        body = "\n".join(render(r) for r in records) if records else "(no result published)\n"
        return f"{match.group(1)}\n{body}\n{match.group(4)}"

    return MARKER.sub(replace, text)


def render_docs(doc: Path | None = None, folder: Path | None = None) -> None:
    """Re-render `doc` and the markdown beside each published JSON."""
    doc, folder = doc or DOC, folder or PUBLISHED
    for path in folder.glob("*.json"):
        path.with_suffix(".md").write_text(render(json.loads(path.read_text())))
    doc.write_text(splice(doc.read_text(), folder))
    print(f"rendered {doc} from {folder}/")


if __name__ == "__main__":
    render_docs()
