"""int8 and fp16 variants, built with onnxruntime's own quantiser and fp16 converter.

The defaults were chosen by measurement on a GPU-trained MiniLM (../shared/models/
minilm-gpu-run): agreement with fp32 on 3,000 validation rows (bench/export_variants.py),
and logits under onnxruntime's AVX2 kernels (bench/int8_kernels.py under qemu's emulated
AVX2-only AMD EPYC) against those of AVX-512 VNNI/AMX on an Intel Xeon:

dynamic int8   per-channel, s8, reduce_range  98.33%; on AVX2 the integer products are
                                              exact as on VNNI/AMX (7-bit weights: u8 x s8
                                              pairs cannot saturate int16): logits within
                                              0.003 over 300 rows, no label differs; as fast
                                              as 8-bit on VNNI
               per-channel, s8, 8-bit         97.90%; on AVX2 logits move by up to 0.4 and
                                              labels move (the export gate: 98.5% on Intel,
                                              97.6% on an AMD EPYC: fails there)
               per-channel, u8 weights        98.20%, but no faster than fp32 on VNNI/AMX
               per-tensor, reduce_range       92.0%: collapses
static int8    per-channel, MatMul+Gather,    98.80% (export gate: 98.1% Intel, 98.5% AMD);
               2 MatMul kinds kept fp32       no label moves with the batching; on emulated
                                              AVX2 logits move by up to 0.81 (u8 x s8 pairs
                                              saturate), 11 of 330 labels differ, unless
                                              the scorer's exact int8 mode runs (it does on
                                              such CPUs: score/session.py): then logits are
                                              those of AMX to the last bit
               same, reduce_range             97.53%
               everything quantised           95.6%
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
    node fp32 (attention, projections, a layer, the embeddings) bought at most half a point
    of agreement, for up to a fifth of the speed (bench/export_variants.py measures each)."""
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
