"""Scoring throughput, peers side by side in one run, on the same rows and threads.

    (a) transformers `pipeline`, PyTorch fp32, batch 64 (texts in memory, no file I/O)
    (b) optimum's ORTModelForSequenceClassification through `pipeline`, fp32 and plain
        dynamic int8 (avx2 config), batch 64: bench/optimum_peer.py, run in its own virtual
        environment (--optimum-python) because optimum-onnx needs transformers < 4.58
    (c) `reviewscore score`, end to end: a CLI subprocess from the input file to an output
        file (process start, model load, reading, tokenising, writing all included), for
        every CPU variant of the deploy folder
    (d) model only: `session.run` over pre-tokenised, length-sorted batches of 64 rows, no
        tokenisation, no I/O, on (b)'s int8 file and on each of (c)'s model files, with the
        scorer's session settings

Memory: peak RSS of the scorer process on a file and on the same file repeated 10x; a
streaming scorer's peak stays flat.

    .venv/bin/python bench/score_throughput.py                  # all 66,292 rows, ~10 min
    .venv/bin/python bench/score_throughput.py --rows 20000     # a prefix
    .venv/bin/python bench/score_throughput.py --deploy deploy/NAME
    .venv/bin/python bench/score_throughput.py --optimum-python /tmp/optvenv/bin/python
    .venv/bin/python bench/score_throughput.py --deploy deploy/NAME --publish  # docs + chart
    .venv/bin/python bench/score_throughput.py --chart    # redraw the chart from docs/bench/

The deploy folder is, in order of preference: --deploy as is; --run (default runs/minilm,
the run bench/train_compare.py keeps) exported with fp32, int8-static and int8-dynamic
variants; else a MiniLM with a random 5-class head (speed does not depend on the head's
weights, labels do: accuracy is not measured here).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import report
from reviewscore.data import LabelMode, read_reviews
from reviewscore.deploy_folder import load_manifest
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS, plan_batches
from reviewscore.score.classifier import DeployedClassifier
from reviewscore.score.session import open_session

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "score_throughput"
DATA = ROOT.parent / "shared" / "data"
TRAINED_RUN = ROOT / "runs" / "minilm"
PIPELINE_BATCH = 64
MODEL_ONLY_BATCH = 64
CHART = ROOT / "docs" / "images" / "throughput.png"
CHART_VARIANTS = ("fp32", "int8-dynamic", "int8-static")
CPU_VARIANTS_SKIPPED = {"fp16": "fp16 is the CUDA variant; CPU onnxruntime runs it slower"}


def prefix_file(source: Path, rows: int | None, repeat: int, folder: Path) -> Path:
    """A gzip TSV with the header and the first `rows` data lines of `source`, `repeat` times
    (phrase ids stay as they are: the scorer does not need them unique)."""
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        header = handle.readline()
        body = []
        for line in handle:
            if rows is not None and len(body) >= rows:
                break
            body.append(line)
    target = folder / f"{source.name.split('.')[0]}-{len(body)}x{repeat}.tsv.gz"
    with gzip.open(target, "wt", encoding="utf-8", newline="", compresslevel=1) as handle:
        handle.write(header)
        for _ in range(repeat):
            handle.writelines(body)
    return target


def random_head_run(folder: Path, labelled: Path) -> Path:
    """A run folder holding the packaged MiniLM with a seeded random 5-class head."""
    import torch

    from reviewscore.data import Columns, read_reviews, write_reviews_csv
    from reviewscore.run_folder import RunFolder, RunInfo
    from reviewscore.train.model_load import load_model

    run = RunFolder(folder)
    if run.exists():
        return folder
    torch.manual_seed(0)
    model, tokenizer = load_model("minilm")
    model.save_pretrained(run.model_dir)
    tokenizer.save_pretrained(run.model_dir)
    write_reviews_csv(run.valid_path, read_reviews(str(labelled), limit=2000))
    run.write_info(
        RunInfo(
            base_model="minilm (random head)",
            model_type=model.config.model_type,
            labels=list(model.config.id2label.values()),
            max_length=128,
            columns=Columns().to_dict(),
            stages_total=1,
            stages_completed=1,
        )
    )
    return folder


def build_deploy(run_dir: Path, deploy_dir: Path) -> Path:
    """Export `run_dir` with the CPU variants, unless `deploy_dir` already holds its export."""
    from reviewscore.export.deploy import ExportOptions, export_run

    wanted = {"fp32", "int8-static", "int8-dynamic"}
    if (deploy_dir / "manifest.json").is_file():
        manifest = load_manifest(deploy_dir, verify=False)
        same_run = Path(manifest.source_run or "").resolve() == run_dir.resolve()
        if same_run and wanted <= set(manifest.variants):
            return deploy_dir
    options = ExportOptions(variants=("fp32", "int8-static", "int8-dynamic"))
    export_run(run_dir, deploy_dir, options, echo=lambda line: print(line, file=sys.stderr))
    return deploy_dir


def pipeline_seconds(model_dir: Path, texts: list[str], threads: int) -> float:
    """(a) seconds of transformers' text-classification pipeline on PyTorch fp32."""
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    classify = pipeline("text-classification", model=str(model_dir), device=-1)
    classify(texts[:PIPELINE_BATCH], batch_size=PIPELINE_BATCH, truncation=True)  # warm-up
    started = time.perf_counter()
    classify(texts, batch_size=PIPELINE_BATCH, truncation=True)
    return time.perf_counter() - started


# Linux carries a process's peak RSS across fork and exec, so a scorer started from this
# (torch-loaded) process would report our peak; a small fresh Python starts it instead and
# prints the peak RSS of its child alone.
RSS_WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def scorer_run(
    deploy: Path, data: Path, variant: str, threads: int, output: Path
) -> tuple[int, float, float]:
    """(c) one CLI subprocess, end to end: rows written, wall seconds, peak RSS in MB."""
    command = [
        *(sys.executable, "-c", RSS_WRAPPER),
        *(sys.executable, "-m", "reviewscore.cli", "score", str(deploy), str(data)),
        *("-o", str(output), "--format", "kaggle", "--variant", variant),
        *("--threads", str(threads), "--no-progress"),
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"reviewscore score failed ({result.returncode}):\n{result.stderr}")
    with open(output) as handle:
        rows = sum(1 for _ in handle) - 1
    return rows, seconds, int(result.stdout.split()[-1]) / 1024


def model_only_seconds(
    deploy: Path, variant: str, texts: list[str], threads: int, model_file: Path | None = None
) -> float:
    """(d) seconds of `session.run` alone over length-sorted batches of 64 rows, on the
    variant's file or on `model_file` (same inputs and outputs, e.g. optimum's int8 file)."""
    classifier = DeployedClassifier.open(deploy, variant, threads=threads)
    encoded = classifier.encode(texts)
    order = np.argsort(encoded.lengths, kind="stable")
    feeds = []
    for start in range(0, len(order), MODEL_ONLY_BATCH):
        feeds.append(classifier.feeds(encoded, order[start : start + MODEL_ONLY_BATCH]))
    if model_file is None:
        session = classifier.session.inner
    else:
        session = open_session(model_file, threads=threads).inner
    session.run(["logits"], feeds[-1])  # type: ignore[attr-defined]  # warm-up, longest batch
    started = time.perf_counter()
    for feed in feeds:
        session.run(["logits"], feed)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def optimum_peer(
    python: str, model_dir: Path, texts: list[str], threads: int, folder: Path
) -> dict[str, Any]:
    """(b) in its own interpreter: {rows, fp32_seconds, int8_seconds, int8_file}."""
    texts_file = folder / "peer-texts.txt"
    texts_file.write_text("\n".join(t.replace("\n", " ") for t in texts), encoding="utf-8")
    command = [python, str(ROOT / "bench" / "optimum_peer.py"), str(model_dir), str(texts_file)]
    command += [str(folder / "optimum"), "--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench/optimum_peer.py failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def padded_tokens(lengths: np.ndarray, batch_tokens: int) -> int:
    """Tokens the scorer's token-budget batches feed (real + padding), for the table."""
    return sum(len(rows) * int(lengths[rows].max()) for rows in plan_batches(lengths, batch_tokens))


def draw_chart(path: Path = CHART) -> None:
    """Bars of end-to-end phrases/s per variant, one bar per published result (CPU family),
    each labelled with its CPU, date and cores: the chart on docs/benchmarks.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in report.published("score_throughput") if r["figures"].get("end_to_end")]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(len(records), 1)
    for i, record in enumerate(records):
        rates = record["figures"]["end_to_end"]
        xs = [v + (i - (len(records) - 1) / 2) * width for v in range(len(CHART_VARIANTS))]
        heights = [rates.get(variant, 0) for variant in CHART_VARIANTS]
        cpu = record["cpu"]
        label = f"{cpu['cpu']} ({cpu['isa_class']}), {record['cores']} cores, {record['date'][:10]}"
        bars = ax.bar(xs, heights, width, label=label)
        ax.bar_label(bars, labels=[f"{h:,.0f}" if h else "" for h in heights], fontsize=8)
    ax.set_xticks(range(len(CHART_VARIANTS)), CHART_VARIANTS)
    ax.set_ylabel("phrases/s, end to end")
    ax.set_title("reviewscore score on the Kaggle test file, by variant and CPU")
    ax.legend(fontsize=8, loc="upper right")
    ax.margins(y=0.15)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"drew {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--deploy", type=Path, help="Deploy folder to benchmark as it is.")
    source.add_argument("--run", type=Path, help="Run folder to export (fp32 + int8 variants).")
    parser.add_argument("--data", type=Path, default=DATA / "test.tsv.gz")
    parser.add_argument("--rows", type=int, default=None, help="Use the first N rows only.")
    parser.add_argument("--pipeline-rows", type=int, default=4000, help="Rows for peer (a).")
    parser.add_argument(
        "--memory-rows", type=int, default=10000, help="Rows of the file read 1x and 10x."
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="*", help="Default: the manifest's CPU variants.")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument(
        "--optimum-python", help="Python of a venv with optimum[onnxruntime], for peer (b)."
    )
    parser.add_argument(
        "--chart",
        action="store_true",
        help=f"Only redraw {CHART.relative_to(ROOT)} from the published results, and exit.",
    )
    report.add_arguments(parser)
    args = parser.parse_args()
    if args.chart:
        draw_chart()
        return

    OUT.mkdir(parents=True, exist_ok=True)
    if args.deploy:
        deploy = args.deploy
    else:
        run = args.run or (
            TRAINED_RUN
            if TRAINED_RUN.is_dir()
            else random_head_run(OUT / "run-random-head", DATA / "train.tsv.gz")
        )
        deploy = build_deploy(run, OUT / f"deploy-{run.name}")
    manifest = load_manifest(deploy)
    variants = args.variants or [v for v in manifest.variants if v not in CPU_VARIANTS_SKIPPED]
    model_dir = Path(manifest.source_run or "") / "model"

    load_at_start = round(os.getloadavg()[0], 1)
    results: list[dict[str, Any]] = []

    def record(what: str, rows: int, seconds: float, peak_rss_mb: float | None = None) -> None:
        results.append({"what": what, "rows": rows, "rate": rows / seconds, "rss": peak_rss_mb})
        print(f"  {what}: {rows / seconds:,.0f} phrases/s", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        folder = Path(tmp)
        data = prefix_file(args.data, args.rows, 1, folder)
        texts = read_reviews(str(data), label_mode=LabelMode.IGNORED).texts
        n = len(texts)
        lengths = DeployedClassifier.open(deploy, variants[0], threads=1).encode(texts).lengths
        if not args.skip_pipeline and model_dir.is_dir():
            peer = texts[: args.pipeline_rows]
            seconds = pipeline_seconds(model_dir, peer, args.threads)
            record(f"(a) transformers pipeline fp32 bs{PIPELINE_BATCH}", len(peer), seconds)
        if args.optimum_python and model_dir.is_dir():
            peer = texts[: args.pipeline_rows]
            got = optimum_peer(args.optimum_python, model_dir, peer, args.threads, folder)
            for name in ("fp32", "int8"):
                what = f"(b) optimum ORTModel pipeline {name} bs{PIPELINE_BATCH}"
                record(what, got["rows"], got[f"{name}_seconds"])
            seconds = model_only_seconds(
                deploy, variants[0], texts, args.threads, Path(got["int8_file"])
            )
            record(f"(d) session.run only, (b)'s int8 file, bs{MODEL_ONLY_BATCH}", n, seconds)
        # (d) then (c) per variant, back to back: on a shared machine the load drifts, and
        # the pair that is compared should see the same load.
        end_to_end = {}
        for variant in variants:
            seconds = model_only_seconds(deploy, variant, texts, args.threads)
            record(f"(d) session.run only, {variant}, bs{MODEL_ONLY_BATCH}", n, seconds)
            rows, seconds, rss = scorer_run(deploy, data, variant, args.threads, folder / "o.csv")
            record(f"(c) reviewscore score {variant}, end to end", rows, seconds, rss)
            end_to_end[variant] = rows / seconds
        # Memory does not depend on speed: measure it with the fastest variant.
        fastest = max(end_to_end, key=end_to_end.__getitem__)
        memory_rows = min(args.memory_rows, n)
        for repeat in (1, 10):
            small = prefix_file(args.data, memory_rows, repeat, folder)
            rows, seconds, rss = scorer_run(deploy, small, fastest, args.threads, folder / "m.csv")
            record(f"(c) memory: {fastest}, {memory_rows:,} rows x{repeat}", rows, seconds, rss)

    real = int(lengths.sum())
    fed = padded_tokens(lengths, DEFAULT_BATCH_TOKENS)
    figures = {
        "threads": args.threads,
        "load_average": {"start": load_at_start, "end": round(os.getloadavg()[0], 1)},
        "deploy": str(deploy),
        "source_run": manifest.source_run,
        "data": f"{args.data} ({n:,} rows)",
        "tokens": {"real": real, "fed_by_scorer_batches": fed},
        "end_to_end": end_to_end,
        "results": results,
    }
    rows = [
        [r["what"], r["rows"], round(r["rate"]), round(r["rss"]) if r["rss"] else None]
        for r in results
    ]
    note = (
        f"{n:,} rows of {args.data.name}, {args.threads} intra-op threads, 1-min load "
        f"{load_at_start} at start, {figures['load_average']['end']} at end; the scorer's "
        f"batches fed {fed:,} tokens for {real:,} real ones."
    )
    columns = ["measured", "rows", "phrases/s", "peak RSS MB"]
    report.write("score_throughput", args, [report.table("", columns, rows, note)], figures)
    if args.publish:
        draw_chart()


if __name__ == "__main__":
    main()
