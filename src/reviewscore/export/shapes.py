"""Prove the exported axes are dynamic: a graph traced with one shape can silently bake it
in, which would only show when a user's batch or phrase length differs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reviewscore.errors import ReviewscoreError

BATCH_SIZES = (1, 7, 64)


class ShapeError(ReviewscoreError):
    """An exported graph fails on a batch size or sequence length it must accept."""


def check_dynamic_shapes(
    model_path: Path, input_names: list[str], *, max_length: int, vocab_size: int, labels: int
) -> dict[str, Any]:
    """Random ids at batch 1 for every length 1..max_length, and batches 7 and 64 at length
    1, half and full; raise ShapeError naming the first shape that errors or returns the
    wrong logits shape."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    shapes = [(1, n) for n in range(1, max_length + 1)]
    shapes += [(b, n) for b in BATCH_SIZES[1:] for n in (1, max(1, max_length // 2), max_length)]
    for batch, length in shapes:
        feeds = {
            "input_ids": rng.integers(0, vocab_size, (batch, length), dtype=np.int64),
            "attention_mask": np.ones((batch, length), dtype=np.int64),
            "token_type_ids": np.zeros((batch, length), dtype=np.int64),
        }
        try:
            (logits,) = session.run(["logits"], {k: feeds[k] for k in input_names})
        except Exception as exc:
            raise ShapeError(
                f"{model_path.name}: fails at batch {batch} x length {length}: {exc}"
            ) from exc
        if logits.shape != (batch, labels) or not np.isfinite(logits).all():
            raise ShapeError(
                f"{model_path.name}: batch {batch} x length {length} gave logits of shape "
                f"{logits.shape} (finite: {bool(np.isfinite(logits).all())}), "
                f"expected {(batch, labels)}"
            )
    return {
        "checked": True,
        "batch_sizes": list(BATCH_SIZES),
        "lengths": [1, max_length],
        "runs": len(shapes),
    }


def check_variant_shapes(
    model_path: Path, precision: str, input_names: list[str], **sizes: int
) -> dict[str, Any]:
    """check_dynamic_shapes; an fp16 graph the CPU provider has no kernels for is recorded
    as not checked (it is meant for CUDA), any other failure stops the export."""
    try:
        return check_dynamic_shapes(model_path, input_names, **sizes)  # type: ignore[arg-type]
    except ShapeError as exc:
        if precision != "fp16" or "NOT_IMPLEMENTED" not in str(exc):
            raise
        return {"checked": False, "reason": f"the CPU provider cannot run it: {exc}"}
