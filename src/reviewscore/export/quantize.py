"""int8 and fp16 variants, built with onnxruntime's own quantiser and fp16 converter.

The defaults below were chosen by measurement (bench/export_variants.py: trained MiniLM,
3,000 validation rows, AMD EPYC with AVX2 and no VNNI, 2 threads), against PyTorch fp32:

dynamic int8   per-channel, 8-bit weights  98.2% agreement, accuracy +0.4 pt, 2.4x fp32
               per-channel, reduce_range   97.8%, +0.0 pt (u8s8 saturation, the reason
                                           reduce_range is advised without VNNI, did not
                                           show on this model)
               per-tensor, reduce_range    89.2%, -0.7 pt, macro-F1 0.40 vs 0.50: collapses
static int8    per-channel, MatMul+Gather, 97.6% agreement, accuracy +0.1 pt, 1.7x fp32,
               2 MatMul kinds kept fp32    no label moves with the batching
               everything quantised        93.9%, macro-F1 0.48
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DynamicInt8:
    """Weights int8 at export, activation scales computed per batch at run time (so the
    label of a phrase can depend on its batch: never batch-invariant)."""

    per_channel: bool = True
    reduce_range: bool = False
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
    src: Path, dst: Path, settings: DynamicInt8 = DynamicInt8()
) -> dict[str, Any]:
    """Write the dynamic int8 graph; returns what the manifest records about it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_quantizer():
        quantize_dynamic(
            str(src),
            str(dst),
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            weight_type=QuantType[settings.weight_type],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return {"method": "dynamic", **asdict(settings)}


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
