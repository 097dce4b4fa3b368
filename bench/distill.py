"""Distilled students vs their teacher: accuracy, size and end-to-end scoring speed.

Teacher: ../shared/models/minilm-gpu-run (MiniLM-L6, trained on a GPU on 90% of the train
sentences). Its held-out 10% cannot be rebuilt (this code's seeded split gives another 10%),
so the only rows it provably never trained on are its own `valid.csv` (13,998 phrases):
every model here is scored on those. Students are distilled on train.tsv.gz minus the
sentences of that valid.csv (`distill` would leave them out anyway; the file makes the
subset exact), a seeded subset of whole sentences (--limit-rows), one epoch.

For each model, in one run on the same CPU: `reviewscore export` (fp32 and int8-dynamic),
then `reviewscore score DEPLOY valid.csv --evaluate` per variant: accuracy and macro-F1 from
its output, and phrases/s end to end from the subprocess's wall time, start to exit
(process start, model load, reading, tokenising, scoring, writing). Rounds alternate
between the models so a load change on a shared machine hits them all; the best round
counts.

    .venv/bin/python bench/distill.py                        # students 3,2,4 bottom + 3 spread
    .venv/bin/python bench/distill.py --students 3:bottom --limit-rows 15000 --reuse
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import report
from reviewscore.deploy_folder import is_deploy_folder, load_manifest
from reviewscore.files import read_json
from reviewscore.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "distill"
SHARED = ROOT.parent / "shared"
TEACHER = SHARED / "models" / "minilm-gpu-run"
DATA = SHARED / "data"
VARIANTS = ("fp32", "int8-dynamic")
CLI = [sys.executable, "-m", "reviewscore.cli"]


def run(args: list[Any], **kwargs: Any) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(list(map(str, args)), env=env, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(map(str, args))}\n{done.stderr[-2000:]}")
    return done


def training_file(out: Path) -> Path:
    """train.tsv.gz without the sentences of the teacher's valid.csv."""
    path = out / "train-minus-teacher-valid.tsv"
    if path.is_file():
        return path
    with open(TEACHER / "valid.csv", encoding="utf-8") as handle:
        valid = {row["SentenceId"] for row in csv.DictReader(handle)}
    tmp = path.with_suffix(".tmp")
    with (
        gzip.open(DATA / "train.tsv.gz", "rt", encoding="utf-8") as src,
        open(tmp, "w", encoding="utf-8") as dst,
    ):
        dst.write(next(src))
        dst.writelines(line for line in src if line.split("\t")[1] not in valid)
    tmp.rename(path)
    return path


def distill_student(spec: str, data: Path, args: argparse.Namespace) -> Path:
    layers, keep = spec.split(":")
    student = args.runs / f"student-{layers}-{keep}"
    if args.reuse and (student / "metrics.json").is_file():
        return student
    started = time.perf_counter()
    run(
        [*CLI, "distill", TEACHER, "--data", data, "--layers", layers, "--keep", keep,
         "--out", student, "--overwrite", "--limit-rows", args.limit_rows,
         "--limit-valid-rows", 1000, "--freeze-embeddings", "--cache", args.runs / "cache",
         "--temperature", args.temperature, "--alpha", args.alpha, "--lr", args.lr]
    )  # fmt: skip
    print(f"distilled {student.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return student


def export(run_dir: Path, name: str, args: argparse.Namespace) -> Path:
    deploy = args.out / f"deploy-{name}"
    if not (args.reuse and is_deploy_folder(deploy)):
        # int8 figures, not a gate: a student's int8 may lose more than the gate allows, and
        # that loss is what the bench measures
        run([*CLI, "export", run_dir, "--out", deploy, "--quantize", "int8-dynamic",
             "--min-agreement", "0", "--max-accuracy-drop", "1", "--parity-rows", 200])  # fmt: skip
    return deploy


def model_facts(run_dir: Path, deploy: Path) -> dict[str, Any]:
    """Layers, distillation time and variant sizes of a run and its export, through the
    run folder's and the deploy folder's loaders (checked, hashes included)."""
    run = RunFolder(run_dir)
    d = run.read_info().distillation or {}
    metrics = read_json(run.metrics_path)
    manifest = load_manifest(deploy)
    return {
        "layers": read_json(run.model_dir / "config.json")["num_hidden_layers"],
        "layers_kept": d.get("layers_kept"),
        "distill_seconds": metrics["train_seconds"] + d["teacher_logits_seconds"] if d else None,
        "size_mb": {v: (deploy / manifest.variant(v).file).stat().st_size / 1e6 for v in VARIANTS},
        "valid": {},
        "phrases_per_s": {v: [] for v in VARIANTS},
    }


def validation_file(out: Path, rows: int | None) -> Path:
    """The teacher's valid.csv, or its first `rows` rows (whole file order, PhraseId)."""
    if rows is None:
        return TEACHER / "valid.csv"
    path = out / f"valid-{rows}.csv"
    with open(TEACHER / "valid.csv", encoding="utf-8", newline="") as src:
        table = list(csv.reader(src))
    with open(path, "w", encoding="utf-8", newline="") as dst:
        csv.writer(dst).writerows(table[: rows + 1])
    return path


def score(deploy: Path, variant: str, valid: Path, threads: int) -> tuple[dict[str, float], float]:
    """(accuracy and macro-F1 on `valid`, phrases/s from process start to exit)."""
    started = time.perf_counter()
    done = run(
        [*CLI, "score", deploy, valid, "--evaluate", "--variant", variant,
         "--threads", threads, "-o", os.devnull]
    )  # fmt: skip
    seconds = time.perf_counter() - started
    text = done.stdout + done.stderr
    found = re.search(r"accuracy (\d\.\d+)\s+macro-F1 (\d\.\d+)", text)
    rows = re.search(r"rows ([\d,]+)\s+accuracy", text)
    assert found and rows, text
    scored = int(rows.group(1).replace(",", ""))
    metrics = {"accuracy": float(found.group(1)), "macro_f1": float(found.group(2)), "rows": scored}
    return metrics, scored / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", default="3:bottom,2:bottom,4:bottom,3:spread")
    parser.add_argument("--limit-rows", type=int, default=15000)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--valid-rows", type=int, help="Score only the first N of valid.csv.")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "distill")
    parser.add_argument("--out", type=Path, default=OUT, help="Work folder (validation rows).")
    parser.add_argument("--reuse", action="store_true", help="Keep existing runs and exports.")
    report.add_arguments(parser)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs.mkdir(parents=True, exist_ok=True)

    data = training_file(args.runs)
    models = {"teacher": TEACHER}
    for spec in args.students.split(","):
        student = distill_student(spec, data, args)
        models[student.name] = student
    deploys = {name: export(path, name, args) for name, path in models.items()}

    results = {name: model_facts(path, deploys[name]) for name, path in models.items()}
    valid = validation_file(args.out, args.valid_rows)
    for _ in range(args.rounds):
        for variant in VARIANTS:
            for name in models:
                metrics, rate = score(deploys[name], variant, valid, args.threads)
                results[name]["valid"][variant] = metrics
                results[name]["phrases_per_s"][variant].append(rate)
                print(name, variant, metrics, f"{rate:.0f} phrases/s", flush=True)

    best = {n: {v: max(r["phrases_per_s"][v]) for v in VARIANTS} for n, r in results.items()}
    rows = []
    for name, r in results.items():
        ratio = {v: best[name][v] / best["teacher"][v] for v in VARIANTS}
        kept = f" {r['layers_kept']}" if r["layers_kept"] else ""
        rows.append(
            [
                name,
                f"{r['layers']}{kept}",
                " / ".join(f"{r['size_mb'][v]:.1f}" for v in VARIANTS),
                " / ".join(f"{r['valid'][v]['accuracy']:.4f}" for v in VARIANTS),
                " / ".join(f"{r['valid'][v]['macro_f1']:.4f}" for v in VARIANTS),
                *(f"{best[name][v]:,.0f} ({ratio[v]:.2f}x)" for v in VARIANTS),
                round(r["distill_seconds"]) if r["distill_seconds"] else None,
            ]
        )
    columns = [
        "model",
        "layers",
        "size fp32 / int8 MB",
        "accuracy fp32 / int8",
        "macro-F1 fp32 / int8",
        "phrases/s fp32 (x teacher)",
        "phrases/s int8 (x teacher)",
        "distill s",
    ]
    note = (
        f"Scored on {valid.name} ({results['teacher']['valid']['fp32']['rows']:,} rows) "
        f"end to end, {args.threads} threads, best of {args.rounds} rounds; students "
        f"distilled on {args.limit_rows:,} training phrases, T {args.temperature}, "
        f"alpha {args.alpha}, lr {args.lr}."
    )
    figures = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}
    report.write("distill", args, [report.table("", columns, rows, note)], figures)


if __name__ == "__main__":
    main()
