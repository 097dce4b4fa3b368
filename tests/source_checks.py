"""Test helpers that read or change artefacts directly: the modules a source file imports,
and a model file corrupted as a broken exporter would leave it."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_modules(file: Path) -> list[str]:
    """Every module `file` imports, at any depth (function-level imports included)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def perturb_largest_weight(model_file: Path) -> None:
    """Noise (sd 0.5, seeded) on the ONNX file's largest initializer, the word embeddings: a
    constant shift would vanish in the LayerNorm that follows."""
    import numpy as np
    import onnx

    model = onnx.load(str(model_file))
    weight = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    array = onnx.numpy_helper.to_array(weight)
    array = array + np.random.default_rng(0).normal(0, 0.5, array.shape).astype(array.dtype)
    weight.CopyFrom(onnx.numpy_helper.from_array(array, weight.name))
    onnx.save(model, str(model_file))
