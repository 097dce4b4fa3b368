"""Strings-in (edge) variants vs the scorer's engine, on the same rows, threads and CPU.

For each fp32/int8 variant that has an edge twin in the deploy folder (`export --edge`):

    scorer          DeployedClassifier.logits: the `tokenizers` batch call, length sort,
                    token-budget batches (what `reviewscore score` runs, without file I/O)
    edge, 64 in order   the edge file, 64 texts a run in input order (an app's batches:
                    each padded to its longest text)
    edge, 64 sorted the edge file, 64 texts a run after sorting by character length (what
                    an app can do to pad less)
    edge, 1 a run   one text per run (interactive use), on the first --single-rows rows

plus the in-graph tokenizer alone against the `tokenizers` batch call, the file sizes, and
the labels of the edge runs compared with the scorer's (batch-invariant variants must agree
on every row; int8-dynamic's labels depend on the batch on both sides).

    .venv/bin/python bench/edge_throughput.py --deploy deploy/minilm-gpu --rows 10000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import report
from reviewscore.data import read_reviews
from reviewscore.deploy_folder import Manifest, load_manifest
from reviewscore.export.edge.check import edge_logits, open_edge_session
from reviewscore.export.edge.names import scoped
from reviewscore.export.edge.variants import edge_name, edge_tokenizer
from reviewscore.score.classifier import DeployedClassifier

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test.tsv.gz"


def best_rate(rows: int, rounds: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Rows per second of the fastest of `rounds` runs, and the last run's result."""
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return rows / best, result


def sorted_edge_logits(session: Any, texts: list[str]) -> np.ndarray:
    order = np.argsort([len(text) for text in texts], kind="stable")
    logits = edge_logits(session, [texts[i] for i in order], 64)
    out = np.empty_like(logits)
    out[order] = logits
    return out


def tokenizer_rates(deploy: Path, manifest: Manifest, texts: list[str], threads: int):
    graph = edge_tokenizer(deploy, manifest)
    session = open_edge_session(graph.SerializeToString(), threads)
    name = [scoped("input_ids")]
    chunks = [texts[i : i + 64] for i in range(0, len(texts), 64)]
    in_graph, _ = best_rate(
        len(texts),
        3,
        lambda: [session.run(name, {"text": np.array(c, dtype=object)}) for c in chunks],
    )
    scorer = DeployedClassifier.open(deploy, threads=threads)
    rust, _ = best_rate(len(texts), 3, lambda: scorer.encode(texts))
    return in_graph, rust


def measure(
    deploy: Path,
    manifest: Manifest,
    base: str,
    texts: list[str],
    single: list[str],
    threads: int,
    rounds: int,
) -> dict[str, float]:
    """One variant and its edge twin: sizes, rates, labels against the scorer's."""
    edge_entry = manifest.variant(edge_name(base))
    scorer = DeployedClassifier.open(deploy, base, threads=threads)
    session = open_edge_session(deploy / edge_entry.file, threads)
    n = len(texts)
    scorer_rate, expected = best_rate(n, rounds, lambda: scorer.logits(texts))
    in_order, logits = best_rate(n, rounds, lambda: edge_logits(session, texts, 64))
    by_length, by_length_logits = best_rate(n, rounds, lambda: sorted_edge_logits(session, texts))
    one, _ = best_rate(len(single), 1, lambda: edge_logits(session, single, 1))
    encoded = scorer.encode(single)
    one_row = [np.array([i]) for i in range(len(single))]
    scorer_one, _ = best_rate(
        len(single), 1, lambda: scorer.logits_encoded(encoded, batches=one_row)
    )
    labels = expected.argmax(axis=1)
    return {
        "file_mb": (deploy / manifest.variant(base).file).stat().st_size / 1e6,
        "edge_file_mb": (deploy / edge_entry.file).stat().st_size / 1e6,
        "scorer": scorer_rate,
        "edge_64_in_order": in_order,
        "edge_64_sorted": by_length,
        "edge_1": one,
        "scorer_1": scorer_one,
        "labels_equal_in_order": float((logits.argmax(axis=1) == labels).mean()),
        "labels_equal_sorted": float((by_length_logits.argmax(axis=1) == labels).mean()),
        "max_abs_logit_diff_in_order": float(np.abs(logits - expected).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy", type=Path, required=True, help="exported with --edge")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--single-rows", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    report.add_arguments(parser)
    args = parser.parse_args()

    manifest = load_manifest(args.deploy)
    texts = read_reviews(str(args.data), limit=args.rows).texts[: args.rows]
    single = texts[: args.single_rows]
    results: dict[str, Any] = {"rows": len(texts), "threads": args.threads, "variants": {}}
    bases = [v for v in manifest.variants if edge_name(v) in manifest.variants]
    rows = []
    for base in bases:
        row = measure(args.deploy, manifest, base, texts, single, args.threads, args.rounds)
        results["variants"][base] = row
        rows.append(
            [
                base,
                f"{row['file_mb']:.1f}",
                f"{row['edge_file_mb']:.1f}",
                round(row["scorer"]),
                round(row["edge_64_in_order"]),
                round(row["edge_64_sorted"]),
                round(row["edge_1"]),
                round(row["scorer_1"]),
                f"{row['labels_equal_in_order']:.2%} / {row['labels_equal_sorted']:.2%}",
            ]
        )
        print(rows[-1], flush=True)
    in_graph, rust = tokenizer_rates(args.deploy, manifest, texts, args.threads)
    results["tokenizer"] = {"in_graph_64": in_graph, "tokenizers_batch": rust}
    columns = [
        "variant",
        "file MB",
        "edge file MB",
        "scorer",
        "edge, 64 a run in file order",
        "edge, 64 a run sorted by length",
        "edge, 1 a run",
        "scorer, 1 a run",
        "edge labels = scorer's (in order / sorted)",
    ]
    note = (
        f"Phrases/s, {len(texts):,} rows of {args.data.name} ({len(single):,} for one a run), "
        f"{args.threads} intra-op threads, best of {args.rounds} passes. The tokenizer alone: "
        f"in the graph (64 a run) {in_graph:,.0f} phrases/s, `tokenizers`' batch call "
        f"{rust:,.0f}/s."
    )
    report.write("edge_throughput", args, [report.table("", columns, rows, note)], results)


if __name__ == "__main__":
    main()
