"""Run folder -> deploy folder, built in a hidden staging sibling and swapped into place
(files.replace_folder), so a crashed export never leaves a folder that looks deployable, and
--out replaces only an earlier deploy folder or an empty one.

Steps: fp32 graph + tokenizer.json -> optimised fp32 (model.onnx) -> int8 / fp16 variants
from it -> with --edge, strings-in variants (edge/variants.py) -> dynamic-shape sweep of every
variant -> parity gate through the scorer's classifier, against PyTorch's logits stored as
parity_reference.npz (edge variants also against the scorer) -> manifest (hashes, figures,
where they were measured) -> rename. A failed parity check still writes the
folder (its manifest records the figures and `passed: false`) and then raises ParityError
(exit 3), so the figures can be inspected but CI stops.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reviewscore.deploy_folder import (
    MANIFEST,
    Manifest,
    TensorSpec,
    Thresholds,
    Variant,
    is_deploy_folder,
    write_manifest,
)
from reviewscore.errors import ParityError, ReviewscoreError, UsageError
from reviewscore.export.calibration import calibration_feeds, calibration_texts
from reviewscore.export.onnx_graph import DEFAULT_OPSET, export_onnx
from reviewscore.export.optimize import optimize_graph
from reviewscore.export.parity import run_parity
from reviewscore.export.quantize import (
    DynamicInt8,
    StaticInt8,
    convert_fp16,
    quantize_dynamic_int8,
    quantize_static_int8,
)
from reviewscore.export.shapes import check_variant_shapes
from reviewscore.export.tokenizer_file import write_tokenizer_json
from reviewscore.export.versions import library_versions
from reviewscore.files import replace_folder
from reviewscore.parity.judge import failures_message
from reviewscore.parity.reference import REFERENCE_FILE, read_reference
from reviewscore.run_model import load_run_model
from reviewscore.score.classifier import takes_text

TOKENIZER_FILE = "tokenizer.json"
RAW_FILE = "model.raw.onnx"  # the exporter's graph, before optimisation; never shipped
VARIANT_FILES = {
    "fp32": "model.onnx",
    "int8-dynamic": "model.int8-dynamic.onnx",
    "int8-static": "model.int8-static.onnx",
    "fp16": "model.fp16.onnx",
}
# fp32 is exact (labels equal PyTorch's, none move with the batching), and int8's speed-up
# depends on the CPU family: see docs/export.md#variants for why int8 is not the default.
DEFAULT_VARIANT = "fp32"
# `export --quantize` choices: each names the variant it adds ("none": only fp32).
QUANTIZE_CHOICES = ("none", "int8-static", "int8-dynamic")
# The first spellings of those names, still accepted (hidden from --help) with a note.
OLD_QUANTIZE_NAMES = {"static-int8": "int8-static", "dynamic-int8": "int8-dynamic"}
EDGE_MIN_OPSET = 13


@dataclass(frozen=True)
class ExportOptions:
    opset: int = DEFAULT_OPSET
    optimize: str = "fusions"  # fusions | basic | none (see optimize.py)
    variants: tuple[str, ...] = (DEFAULT_VARIANT,)  # fp32 is always built: the others' source
    default_variant: str = DEFAULT_VARIANT
    check: bool = True
    edge: bool = False  # strings-in variants (edge/variants.py), for each fp32/int8 variant
    parity_data: Path | None = None  # labelled rows; default: the run's valid.csv
    parity_rows: int = 1000
    calibration: Path | None = None  # static int8 calibration rows; default: parity data
    calibration_rows: int = 500
    thresholds: Thresholds = field(default_factory=Thresholds)
    dynamic_int8: DynamicInt8 = field(default_factory=DynamicInt8)
    static_int8: StaticInt8 = field(default_factory=StaticInt8)

    def __post_init__(self) -> None:
        unknown = set(self.variants) - set(VARIANT_FILES)
        if unknown:
            raise ReviewscoreError(
                f"unknown variants {sorted(unknown)}; choose from {list(VARIANT_FILES)}"
            )
        if self.edge and self.opset < EDGE_MIN_OPSET:
            raise ReviewscoreError(
                f"--edge needs --opset {EDGE_MIN_OPSET} or later (its tokenizer graph takes "
                f"axes and pads as inputs), not {self.opset}"
            )
        if self.default_variant not in {"fp32", *self.variants}:
            raise ReviewscoreError(
                f"default variant {self.default_variant!r} is not among the variants built "
                f"({', '.join(dict.fromkeys(('fp32', *self.variants)))}); add it"
            )


def quantized_variants(chosen: Iterable[str], note: Callable[[str], None]) -> list[str]:
    """The variants `--quantize` (or the API's `quantize=`) adds, in the order asked. An old
    spelling still works, with a one-line deprecation `note`, so scripts keep running
    while the one name of a variant is the one written everywhere."""
    variants = []
    for name in chosen:
        if name in OLD_QUANTIZE_NAMES:
            note(
                f"note: quantize {name!r} is deprecated; use {OLD_QUANTIZE_NAMES[name]!r}, "
                "the variant's name"
            )
            name = OLD_QUANTIZE_NAMES[name]
        if name not in QUANTIZE_CHOICES:
            raise UsageError(
                f"unknown quantize {name!r}; choose from {', '.join(QUANTIZE_CHOICES)}"
            )
        if name != "none":
            variants.append(name)
    return variants


def export_run(
    run_dir: Path,
    out_dir: Path,
    options: ExportOptions | None = None,
    *,
    echo: Callable[[str], None] = lambda _: None,
) -> Manifest:
    """Export the run's model; returns the manifest written. Raises FolderError, touching
    nothing, when `out_dir` is not new, empty or a deploy folder, or is or holds an input;
    ParityError (after writing the folder) when a variant fails its parity check."""
    options = options or ExportOptions()
    out_dir = Path(out_dir)
    inputs = [run_dir, *filter(None, (options.parity_data, options.calibration))]
    with replace_folder(out_dir, "deploy folder", is_deploy_folder, inputs) as staging:
        manifest = _build(Path(run_dir), staging, options, echo)
    manifest = replace(manifest, path=out_dir / MANIFEST)
    message = failures_message(manifest.parity or {})
    if message:
        raise ParityError(f"{message} (figures in {manifest.path})", manifest.parity, manifest)
    return manifest


def _build(
    run_dir: Path, staging: Path, options: ExportOptions, echo: Callable[[str], None]
) -> Manifest:
    loaded = load_run_model(run_dir)
    info, model = loaded.info, loaded.model
    raw = staging / RAW_FILE
    names = export_onnx(model, loaded.tokenizer, raw, opset=options.opset)
    padding = write_tokenizer_json(loaded.tokenizer, staging / TOKENIZER_FILE)
    if options.edge:
        from reviewscore.export.edge.variants import check_tokenizer

        check_tokenizer(staging / TOKENIZER_FILE)
    echo(f"exported the fp32 graph ({', '.join(names)})")

    fp32 = staging / VARIANT_FILES["fp32"]
    if options.optimize == "none":
        shutil.copyfile(raw, fp32)
        optimization: dict[str, Any] = {"level": "none"}
    else:
        optimization = optimize_graph(
            raw, fp32, model_type=info.model_type, config=model.config, level=options.optimize
        )
    echo(f"optimisation: {optimization}")

    variants = {"fp32": _variant("fp32", optimization=optimization, batch_invariant=True)}
    manifest = Manifest(
        labels=tuple(info.labels),
        max_length=info.max_length,
        model_type=info.model_type,
        inputs=tuple(TensorSpec(name=n, dtype="int64") for n in names),
        outputs=(TensorSpec(name="logits", dtype="float32"),),
        tokenizer=TOKENIZER_FILE,
        pad_token_id=padding.pad_token_id,
        pad_token_type_id=padding.pad_token_type_id,
        padding_side=padding.side,
        opset=options.opset,
        default_variant=options.default_variant,
        variants=dict(variants),
        source_run=str(run_dir.resolve()),
        versions=library_versions(),
        files={},
    )

    def save(manifest: Manifest) -> Manifest:
        files = [TOKENIZER_FILE] + [variant.file for variant in manifest.variants.values()]
        files += [manifest.parity_reference] if manifest.parity_reference is not None else []
        return write_manifest(staging, manifest, files)

    save(manifest)  # from here the scorer's classifier can open the fp32 variant (calibration)

    parity_path = options.parity_data or loaded.run.valid_path
    if "int8-dynamic" in options.variants:
        settings = quantize_dynamic_int8(
            fp32, staging / VARIANT_FILES["int8-dynamic"], options.dynamic_int8
        )
        variants["int8-dynamic"] = _variant(
            "int8-dynamic", quantization=settings, batch_invariant=False, built_from="fp32"
        )
    if "int8-static" in options.variants:
        calibration = options.calibration or parity_path
        texts = calibration_texts(
            calibration,
            options.calibration_rows,
            skip=options.parity_rows if calibration == parity_path else 0,
        )
        # From the unfused graph: onnxruntime's QDQ quantiser has no Attention or
        # EmbedLayerNormalization support, so only there can it quantise the Q/K/V
        # projections and the embeddings; onnxruntime fuses the QDQ graph at load time.
        settings = quantize_static_int8(
            raw,
            staging / VARIANT_FILES["int8-static"],
            calibration_feeds(staging, "fp32", texts),
            options.static_int8,
        )
        settings["calibration_data"] = {"file": str(calibration), "rows": len(texts)}
        variants["int8-static"] = _variant(
            "int8-static", quantization=settings, batch_invariant=True, built_from="unoptimised"
        )
    if "fp16" in options.variants:
        settings = convert_fp16(fp32, staging / VARIANT_FILES["fp16"])
        variants["fp16"] = _variant(
            "fp16", quantization=settings, batch_invariant=True, built_from="fp32"
        )
    raw.unlink()
    if options.edge:
        from reviewscore.export.edge.variants import add_edge_variants

        variants |= add_edge_variants(staging, manifest, variants, echo)
    manifest = save(replace(manifest, variants=variants))

    vocab_size = int(model.config.vocab_size)
    shape_checks = {
        name: _check_shapes(staging / variant.file, variant, names, info, vocab_size)
        for name, variant in variants.items()
    }
    echo(f"dynamic shapes verified: {', '.join(shape_checks)}")

    # parity_checked: `score` warns about an unchecked folder
    manifest = replace(manifest, shape_checks=shape_checks, parity_checked=options.check)
    if options.check:
        token_variants = {n: v for n, v in variants.items() if not takes_text(v)}
        parity, parity_data = run_parity(
            loaded,
            staging,
            token_variants,
            parity_path,
            options.parity_rows,
            options.thresholds,
            echo,
        )
        if options.edge:
            from reviewscore.export.edge.variants import edge_parity

            reference = read_reference(staging / REFERENCE_FILE, len(info.labels))
            parity |= edge_parity(staging, manifest, reference, options.thresholds, echo)
        manifest = replace(
            manifest,
            parity=parity,
            parity_data=parity_data,
            parity_reference=REFERENCE_FILE,  # what `reviewscore verify` re-checks
            parity_thresholds=options.thresholds,
            parity_passed=all(figures.passed for figures in parity.values()),
        )
    return save(manifest)


def _check_shapes(
    path: Path, variant: Variant, names: list[str], info: Any, vocab_size: int
) -> dict[str, Any]:
    """The dynamic-shape sweep: token ids for the scorer's variants, texts for edge ones."""
    if takes_text(variant):
        from reviewscore.export.edge.check import check_edge_shapes

        return check_edge_shapes(path, labels=len(info.labels), max_length=info.max_length)
    return check_variant_shapes(
        path,
        variant.precision,
        names,
        max_length=info.max_length,
        vocab_size=vocab_size,
        labels=len(info.labels),
    )


def _variant(
    name: str,
    *,
    optimization: dict[str, Any] | None = None,
    quantization: dict[str, Any] | None = None,
    batch_invariant: bool,
    built_from: str | None = None,
) -> Variant:
    """A manifest entry; `built_from` names the graph the variant was made from: the fp32
    variant's (optimised) graph or the exporter's unoptimised one."""
    return Variant(
        file=VARIANT_FILES[name],
        precision=name.split("-")[0],
        optimization=optimization,
        quantization=quantization,
        batch_invariant=batch_invariant,
        built_from=built_from,
    )
