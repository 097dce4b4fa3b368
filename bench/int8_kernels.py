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

A whole parity check is too slow to emulate for int8-static (1,000 rows, ~5 hours on one
core). What can move its figures is a label near a margin, so `parity-feeds` takes a deploy
folder's stored parity rows in `verify`'s own batches and keeps only the rows whose native
margin (top logit minus the next) is below `--max-margin` (and not below `--min-margin`, to
run ranges side by side), each padded as in its verify batch; a batch-invariant variant gives
those rows the very logits it gives them in the full batches, so their emulated labels are
the ones an emulated `verify` would print:

    D=deploy/minilm-gpu
    $PY bench/int8_kernels.py parity-feeds $D int8-static $OUT/low.npz --max-margin 0.25
    $PY bench/int8_kernels.py run $D $OUT/low.npz $OUT/low-native.npz --only int8-static
    REVIEWSCORE_EXACT_INT8=1 qemu-x86_64 -cpu EPYC-Rome $PY bench/int8_kernels.py run $D \\
        $OUT/low.npz $OUT/low-avx2.npz --label "qemu EPYC-Rome" --only int8-static
    $PY bench/int8_kernels.py compare $OUT/low-native.npz $OUT/low-avx2.npz \\
        --parity $D/parity_reference.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REFERENCE = "deploy/model.onnx"  # the fp32 variant, in export_variants.py's folder


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


def write_parity_feeds(deploy: Path, variant: str, margins: tuple[float, float], out: Path) -> None:
    """The rows of `deploy`'s parity reference whose native margin with `variant` lies in
    [low, high) of `margins`, sliced out of verify's batches (each with its batch's padded
    width). Only for a batch-invariant variant: a dynamic one scales activations per batch, so a
    sliced batch would not give the rows their verify logits."""
    from reviewscore.deploy_folder import load_manifest
    from reviewscore.parity_figures import LARGE_BATCH_TOKENS
    from reviewscore.parity_reference import read_reference
    from reviewscore.score.batching import plan_batches
    from reviewscore.score.classifier import DeployedClassifier

    manifest = load_manifest(deploy, verify=True)
    if not manifest.variant(variant).batch_invariant:
        raise SystemExit(f"{variant} is not batch-invariant: its rows cannot be sliced out")
    reference = read_reference(deploy / manifest.parity_reference, len(manifest.labels))
    classifier = DeployedClassifier.open(deploy, variant, threads=2)
    encoded = classifier.encode(reference.texts)
    batches = list(plan_batches(encoded.lengths, LARGE_BATCH_TOKENS))  # verify's
    ranked = np.sort(classifier.logits_encoded(encoded, batches=batches), axis=1)
    margin = ranked[:, -1] - ranked[:, -2]
    selected = (margin >= margins[0]) & (margin < margins[1])
    arrays = {}
    for i, rows in enumerate(batches):
        keep = selected[rows]
        if keep.any():
            arrays[f"{i}/rows"] = rows[keep]
            feeds = classifier.feeds(encoded, rows)
            arrays.update({f"{i}/{name}": array[keep] for name, array in feeds.items()})
    np.savez(out, n_rows=len(encoded), n_labels=len(classifier.labels), **arrays)
    print(f"wrote {out}: {int(selected.sum())} of {len(encoded)} rows, margin in {margins}")


def run_files(work: Path, feeds_file: Path, out: Path, label: str, only: list[str]) -> None:
    """Logits in row order for every ONNX file under `work` (export_variants.py's folder or
    a deploy folder) whose name contains one of `only` (all when empty); NaN for rows the
    feeds leave out. Edge files (`export --edge`) take strings, not these feeds: skipped."""
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
        result = np.full(shape, np.nan, dtype=np.float32)
        for batch in batches.values():
            feeds = {k: v for k, v in batch.items() if k in inputs}
            result[batch["rows"]] = session.run(["logits"], feeds)[0]
        logits[name] = result
        np.savez(out, label=np.array(label), **logits)  # after each file: emulation is slow
        print(f"  {name} (written to {out})", flush=True)


def compare(first: Path, second: Path, parity: Path | None) -> None:
    """Per file, over the rows both runs scored: how far their logits are apart, how many
    labels differ, and each run's agreement with reference labels: PyTorch's from a deploy
    folder's `parity` reference, else the first run's fp32 file's, if it has one (fp32
    differs between CPU families only by summation order, so the emulated run need not
    repeat it)."""
    a, b = np.load(first), np.load(second)
    print(f"A = {first.name}: {a['label'].item()}   B = {second.name}: {b['label'].item()}")
    reference, against = None, ""
    if parity is not None:
        reference, against = np.load(parity)["logits"].argmax(1), "PyTorch"
    elif REFERENCE in a.files:
        reference, against = a[REFERENCE].argmax(1), "fp32"
    columns = ("rows", "max|diff|", "labels moved", f"agree {against} A / B")
    print(f"{'file':58s} {columns[0]:>5s} {columns[1]:>10s} {columns[2]:>13s} {columns[3]:>20s}")
    for name in a.files:
        if name == "label" or name not in b.files:
            continue
        scored = np.isfinite(a[name]).all(1) & np.isfinite(b[name]).all(1)
        la, lb = a[name][scored].argmax(1), b[name][scored].argmax(1)
        agree = (
            ""
            if reference is None
            else " / ".join(str(int((x == reference[scored]).sum())) for x in (la, lb))
        )
        print(
            f"{name:58s} {int(scored.sum()):5d} "
            f"{np.abs(a[name][scored] - b[name][scored]).max(initial=0.0):10.2e} "
            f"{int((la != lb).sum()):13d} {agree:>20s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    feeds = commands.add_parser("feeds", help="encode and batch rows once, natively")
    feeds.add_argument("work", type=Path, help="bench/export_variants.py's folder")
    feeds.add_argument("valid", type=Path, help="the run's valid.csv")
    feeds.add_argument("out", type=Path)
    feeds.add_argument("--rows", type=int, default=300)
    parity = commands.add_parser(
        "parity-feeds", help="a deploy folder's parity rows near a margin, in verify's batches"
    )
    parity.add_argument("deploy", type=Path)
    parity.add_argument("variant", help="a batch-invariant variant, e.g. int8-static")
    parity.add_argument("out", type=Path)
    parity.add_argument("--max-margin", type=float, default=0.25, help="top logit minus next")
    parity.add_argument("--min-margin", type=float, default=0.0, help="to split rows in ranges")
    run = commands.add_parser("run", help="logits of every file for those feeds")
    run.add_argument("work", type=Path, help="export_variants.py's folder or a deploy folder")
    run.add_argument("feeds", type=Path)
    run.add_argument("out", type=Path)
    run.add_argument("--label", default="native", help="what ran it")
    run.add_argument("--only", action="append", default=[], help="substring of file names")
    pair = commands.add_parser("compare", help="two runs' logits side by side")
    pair.add_argument("first", type=Path)
    pair.add_argument("second", type=Path)
    pair.add_argument("--parity", type=Path, help="a deploy folder's parity_reference.npz")
    args = parser.parse_args()
    if args.command == "feeds":
        write_feeds(args.work, args.valid, args.rows, args.out)
    elif args.command == "parity-feeds":
        margins = (args.min_margin, args.max_margin)
        write_parity_feeds(args.deploy, args.variant, margins, args.out)
    elif args.command == "run":
        run_files(args.work, args.feeds, args.out, args.label, args.only)
    else:
        compare(args.first, args.second, args.parity)


if __name__ == "__main__":
    main()
