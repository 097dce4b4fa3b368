"""Do the int8 variants give the same logits on another CPU family's kernels?

onnxruntime picks its int8 matrix kernels by CPU: VNNI/AMX on recent Intel, plain AVX2
(u8 x s8 pairs summed into int16, which can saturate) on AMD EPYC before Zen 4. This
scores the same rows with the same ONNX files and saves the logits, so two runs, one on
each family, can be compared. Without a machine of the other family at hand, run it
under an x86 emulator with an AVX2-only CPU model (slow: keep --rows small):

    PY=.venv/bin/python; RUN=../shared/models/minilm-gpu-run; OUT=bench/out
    $PY bench/export_variants.py --run $RUN        # builds $OUT/export_variants
    $PY bench/int8_kernels.py $OUT/export_variants --valid $RUN/valid.csv \\
        --save $OUT/kernels-native.npz
    qemu-x86_64 -cpu EPYC-Rome $PY bench/int8_kernels.py $OUT/export_variants \\
        --valid $RUN/valid.csv --save $OUT/kernels-avx2.npz --label "qemu EPYC-Rome"
    $PY bench/int8_kernels.py --compare $OUT/kernels-native.npz $OUT/kernels-avx2.npz

Identical logits mean the integer arithmetic is exact on both families, so the gate's
figures measured on one hold on the other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from reviewscore.data import read_reviews
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS, plan_batches
from reviewscore.score.classifier import DeployedClassifier


def score_files(work: Path, valid: Path, rows: int, only: list[str]) -> dict[str, np.ndarray]:
    """Logits of the first `rows` validation rows for every ONNX file under `work`,
    batched as the scorer batches."""
    import onnxruntime as ort

    deploy = work / "deploy"
    classifier = DeployedClassifier.open(deploy, "fp32", threads=2)
    texts = read_reviews(str(valid), limit=rows).texts
    encoded = classifier.encode(texts)
    files = sorted([*deploy.glob("*.onnx"), *work.glob("*.onnx")])
    logits = {}
    for file in files:
        name = file.relative_to(work).as_posix()
        if only and not any(part in name for part in only):
            continue
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.log_severity_level = 3
        session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        out = np.empty((len(texts), len(classifier.labels)), dtype=np.float32)
        for batch in plan_batches(encoded.lengths, DEFAULT_BATCH_TOKENS):
            out[batch] = session.run(["logits"], classifier.feeds(encoded, batch))[0]
        logits[name] = out
        print(f"  {name}", flush=True)
    return logits


def compare(first: Path, second: Path) -> None:
    """Per file: how far the logits of the two runs are apart, how many labels differ, and
    each run's agreement with the first run's fp32 labels (fp32 differs between CPU
    families only by summation order, so the emulated run need not repeat it)."""
    a, b = np.load(first), np.load(second)
    print(f"A = {first.name}: {a['label'].item()}   B = {second.name}: {b['label'].item()}")
    reference = a["deploy/model.onnx"].argmax(1)
    print(f"{'file':58s} {'max|diff|':>10s} {'labels moved':>13s} {'agree fp32 A / B':>17s}")
    for name in a.files:
        if name == "label" or name not in b.files:
            continue
        la, lb = a[name], b[name]
        moved = float((la.argmax(1) != lb.argmax(1)).mean())
        agree = [float((x.argmax(1) == reference).mean()) for x in (la, lb)]
        print(
            f"{name:58s} {np.abs(la - lb).max():10.2e} {moved:13.2%} "
            f"{agree[0]:8.2%} / {agree[1]:.2%}"
        )
    print(f"rows: {len(reference)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, nargs="?", help="bench/export_variants.py's folder")
    parser.add_argument("--valid", type=Path, help="the run's valid.csv (the rows scored)")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--only", action="append", default=[], help="substring of file names")
    parser.add_argument("--save", type=Path)
    parser.add_argument(
        "--label", default="native", help="what ran it (under qemu, /proc/cpuinfo is the host's)"
    )
    parser.add_argument("--compare", type=Path, nargs=2)
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if args.work is None or args.save is None or args.valid is None:
        sys.exit("give the export_variants folder, --valid CSV and --save FILE, or --compare A B")
    logits = score_files(args.work, args.valid, args.rows, args.only)
    np.savez(args.save, label=np.array(args.label), **logits)
    print(f"wrote {args.save}")


if __name__ == "__main__":
    main()
