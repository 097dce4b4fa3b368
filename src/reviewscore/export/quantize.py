"""int8 and fp16 variants, built with onnxruntime's own quantiser and fp16 converter.

The defaults below were chosen by measurement (bench/export_variants.py, trained MiniLM on
this AMD EPYC with AVX2 and no VNNI); the alternatives measured are in the bench's table.
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

    per_channel: bool = False
    reduce_range: bool = True  # 7-bit weights: u8s8 kernels without VNNI can saturate
    weight_type: str = "QInt8"  # or "QUInt8"


@dataclass(frozen=True)
class StaticInt8:
    """QDQ int8 with activation scales fixed at export from calibration rows: the same input
    gets the same scales in any batch, so labels do not depend on batching."""

    calibration: str = "MinMax"  # or "Percentile", "Entropy" (onnxruntime CalibrationMethod)
    op_types: tuple[str, ...] = ("MatMul",)
    per_channel: bool = False
    reduce_range: bool = True


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

    with _quiet_quantizer():
        quantize_static(
            str(src),
            str(dst),
            _Feeds(calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(settings.op_types),
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            activation_type=QuantType.QUInt8,  # u8 activations x s8 weights: AVX2 kernels
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod[settings.calibration],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return {"method": "static-qdq", **asdict(settings), "op_types": list(settings.op_types)}


def convert_fp16(src: Path, dst: Path) -> dict[str, Any]:
    """fp16 weights and compute for GPUs; inputs and logits stay int64/float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(model, str(dst))
    return {"method": "fp16", "keep_io_types": True}
