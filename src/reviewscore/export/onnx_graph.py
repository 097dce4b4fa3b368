"""PyTorch -> ONNX with dynamic batch and sequence axes.

The TorchScript exporter (`dynamo=False`) is used on purpose: it traces every architecture
we support, XLNet and XLM included, with logits equal to PyTorch's to ~1e-8, where optimum's
exporter has no XLNet config and pins transformers < 4.58.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_OPSET = 17


def model_input_names(model: Any, tokenizer: Any) -> list[str]:
    """The inputs both the tokenizer produces and the model's forward accepts, in a fixed order."""
    import inspect

    accepted = inspect.signature(model.forward).parameters
    produced = set(tokenizer.model_input_names)
    return [name for name in MODEL_INPUTS if name in accepted and name in produced]


def export_onnx(model: Any, tokenizer: Any, path: Path, *, opset: int = DEFAULT_OPSET) -> list[str]:
    """Write `model` to `path`; returns the input names, in the graph's order."""
    import torch

    names = model_input_names(model, tokenizer)
    # Eager attention traces to the MatMul/Softmax pattern that onnxruntime's transformer
    # optimiser fuses into Attention; SDPA traces to a graph it leaves unfused.
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    # Batch 2 with padding and more than one token, so no axis is specialised to 1.
    sample = tokenizer(["a b c d e", "a"], padding=True, return_tensors="pt")
    args = tuple(sample[name] for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch"}
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about asserts and constants
        torch.onnx.export(
            model,
            args,
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return names
