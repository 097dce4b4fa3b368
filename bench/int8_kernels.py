"""Do the int8 variants give the same logits on another CPU family's kernels?

onnxruntime picks its int8 matrix kernels by CPU: VNNI/AMX on recent Intel, plain AVX2
(u8 x s8 pairs summed into int16, which can saturate) on AMD EPYC before Zen 4. This
scores the same batches with the same ONNX files and saves the logits, so two runs, one on
each family, can be compared. Without a machine of the other family at hand, run the
second under an x86 emulator with an AVX2-only CPU model. Emulation is slow (on one core
about 1 s a row for int8-dynamic, 18 s for int8-static), so the rows are encoded and
batched once, natively, by the scorer's own classifier, and the runs only load those feeds
and call onnxruntime:

    PY=.venv/bin/python; RUN=../shared/models/minilm-gpu-run; OUT=bench/out
    $PY bench/export_variants.py --run $RUN        # builds $OUT/export_variants
    $PY bench/int8_kernels.py feeds $OUT/export_variants $RUN/valid.csv $OUT/feeds.npz
    $PY bench/int8_kernels.py run $OUT/export_variants $OUT/feeds.npz $OUT/native.npz
    REVIEWSCORE_EXACT_INT8=0 qemu-x86_64 -cpu EPYC-Rome $PY bench/int8_kernels.py run \\
        $OUT/export_variants $OUT/feeds.npz $OUT/avx2.npz --label "qemu EPYC-Rome" --only int8
    $PY bench/int8_kernels.py compare $OUT/native.npz $OUT/avx2.npz

Sessions are opened as the scorer opens them (score/session.py), so on a CPU without VNNI
or AMX onnxruntime is asked for exact int8 products. qemu-user shows the host's
/proc/cpuinfo, so under emulation say which to measure: REVIEWSCORE_EXACT_INT8=0 for the
kernels onnxruntime picks by itself, =1 for what the scorer runs on such a CPU.

Identical logits mean the integer arithmetic is exact on both families, so the parity
figures measured on one hold on the other.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REFERENCE = "deploy/model.onnx"  # the fp32 variant


def write_feeds(work: Path, valid: Path, rows: int, out: Path) -> None:
    """The first `rows` rows of `valid`, encoded, sorted and batched as `score` does."""
    from reviewscore.data import read_reviews
    from reviewscore.score.batching import DEFAULT_BATCH_TOKENS, plan_batches
    from reviewscore.score.classifier import DeployedClassifier

    classifier = DeployedClassifier.open(work / "deploy", "fp32", threads=2)
    encoded = classifier.encode(read_reviews(str(valid), limit=rows).texts)
    arrays = {}
    for i, batch in enumerate(plan_batches(encoded.lengths, DEFAULT_BATCH_TOKENS)):
        arrays[f"{i}/rows"] = batch
        arrays.update({f"{i}/{k}": v for k, v in classifier.feeds(encoded, batch).items()})
    np.savez(out, n_rows=len(encoded), n_labels=len(classifier.labels), **arrays)
    print(f"wrote {out}: {len(encoded)} rows")


def run_files(work: Path, feeds_file: Path, out: Path, label: str, only: list[str]) -> None:
    """Logits in row order for every ONNX file under `work` whose name contains one of
    `only` (all when empty). Edge files (`export --edge`) take strings, not these feeds,
    so a deploy folder's are skipped."""
    from reviewscore.score.session import exact_int8_wanted, open_session

    label = f"{label}, exact int8 mode" if exact_int8_wanted() else label
    stored = np.load(feeds_file)
    batches: dict[str, dict[str, np.ndarray]] = {}
    for key in stored.files:
        if "/" in key:
            index, name = key.split("/")
            batches.setdefault(index, {})[name] = stored[key]
    shape = (int(stored["n_rows"]), int(stored["n_labels"]))
    logits = {}
    for file in sorted([*(work / "deploy").glob("*.onnx"), *work.glob("*.onnx")]):
        name = file.relative_to(work).as_posix()
        if ".edge." in name or (only and not any(part in name for part in only)):
            continue
        session = open_session(file, provider="cpu", threads=2).inner
        inputs = {i.name for i in session.get_inputs()}
        result = np.empty(shape, dtype=np.float32)
        for batch in batches.values():
            feeds = {k: v for k, v in batch.items() if k in inputs}
            result[batch["rows"]] = session.run(["logits"], feeds)[0]
        logits[name] = result
        np.savez(out, label=np.array(label), **logits)  # after each file: emulation is slow
        print(f"  {name} (written to {out})", flush=True)


def compare(first: Path, second: Path) -> None:
    """Per file: how far the logits of the two runs are apart, how many labels differ, and
    each run's agreement with the first run's fp32 labels (fp32 differs between CPU
    families only by summation order, so the emulated run need not repeat it)."""
    a, b = np.load(first), np.load(second)
    print(f"A = {first.name}: {a['label'].item()}   B = {second.name}: {b['label'].item()}")
    reference = a[REFERENCE].argmax(1)
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
    commands = parser.add_subparsers(dest="command", required=True)
    feeds = commands.add_parser("feeds", help="encode and batch rows once, natively")
    feeds.add_argument("work", type=Path, help="bench/export_variants.py's folder")
    feeds.add_argument("valid", type=Path, help="the run's valid.csv")
    feeds.add_argument("out", type=Path)
    feeds.add_argument("--rows", type=int, default=300)
    run = commands.add_parser("run", help="logits of every file for those feeds")
    run.add_argument("work", type=Path)
    run.add_argument("feeds", type=Path)
    run.add_argument("out", type=Path)
    run.add_argument("--label", default="native", help="what ran it")
    run.add_argument("--only", action="append", default=[], help="substring of file names")
    pair = commands.add_parser("compare", help="two runs' logits side by side")
    pair.add_argument("first", type=Path)
    pair.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "feeds":
        write_feeds(args.work, args.valid, args.rows, args.out)
    elif args.command == "run":
        run_files(args.work, args.feeds, args.out, args.label, args.only)
    else:
        compare(args.first, args.second)


if __name__ == "__main__":
    main()
