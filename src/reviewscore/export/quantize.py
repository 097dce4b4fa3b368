"""int8 and fp16 variants, built with onnxruntime's own quantiser and fp16 converter.

The defaults were chosen by measuring the alternatives on a trained MiniLM (agreement with
fp32, speed: bench/export_variants.py) and under another CPU family's int8 kernels.
int8-dynamic has per-channel 7-bit s8 weights (reduce_range): u8 x 7-bit pairs cannot
saturate the int16 sums of the kernels of CPUs without VNNI, so its figures hold on every
x86 family. int8-static keeps 8-bit weights, which its agreement needs, and relies on the
scorer's exact int8 mode where those kernels could saturate (score/session.py). Figures:
docs/benchmarks.md#export-variants; why: docs/verify-and-int8.md#int8-and-the-cpu.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DynamicInt8:
    """Weights int8 at export, activation scales computed per batch at run time (so the
    label of a phrase can depend on its batch: never batch-invariant)."""

    per_channel: bool = True
    reduce_range: bool = True
    weight_type: str = "QInt8"  # or "QUInt8"


KEEP_FP32_CHOICES = ("activation-matmuls", "down-projections")


@dataclass(frozen=True)
class StaticInt8:
    """QDQ int8 with activation scales fixed at export from calibration rows: the same input
    gets the same scales in any batch, so labels do not depend on batching.

    `keep_fp32` leaves two kinds of MatMul unquantised, each measured to cost the most
    agreement with PyTorch: those multiplying two activations (attention's Q.K^T and
    probabilities.V) and those narrowing the width (the feed-forward down-projections,
    whose GELU inputs have long tails that one MinMax range quantises coarsely).
    """

    # onnxruntime's Percentile/Entropy calibrators stack activations, so they need batches
    # of one shape; padded to one width they agreed no better than MinMax here.
    calibration: str = "MinMax"
    op_types: tuple[str, ...] = ("MatMul", "Gather")  # Gather: the embedding tables
    per_channel: bool = True
    reduce_range: bool = False
    weight_type: str = "QInt8"  # or "QUInt8"
    keep_fp32: tuple[str, ...] = KEEP_FP32_CHOICES


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """onnxruntime's quantiser logs a warning per tensor it cannot type (expected for fused
    LayerNorm/Attention outputs); keep the export output readable."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_dynamic_int8(
    src: Path, dst: Path, settings: DynamicInt8 = DynamicInt8(), kept_fp32: Sequence[str] = ()
) -> dict[str, Any]:
    """Write the dynamic int8 graph; returns what the manifest records about it.

    `kept_fp32` names nodes left unquantised. The export keeps none: keeping one kind of
    node fp32 (attention, projections, a layer, the embeddings) bought little agreement for
    much speed and size (docs/benchmarks.md#export-variants; bench/export_variants.py
    measures each)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_quantizer():
        quantize_dynamic(
            str(src),
            str(dst),
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            weight_type=QuantType[settings.weight_type],
            nodes_to_exclude=list(kept_fp32),
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    kept = {"nodes_kept_fp32": len(kept_fp32)} if kept_fp32 else {}
    return {"method": "dynamic", **asdict(settings), **kept}


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over ready-made feeds."""

    def __init__(self, feeds: Iterator[dict[str, Any]]) -> None:
        self._feeds = feeds

    def get_next(self) -> dict[str, Any] | None:
        return next(self._feeds, None)


def matmuls_kept_fp32(model_path: Path, keep: tuple[str, ...]) -> list[str]:
    """Names of the MatMul nodes of `model_path` that `keep` (see StaticInt8) excludes."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    weights = {t.name: tuple(t.dims) for t in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        shapes = [weights[name] for name in node.input if name in weights]
        if not shapes:
            if "activation-matmuls" in keep:
                kept.append(node.name)
        elif "down-projections" in keep and len(shapes[0]) == 2 and shapes[0][0] > shapes[0][1]:
            kept.append(node.name)
    return kept


def quantize_static_int8(
    src: Path,
    dst: Path,
    calibration: Iterator[dict[str, Any]],
    settings: StaticInt8 = StaticInt8(),
) -> dict[str, Any]:
    """Write the QDQ int8 graph, its activation ranges measured on `calibration` batches."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    kept = matmuls_kept_fp32(src, settings.keep_fp32)
    with _quiet_quantizer():
        quantize_static(
            str(src),
            str(dst),
            _Feeds(calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(settings.op_types),
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType[settings.weight_type],
            calibrate_method=CalibrationMethod[settings.calibration],
            nodes_to_exclude=kept,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return {"method": "static-qdq", **asdict(settings), "matmuls_kept_fp32": len(kept)}


def convert_fp16(src: Path, dst: Path) -> dict[str, Any]:
    """fp16 weights and compute for GPUs; inputs and logits stay int64/float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return {"method": "fp16", "keep_io_types": True}
