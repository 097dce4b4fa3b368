"""`reviewscore score --engine ray` vs the single-process scorer, same file, same machine.

Three CLI subprocesses on the same prefix of the test file, end to end (process start,
Ray start, model load, reading, scoring, writing all included):

    local      `reviewscore score` (the local engine), --threads T
    ray 1 x T  --engine ray --actors 1 --threads T: the engine's overhead on one machine
    ray N x 1  --engine ray --actors N --threads 1: the same cores as N model sessions

Rows/s are rows over each subprocess's wall time; "job rows/s" is what the run itself
reports (from reading the first row; Ray's own start-up is not in it). On one machine this
measures overhead, not scale-out: see docs/ray.md for how to measure a real cluster.

    .venv/bin/python bench/score_ray.py --deploy deploy/NAME                # 20,000 rows
    .venv/bin/python bench/score_ray.py --deploy deploy/NAME --rows 66292   # the whole file

--deploy is required (a deploy folder from `reviewscore export`; only read), as for the
other bench scripts.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import report
from score_throughput import prefix_file

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SUMMARY = re.compile(r"scored ([\d,]+) rows in ([\d.]+) s \(([\d,]+) rows/s\)")


def run_scorer(deploy: Path, data: Path, output: Path, variant: str, extra: list[str]) -> dict:
    """One `reviewscore score` subprocess: rows, wall seconds, and its own summary line."""
    command = [sys.executable, "-m", "reviewscore.cli", "score", str(deploy), str(data)]
    command += ["-o", str(output), "--format", "tsv", "--variant", variant, "--no-progress"]
    started = time.perf_counter()
    result = subprocess.run([*command, *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command + extra)} failed:\n{result.stderr}")
    found = SUMMARY.search(result.stderr)
    if found is None:
        raise SystemExit(f"no summary line in:\n{result.stderr}")
    rows = int(found[1].replace(",", ""))
    return {"rows": rows, "wall_s": seconds, "job_rows_per_s": float(found[3].replace(",", ""))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA / "test.tsv.gz")
    parser.add_argument("--rows", type=int, default=20000, help="Use the first N rows.")
    parser.add_argument("--variant", default="fp32")
    parser.add_argument("--threads", type=int, default=2, help="Cores to use (T).")
    report.add_arguments(parser)
    args = parser.parse_args()

    threads = args.threads
    cases = [
        ("local", f"1 x {threads}", ["--threads", str(threads)]),
        ("ray", f"1 x {threads}", ["--engine", "ray", "--actors", "1", "--threads", str(threads)]),
        ("ray", f"{threads} x 1", ["--engine", "ray", "--actors", str(threads), "--threads", "1"]),
    ]
    load_at_start = round(os.getloadavg()[0], 1)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="score-ray-bench-") as tmp:
        folder = Path(tmp)
        data = prefix_file(args.data, args.rows, 1, folder)
        for k, (engine, layout, extra) in enumerate(cases):
            output = folder / (f"out{k}.tsv" if engine == "local" else f"out{k}")
            run = run_scorer(args.deploy, data, output, args.variant, extra)
            results.append({"engine": engine, "actors_x_threads": layout, **run})
            rate = run["rows"] / run["wall_s"]
            print(f"  {engine} {layout}: {rate:,.0f} rows/s", file=sys.stderr)
    base = results[0]["rows"] / results[0]["wall_s"]
    base_job = results[0]["job_rows_per_s"]
    figures = {
        "load_avg_1m": [load_at_start, round(os.getloadavg()[0], 1)],
        "deploy": str(args.deploy),
        "variant": args.variant,
        "data": f"{args.data.name}, first {args.rows} rows",
        "results": results,
    }
    rows = []
    for r in results:
        rate = r["rows"] / r["wall_s"]
        rows.append(
            [
                r["engine"],
                r["actors_x_threads"],
                r["rows"],
                round(rate),
                f"{rate / base:.2f}",
                round(r["job_rows_per_s"]),
                f"{r['job_rows_per_s'] / base_job:.2f}",
            ]
        )
    columns = [
        "engine",
        "actors x threads",
        "rows",
        "rows/s",
        "vs local",
        "job rows/s",
        "vs local",
    ]
    note = (
        f"Variant {args.variant}; rows/s: the command's wall time; job rows/s: from the first "
        f"row read, Ray's own start excluded; 1-min load {figures['load_avg_1m'][0]} at start, "
        f"{figures['load_avg_1m'][1]} at end."
    )
    report.write("score_ray", args, [report.table("", columns, rows, note)], figures)


if __name__ == "__main__":
    main()
