"""The Node.js client (examples/node/score.mjs) vs `reviewscore score`, end to end, on the
same file, variants and threads: each a fresh process from the input file to Kaggle CSV
(start-up, model load with its sha256 check, reading, tokenising, scoring, writing), run in
turn, best of `--repeats`. Also the CPU seconds each process used (user + system), which a
shared machine's load inflates less than wall time, and whether the outputs are
byte-identical.

    .venv/bin/python bench/node_throughput.py --deploy deploy/NAME   # ../shared/data/test.tsv.gz
    .venv/bin/python bench/node_throughput.py --deploy deploy/NAME --variants fp32,int8-dynamic

Needs node and `npm ci --ignore-scripts` in examples/node. Writes its result with
bench/report.py (bench/out/, or the docs with --publish).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import report
from reviewscore.data import LabelMode, read_reviews
from reviewscore.deploy_folder import load_manifest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test.tsv.gz"
NODE_CLIENT = ROOT / "examples" / "node" / "score.mjs"
CPU_VARIANTS = ("fp32", "int8-dynamic", "int8-static")


def commands(deploy: Path, data: Path, variant: str, threads: int, out: Path) -> dict:
    common = ["--variant", variant, "--threads", str(threads)]
    return {
        "reviewscore score": [
            *[sys.executable, "-m", "reviewscore.cli", "score", str(deploy), str(data)],
            *["--format", "kaggle", "-o", str(out / "python.csv"), *common],
        ],
        "node score.mjs": ["node", str(NODE_CLIENT), str(deploy), str(data), *common],
    }


def run(name: str, command: list[str], out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; the Node client's stdout goes to out/node.csv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(out / "node.csv", "wb") as stdout:
        done = subprocess.run(
            command,
            stdout=stdout if name.startswith("node") else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--variants", help="comma-separated (default: the folder's CPU variants)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    report.add_arguments(parser)
    args = parser.parse_args()

    manifest = load_manifest(args.deploy)
    variants = (
        args.variants.split(",")
        if args.variants
        else [v for v in CPU_VARIANTS if v in manifest.variants]
    )
    rows = len(read_reviews(str(args.data), label_mode=LabelMode.IGNORED))
    load_at_start = round(os.getloadavg()[0], 1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for variant in variants:
            best: dict[str, tuple[float, float]] = {}
            for _ in range(args.repeats):
                for name, command in commands(
                    args.deploy, args.data, variant, args.threads, out
                ).items():
                    timing = run(name, command, out)
                    best[name] = min(best.get(name, timing), timing)
            same = (out / "python.csv").read_bytes() == (out / "node.csv").read_bytes()
            for name, (seconds, cpu) in best.items():
                results.append(
                    {
                        "variant": variant,
                        "client": name,
                        "seconds": round(seconds, 2),
                        "phrases_per_s": round(rows / seconds),
                        "cpu_seconds": round(cpu, 1),
                        "phrases_per_cpu_s": round(rows / cpu),
                        "outputs_identical": same,
                    }
                )
    figures = {
        "threads": args.threads,
        "load_1min": [load_at_start, round(os.getloadavg()[0], 1)],
        "data": str(args.data),
        "rows": rows,
        "deploy": str(args.deploy),
        "repeats": args.repeats,
        "results": results,
    }
    columns = ["variant", "client", "wall s", "phrases/s", "CPU s", "phrases per CPU s", "output"]
    table = [
        [
            r["variant"],
            r["client"],
            r["seconds"],
            r["phrases_per_s"],
            r["cpu_seconds"],
            r["phrases_per_cpu_s"],
            "identical" if r["outputs_identical"] else "DIFFERENT",
        ]
        for r in results
    ]
    note = (
        f"{rows:,} rows of {args.data.name}, each client a fresh process from the file to "
        f"Kaggle CSV, {args.threads} intra-op threads, best of {args.repeats}; 1-min load "
        f"{figures['load_1min'][0]} at start, {figures['load_1min'][1]} at end."
    )
    report.write("node_throughput", args, [report.table("", columns, table, note)], figures)


if __name__ == "__main__":
    main()
