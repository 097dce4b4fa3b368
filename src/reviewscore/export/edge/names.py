"""Names in the strings-in graph's tokenizer part: every tensor but the text input is
scoped, so it cannot collide with a classifier's names once the two graphs are joined."""

from __future__ import annotations

from typing import Any

EXTENSIONS_DOMAIN = "ai.onnx.contrib"
ML_DOMAIN = "ai.onnx.ml"  # LabelEncoder
TEXT_INPUT = "text"
_PREFIX = "tokenize/"


def scoped(name: str) -> str:
    """The tokenizer part's name for `name` (its outputs too: `scoped("input_ids")`)."""
    return _PREFIX + name


def node(op: str, inputs: list[str], outputs: list[str], **attributes: Any) -> Any:
    """A node of the tokenizer part: every tensor name but the text input is scoped."""
    from onnx import helper

    def name(tensor: str) -> str:
        return tensor if tensor == TEXT_INPUT else scoped(tensor)

    return helper.make_node(op, list(map(name, inputs)), list(map(name, outputs)), **attributes)


def value(tensor: str, element_type: int, shape: list[Any] | None) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(scoped(tensor), element_type, shape)


def constant(name: str, array: Any) -> Any:
    """A scoped initializer."""
    from onnx import numpy_helper

    return numpy_helper.from_array(array, scoped(name))
