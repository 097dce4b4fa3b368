"""ULMFiT recipe vs plain fine-tune of MiniLM on the real data, at the same budget.

Budget: the same number of training examples seen. The plain recipe does 1 epoch over the
training subset in one stage; ULMFiT does its 4 unfreezing stages at 0.25 epoch each
(its stages walk through one shuffled epoch without repeats). Both use the same grouped
split (seed), the same training sentences (--train-rows, whole sentences) and the same
validation sentences (10% of all sentences, not limited by --train-rows).

Each run is a real `reviewscore train` run folder under runs/; the most accurate one is
moved to runs/minilm (the folder export and score benchmark against).

    .venv/bin/python bench/train_compare.py            # ~25-35 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

import report
from reviewscore.files import read_json
from reviewscore.train.config import build_config
from reviewscore.train.loop import train
from reviewscore.training_history import TrainingHistory

ROOT = Path(__file__).resolve().parents[1]


def parse_runs(text: str) -> list[tuple[str, float, dict[str, float]]]:
    """'plain:2e-4,ulmfit:1e-3:lr_decay=1.2' -> [(recipe, peak lr, other options)]."""
    runs = []
    for item in text.split(","):
        recipe, lr, *extra = item.strip().split(":")
        options = {k: float(v) for k, v in (e.split("=") for e in extra)}
        runs.append((recipe, float(lr), options))
    return runs


def run_name(recipe: str, lr: float, options: dict[str, float]) -> str:
    return "-".join([recipe, f"{lr:g}"] + [f"{k}{v:g}" for k, v in options.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/train.tsv.gz"))
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--train-rows", type=int, default=40_000)
    parser.add_argument(
        "--runs",
        default="plain:2e-4,ulmfit:2e-4,ulmfit:1e-3",
        help="recipe:peak-lr pairs; the same peak lr for both recipes is the fair pair",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep-as", default=str(ROOT / "runs/minilm"))
    report.add_arguments(parser)
    args = parser.parse_args()

    results = []
    for recipe, lr, options in parse_runs(args.runs):
        stages = 4 if recipe == "ulmfit" else 1
        config = build_config(
            recipe,
            {
                "data": args.data,
                "model": args.model,
                "lr": lr,
                "epochs": 1.0 / stages,
                "limit_rows": args.train_rows,
                "seed": args.seed,
                **options,  # e.g. epochs=0.5: a larger budget, shown in the epochs column
            },
        )
        name = run_name(recipe, lr, options)
        out = ROOT / f"runs/bench-{name}"
        print(f"== {name}: {out}", flush=True)
        started = time.perf_counter()
        run = train(config, out, overwrite=True, echo=lambda line: print(line, flush=True))
        wall = time.perf_counter() - started
        metrics = read_json(run.metrics_path)
        history = TrainingHistory.load(run.history_path)
        results.append(
            {
                "name": name,
                "recipe": recipe,
                "peak_lr": lr,
                "options": options,
                "epochs_total": config.epochs * stages,
                "stages": stages,
                "epochs_per_stage": config.epochs,
                "optimizer_steps": len(history.steps),
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "recall": metrics["recall"],
                "valid_rows": metrics["rows"],
                "train_seconds": metrics["train_seconds"],
                "wall_seconds": wall,
                "per_stage": [
                    {
                        "stage": e.stage,
                        "unfreeze": e.unfreeze,
                        "accuracy": e.accuracy,
                        "macro_f1": e.macro_f1,
                        "valid_loss": e.valid_loss,
                    }
                    for e in history.epochs
                ],
                "run_dir": str(out),
            }
        )

    best = max(results, key=lambda r: r["accuracy"])
    keep = Path(args.keep_as)
    kept_accuracy = read_json(keep / "metrics.json")["accuracy"] if keep.exists() else -1.0
    kept_now = best["accuracy"] > kept_accuracy
    if kept_now:  # the kept run only ever gets better
        if keep.exists():
            shutil.rmtree(keep)
        shutil.move(best["run_dir"], keep)
        best["run_dir"] = str(keep)
        print(f"kept {best['name']} as {keep}")
    else:
        print(f"{keep} is more accurate ({kept_accuracy:.4f}); left as it is")

    rows = [
        [
            r["name"],
            r["epochs_total"],
            f"{r['accuracy']:.4f}",
            f"{r['macro_f1']:.4f}",
            round(r["wall_seconds"]),
            round(r["train_seconds"]),
        ]
        for r in results
    ]
    columns = ["run (recipe-peak lr)", "epochs", "accuracy", "macro-F1", "wall s", "train s"]
    note = (
        f"MiniLM, {args.train_rows:,} training phrases (whole sentences), the same validation "
        f"sentences for every run; {torch.get_num_threads()} torch threads."
    )
    figures = {
        "data": args.data,
        "model": args.model,
        "train_rows_limit": args.train_rows,
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "kept": str(keep),
        "kept_from_this_invocation": best["name"] if kept_now else None,
        "results": results,
    }
    report.write("train_compare", args, [report.table("", columns, rows, note)], figures)


if __name__ == "__main__":
    main()
