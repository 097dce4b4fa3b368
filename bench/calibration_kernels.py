"""Does static int8's calibration measure the same ranges on another CPU family's kernels?

`export --quantize static-int8` runs the unfused fp32 graph over its calibration rows in
onnxruntime and keeps each quantised tensor's min and max; they set the file's activation
scales. onnxruntime's fp32 kernels are picked by CPU (AVX-512 on the Intel machines here,
AVX2 on an AMD EPYC), so an export on the other family might measure other ranges and write
another int8-static file. Emulating all 500 rows takes hours (about 2.3 s a token on one
core, against milliseconds natively), and only the rows that set some tensor's min or max
count, so:

    PY=.venv/bin/python; OUT=bench/out/calibration
    $PY bench/export_variants.py --run ../shared/models/minilm-gpu-run   # model.raw.onnx
    $PY bench/calibration_kernels.py select bench/out/export_variants/model.raw.onnx \\
        deploy/minilm-gpu $OUT
    for k in 0 1; do qemu-x86_64 -cpu EPYC-Rome $PY bench/calibration_kernels.py run \\
        $OUT $k 2 & done; wait
    $PY bench/calibration_kernels.py quantize $OUT

`select` repeats the export's calibration natively (the manifest's rows and settings, the
scorer's batches) and checks that it writes the deploy folder's int8-static file to the
byte. It then runs each calibration row alone, padded to its batch's width, checks that the
rows' extremes give the batches' to the bit (the fp32 graph is row-wise), and keeps, per
tensor, a row for every distinct value within `--tol` (relative) of its min or max, grouped
by batch into chunks. `run`, under the emulator, measures the chunks' min and max of every
tensor. `quantize` compares them with the native ones and quantises with the emulated
ranges. A row left out is further than `--tol` from every extreme natively; it lists the
left-out rows that lie within twice the largest shift emulation gave any value of an
emulated extreme that sets a scale of the file (such a row could have set it) and, apart,
the extremes some left-out row ties with exactly (on MiniLM only in the embeddings and layer
0 before attention, where a tie is the same token at the same position: the row that ran
stands for the others).
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from reviewscore.deploy_folder import sha256_file

CHUNK_ROWS = 8  # rows of one batch run together; emulation costs per op as well as per token


def _reduced(names: list[str]) -> list[str]:
    """The augmented graph's outputs that hold one tensor's min or max."""
    return [n for n in names if n.endswith(("_ReduceMin", "_ReduceMax"))]


def _calibrate(deploy: Path, raw: Path, dst: Path, collect: Callable[[Any, Any], None]) -> None:
    """The export's static-int8 step for `deploy`'s int8-static variant, with onnxruntime's
    `collect_data` (the inference over the calibration rows) replaced by `collect`."""
    from reviewscore.deploy_folder import load_manifest
    from reviewscore.export.calibration import calibration_feeds, calibration_texts
    from reviewscore.export.quantize import StaticInt8, quantize_static_int8

    manifest = load_manifest(deploy, verify=True)
    quantization = dict(manifest.variant("int8-static").quantization)
    data = quantization["calibration_data"]
    skip = manifest.parity_data["rows"] if data["file"] == manifest.parity_data["file"] else 0
    texts = calibration_texts(Path(data["file"]), data["rows"], skip=skip)
    fields = StaticInt8.__dataclass_fields__
    settings = StaticInt8(
        **{
            k: tuple(v) if isinstance(v, list) else v
            for k, v in quantization.items()
            if k in fields
        }
    )
    module = importlib.import_module("onnxruntime.quantization.quantize")
    create = module.create_calibrator

    def patched(*args: Any, **kwargs: Any) -> Any:
        calibrator = create(*args, **kwargs)
        calibrator.collect_data = lambda reader: collect(calibrator, reader)
        return calibrator

    module.create_calibrator = patched
    try:
        quantize_static_int8(raw, dst, calibration_feeds(deploy, "fp32", texts), settings)
    finally:
        module.create_calibrator = create


def _set_ranges(calibrator: Any, outputs: list[dict[str, np.ndarray]]) -> None:
    """Hand onnxruntime's calibrator per-batch outputs as if it had run them itself."""
    names = [o.name for o in calibrator.infer_session.get_outputs()]
    calibrator.intermediate_outputs = [
        [None if n in calibrator.model_original_outputs else d[n] for n in names] for d in outputs
    ]
    calibrator.compute_data()
    calibrator.clear_collected_data()


def _session(path: Path) -> Any:
    """As onnxruntime's calibrator opens the augmented graph (no graph optimisations), on one
    thread: the fp32 kernels partition work across threads, not a row's sums."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _chunks(stored: Any) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key in stored.files:
        index, name = key.split("/", 1)
        grouped.setdefault(index, {})[name] = stored[key]
    yield from sorted(grouped.items(), key=lambda item: int(item[0]))


def select(raw: Path, deploy: Path, out: Path, tol: float) -> None:
    """Write `out`/augmented.onnx, the chunks of rows near an extreme, and their native
    min/max."""
    out.mkdir(parents=True, exist_ok=True)
    batches: list[dict[str, np.ndarray]] = []
    outputs: list[dict[str, np.ndarray]] = []  # per batch, as onnxruntime's calibrator saw it

    def collect(calibrator: Any, reader: Any) -> None:
        shutil.copy(calibrator.augmented_model_path, out / "augmented.onnx")
        session = calibrator.infer_session
        names = [o.name for o in session.get_outputs()]
        while inputs := reader.get_next():
            batches.append(inputs)
            outputs.append(dict(zip(names, session.run(None, inputs), strict=True)))
        _set_ranges(calibrator, outputs)

    with tempfile.TemporaryDirectory() as tmp:
        _calibrate(deploy, raw, Path(tmp) / "int8-static.onnx", collect)
        same = sha256_file(Path(tmp) / "int8-static.onnx") == sha256_file(
            deploy / "model.int8-static.onnx"
        )
    print(
        f"native calibration: {len(batches)} batches; the deploy folder's file: "
        f"{'identical' if same else 'DIFFERENT'}"
    )
    session = _session(out / "augmented.onnx")
    names = _reduced([o.name for o in session.get_outputs()])
    rows = []  # (batch, row, {name: value})
    for b, feeds in enumerate(batches):
        for r in range(len(feeds["input_ids"])):
            measured = session.run(names, {k: v[r : r + 1] for k, v in feeds.items()})
            rows.append((b, r, dict(zip(names, measured, strict=True))))
    chosen: set[int] = set()
    groups = []  # per tensor and distinct near-extreme value, the rows that have it
    for name in names:
        values = np.array([row[2][name].item() for row in rows])
        pick = np.min if name.endswith("Min") else np.max
        extreme = pick(values)
        for b in range(len(batches)):  # the rows reproduce each batch's extreme
            if (
                pick([v for v, row in zip(values, rows, strict=True) if row[0] == b])
                != outputs[b][name]
            ):
                raise SystemExit(f"{name}: batch {b}'s rows do not give its extreme")
        near = np.abs(values - extreme) <= tol * max(abs(extreme), 1e-30)
        groups += [set(np.nonzero(values == v)[0]) for v in np.unique(values[near])]
    for group in sorted(groups, key=len):
        if not group & chosen:
            chosen.add(min(group))
    arrays: dict[str, np.ndarray] = {}
    index = 0
    for b in range(len(batches)):
        picked = np.array(sorted(rows[i][1] for i in chosen if rows[i][0] == b), dtype=np.int64)
        for start in range(0, len(picked), CHUNK_ROWS):
            arrays[f"{index}/batch"] = np.array(b)
            for k, v in batches[b].items():
                arrays[f"{index}/{k}"] = v[picked[start : start + CHUNK_ROWS]]
            index += 1
    np.savez(out / "chunks.npz", **arrays)
    left_out = np.array([i not in chosen for i in range(len(rows))])
    table = np.array([[row[2][name].item() for name in names] for row in rows])
    np.savez(out / "rows.npz", names=np.array(names), values=table, left_out=left_out)
    (out / "sources.json").write_text(json.dumps({"raw": str(raw), "deploy": str(deploy)}))
    tokens = sum(v.size for k, v in arrays.items() if k.endswith("/input_ids"))
    print(
        f"{len(names) // 2} tensors, {len(groups)} distinct values within {tol:g} of a min "
        f"or max: "
        f"{len(chosen)} of {len(rows)} rows cover them, {tokens} tokens"
    )
    run(out, 0, 1, out / "native.npz")


def run(out: Path, part: int, parts: int, result: Path | None = None) -> None:
    """Each chunk's min and max of every tensor, for chunks part, part + parts, ...; saved
    after every chunk, and a rerun goes on where a stopped one left off."""
    result = result or out / f"emulated-{part}.npz"
    session = _session(out / "augmented.onnx")
    names = _reduced([o.name for o in session.get_outputs()])
    done = dict(np.load(result)) if result.exists() else {}
    for index, chunk in list(_chunks(np.load(out / "chunks.npz")))[part::parts]:
        if f"{index}/{names[0]}" in done:
            continue
        started = time.perf_counter()
        feeds = {k: v for k, v in chunk.items() if k != "batch"}
        values = session.run(names, feeds)
        done.update({f"{index}/{n}": v for n, v in zip(names, values, strict=True)})
        np.savez(result, **done)
        print(
            f"chunk {index}: {feeds['input_ids'].shape} {time.perf_counter() - started:.1f} s",
            flush=True,
        )


def quantize(out: Path) -> None:
    """Compare the emulated min/max with the native ones, then quantise with each."""
    sources = json.loads((out / "sources.json").read_text())
    raw, deploy = Path(sources["raw"]), Path(sources["deploy"])
    native = np.load(out / "native.npz")
    emulated: dict[str, np.ndarray] = {}
    for part in sorted(out.glob("emulated-*.npz")):
        emulated.update(np.load(part))
    missing = sorted(set(native.files) - set(emulated))
    if missing:
        raise SystemExit(f"{len(missing)} values not emulated yet, e.g. {missing[0]}")
    differ = [k for k in native.files if not np.array_equal(native[k], emulated[k])]
    worst = max(
        (
            abs(native[k].item() - emulated[k].item()) / max(abs(native[k].item()), 1e-30)
            for k in differ
        ),
        default=0.0,
    )
    print(
        f"chunk min/max values: {len(differ)} of {len(native.files)} differ, "
        f"largest relative difference {worst:.2e}"
    )
    extremes = {
        label: _extremes(values) for label, values in (("native", native), ("emulated", emulated))
    }
    scaled = _scaled_tensors(deploy / "model.int8-static.onnx")
    _left_out_margins(out, extremes["emulated"], scaled, worst)
    exported = deploy / "model.int8-static.onnx"
    exported_sha = sha256_file(exported)
    for label, ranges in extremes.items():
        dst = out / f"int8-static.{label}.onnx"
        _calibrate(
            deploy, raw, dst, lambda calibrator, reader, r=ranges: _set_ranges(calibrator, [r])
        )
        if sha256_file(dst) == exported_sha:
            verdict = "identical to the deploy folder's int8-static"
        else:
            changed = _changed_initializers(exported, dst)
            verdict = (
                f"DIFFERENT from the deploy folder's int8-static: {len(changed)} initializers "
                f"({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''})"
            )
        print(f"ranges from the {label} chunks: {dst.name} is {verdict}")


def _extremes(values: Any) -> dict[str, np.ndarray]:
    """Per augmented output, the min (or max) over the chunks."""
    ranges: dict[str, np.ndarray] = {}
    for key in values:
        name = key.split("/", 1)[1]
        pick = np.minimum if name.endswith("Min") else np.maximum
        ranges[name] = pick(ranges[name], values[key]) if name in ranges else values[key]
    return ranges


def _scaled_tensors(path: Path) -> set[str]:
    """The tensors whose range sets a scale of the int8-static file (a range measured for a
    tensor onnxruntime then leaves unquantised, e.g. a MatMul kept fp32, changes nothing)."""
    import onnx

    names = {t.name for t in onnx.load(str(path), load_external_data=False).graph.initializer}
    return {n.removesuffix("_scale") for n in names if n.endswith("_scale")}


def _left_out_margins(
    out: Path, extremes: dict[str, np.ndarray], scaled: set[str], shift: float
) -> None:
    """How far, natively, the best row left out lies from each emulated extreme that sets a
    scale, against the largest relative shift emulation gave a value: a row closer than
    twice that could have set the emulated extreme. Exact ties are listed apart (see the
    module's docstring)."""
    stored = np.load(out / "rows.npz")
    names, values, left_out = list(stored["names"]), stored["values"], stored["left_out"]
    close, ties = [], []
    for column, name in enumerate(names):
        if name.rpartition("_")[0] not in scaled:
            continue
        extreme = extremes[name].item()
        others = values[left_out, column]
        best = others.min() if name.endswith("Min") else others.max()
        gap = (best - extreme if name.endswith("Min") else extreme - best) / abs(extreme)
        if gap == 0:
            ties.append(name)
        elif gap < 2 * shift:
            close.append(f"{name} ({gap:.1e})")
    print(
        f"left-out rows within twice that of an emulated extreme that sets a scale: "
        f"{len(close)}{': ' + ', '.join(close) if close else ''}; tied with one: {len(ties)}"
        f"{' (' + ', '.join(ties) + ')' if ties else ''}"
    )


def _changed_initializers(first: Path, second: Path) -> list[str]:
    import onnx
    from onnx import numpy_helper

    a, b = (
        {t.name: numpy_helper.to_array(t) for t in onnx.load(str(p)).graph.initializer}
        for p in (first, second)
    )
    return sorted(
        n for n in a.keys() | b.keys() if n not in a or n not in b or not np.array_equal(a[n], b[n])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    pick = commands.add_parser("select", help="natively: the rows near an extreme, in chunks")
    pick.add_argument("raw", type=Path, help="the unfused graph, export_variants' model.raw.onnx")
    pick.add_argument("deploy", type=Path, help="a deploy folder with int8-static")
    pick.add_argument("out", type=Path)
    pick.add_argument("--tol", type=float, default=1e-6, help="relative, to an extreme")
    measure = commands.add_parser("run", help="the chunks' min/max (under the emulator)")
    measure.add_argument("out", type=Path)
    measure.add_argument("part", type=int)
    measure.add_argument("parts", type=int)
    build = commands.add_parser("quantize", help="natively: compare, and quantise with each")
    build.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "select":
        select(args.raw, args.deploy, args.out, args.tol)
    elif args.command == "run":
        run(args.out, args.part, args.parts)
    else:
        quantize(args.out)


if __name__ == "__main__":
    main()
