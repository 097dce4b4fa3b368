"""`reviewscore score --variant auto` vs each fixed variant, end to end, on this machine.

    D=$(mktemp -d)/deploy
    .venv/bin/reviewscore export ../shared/models/minilm-gpu-run --out $D \\
        --quantize int8-dynamic --quantize int8-static
    .venv/bin/python bench/variant_auto.py --deploy $D                 # 20,000 rows, 3 runs
    .venv/bin/python bench/variant_auto.py --deploy $D --rows 300 --runs 1   # a smoke run

1. `reviewscore verify D --all` (its own empty cache): the table of verdicts and speeds
   measured here, and the variant auto would pick.
2. `score --variant auto` once with an empty cache: the start that measures (its extra
   seconds over a cached start are the measurement's cost).
3. Alternating runs, R rounds of: `score --variant auto` (cached now), then every variant
   `verify` could run, by name; each a CLI subprocess from the test file's first N rows to
   an output file. Medians per variant.

Prints which variant auto picked, whether it was the fastest fixed variant end to end (and
by how much the fastest beat it if not), and writes both tables through report.py
(bench/out/variant_auto.json and .md; `--publish`: docs/bench/ and docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import report
from reviewscore.cpu_features import describe_cpu, local_cpu
from reviewscore.deploy_folder import load_manifest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test.tsv.gz"
CLI = [sys.executable, "-m", "reviewscore.cli"]
PICKED = re.compile(r"variant (\S+) \(picked by --variant auto")


def prefix_file(source: Path, rows: int, folder: Path) -> Path:
    """The header and first `rows` rows of `source` (gzip or plain) as a plain TSV."""
    opener = gzip.open if source.suffix == ".gz" else open
    target = folder / f"first-{rows}.tsv"
    with opener(source, "rt", encoding="utf-8") as src, open(target, "w", encoding="utf-8") as out:
        for k, line in enumerate(src):
            if k > rows:
                break
            out.write(line)
    return target


def run(args: list[str], cache: Path) -> tuple[float, str]:
    """(wall seconds, stderr) of one CLI run, with `cache` as REVIEWSCORE_CACHE."""
    env = {**os.environ, "REVIEWSCORE_CACHE": str(cache)}
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return seconds, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    report.add_arguments(parser)
    args = parser.parse_args()
    threads = ["--threads", str(args.threads)] if args.threads else []

    with tempfile.TemporaryDirectory(prefix="variant-auto-") as tmp:
        tmp_dir = Path(tmp)
        source = prefix_file(args.data, args.rows, tmp_dir)
        output = tmp_dir / "scored.csv"

        verify_cache, auto_cache = tmp_dir / "verify-cache", tmp_dir / "auto-cache"
        env = {**os.environ, "REVIEWSCORE_CACHE": str(verify_cache)}
        verify = subprocess.run(
            [*CLI, "verify", str(args.deploy), "--all", "--json", *threads],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        print(verify.stderr, end="")
        verified = json.loads(verify.stdout)
        variants = list(verified["phrases_per_second"])

        score = ["score", str(args.deploy), str(source), "-o", str(output), *threads]
        cold, stderr = run([*score, "--variant", "auto"], auto_cache)
        picked = PICKED.search(stderr)
        if picked is None:
            sys.exit(f"no pick in the auto run's summary:\n{stderr}")
        print(f"cold auto start (measures): {cold:.1f} s; {stderr.splitlines()[0]}")

        times: dict[str, list[float]] = {"auto": [], **{v: [] for v in variants}}
        for round_ in range(args.runs):
            for name in times:
                seconds, _ = run([*score, "--variant", name], auto_cache)
                times[name].append(seconds)
            print(
                f"round {round_ + 1}/{args.runs}: "
                + ", ".join(f"{n} {t[-1]:.1f} s" for n, t in times.items())
            )

    medians = {name: statistics.median(t) for name, t in times.items()}
    manifest = load_manifest(args.deploy, verify=False)
    # what auto may pick without --allow-batch-dependent: passes here, batch-invariant
    eligible = [
        v
        for v in variants
        if verified["variants"][v]["passed"] and manifest.variant(v).batch_invariant
    ]
    fastest = min(eligible or variants, key=medians.get)
    fastest_any = min(variants, key=medians.get)
    rows = args.rows
    print(f"\n{describe_cpu(local_cpu())}, {rows:,} rows, {args.runs} alternating run(s), medians")
    print(f"{'variant':<14}{'seconds':>9}{'phrases/s':>11}{'x fp32':>8}")
    for name, seconds in medians.items():
        ratio = medians.get("fp32", seconds) / seconds
        print(f"{name:<14}{seconds:>9.1f}{rows / seconds:>11,.0f}{ratio:>7.2f}x")
    chosen = picked.group(1)
    verdict = (
        "the fastest end to end of the variants it may pick (passing, batch-invariant)"
        if chosen == fastest
        else f"not the fastest end to end of those it may pick: {fastest} took "
        f"{medians[fastest]:.1f} s vs {medians[chosen]:.1f} s"
    )
    print(f"auto picked {chosen}: {verdict}")
    if fastest_any != fastest:
        print(
            f"fastest of all variants: {fastest_any} ({medians[fastest_any]:.1f} s), which "
            "auto picks only with --allow-batch-dependent"
        )
    print(f"the measuring start took {cold - medians['auto']:+.1f} s over a cached one")

    fp32_here = verified["phrases_per_second"].get("fp32")
    verify_rows = []
    for name in variants:
        figures = verified["variants"][name]
        speed = verified["phrases_per_second"].get(name)
        verify_rows.append(
            [
                name,
                figures["passed"],
                f"{figures['agreement']:.2%}" if figures.get("agreement") is not None else "",
                f"{figures['accuracy_change'] * 100:+.2f}"
                if figures.get("accuracy_change") is not None
                else "",
                manifest.variant(name).batch_invariant,
                speed,
                f"{speed / fp32_here:.2f}x" if speed and fp32_here else "",
            ]
        )
    end_to_end = [
        [
            name,
            f"{seconds:.1f}",
            rows / seconds,
            f"{medians['fp32'] / seconds:.2f}x" if "fp32" in medians else "",
        ]
        for name, seconds in medians.items()
    ]
    tables = [
        report.table(
            "`verify --all` here: the parity gate and the speed of each variant "
            "(model runs over the parity rows, the scorer's batching)",
            [
                "variant",
                "passes here",
                "agreement",
                "accuracy change (points)",
                "batch-invariant",
                "phrases/s here",
                "x fp32",
            ],
            verify_rows,
            note=f"auto would pick: {verified['auto'].get('variant')} "
            f"({verified['auto'].get('why', verified['auto'].get('error', ''))})",
        ),
        report.table(
            f"`score` end to end, {rows:,} test phrases, {args.runs} alternating round(s), "
            "medians (CLI subprocesses, start-up included)",
            ["variant", "seconds", "phrases/s", "x fp32"],
            end_to_end,
            note=f"auto picked {chosen}: {verdict}. The start that measured took "
            f"{cold - medians['auto']:+.1f} s over a cached start.",
        ),
    ]
    figures: dict[str, Any] = {
        "deploy": str(args.deploy),
        "rows": rows,
        "runs": args.runs,
        "threads": args.threads,
        "verify": verified,
        "auto_picked": chosen,
        "fastest_auto_may_pick": fastest,
        "fastest_of_all": fastest_any,
        "cold_auto_seconds": cold,
        "seconds": times,
        "median_seconds": medians,
    }
    report.write("variant_auto", args, tables, figures)


if __name__ == "__main__":
    main()
