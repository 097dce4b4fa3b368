"""The strings-in (edge) variant: one ONNX file, raw texts in, logits, probabilities and
label ids out, the tokenizer inside the graph.

The batch is first normalised as the scorer's tokenizer.json does (text_graph.py).
onnxruntime-extensions' BertTokenizer operator takes one text (or a pair) per call, so the
graph runs it in a Loop over the batch: each text is split into word pieces (truncated to
max length), padded to max length with the model's pad id, and the stacked batch is cut
back to its longest row before the classifier. The tokenizer graph is joined to a classifier
variant's graph with onnx.compose.merge_models, so the strings-in int8 file is the int8
variant's graph itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reviewscore.export.edge.names import (
    EXTENSIONS_DOMAIN,
    ML_DOMAIN,
    TEXT_INPUT,
    constant,
    node,
    scoped,
    value,
)
from reviewscore.export.edge.text_graph import NORMAL_TEXTS, normalize_nodes
from reviewscore.export.edge.tokenizer import WordPieceSettings

OUTPUTS = ("logits", "probabilities", "label_ids")


def _one_empty_text() -> Any:
    """The If branch an empty batch takes: one empty text in its place (the outputs are cut
    back to 0 rows in _with_heads), since int8 kernels stop the process (SIGFPE) on a batch
    of 0 rows."""
    from onnx import TensorProto, helper

    text = helper.make_tensor("empty_text", TensorProto.STRING, [1], [b""])
    return helper.make_graph(
        [node("Constant", [], ["one_empty_text"], value=text)],
        "one_empty_text",
        [],
        [value("one_empty_text", TensorProto.STRING, [1])],
    )


def _tokenize_one(settings: WordPieceSettings, max_length: int, left: bool) -> Any:
    """The Loop body: normalised text i -> its ids, type ids and mask, padded to max
    length."""
    from onnx import TensorProto, helper

    pads = ["missing", "zero_1d"] if left else ["zero_1d", "missing"]
    return helper.make_graph(
        [
            node("Unsqueeze", ["i", "axis0"], ["index"]),
            node("Gather", [NORMAL_TEXTS, "index"], ["one_text"], axis=0),
            node(
                "BertTokenizer",
                ["one_text"],
                ["ids", "type_ids", "mask"],
                domain=EXTENSIONS_DOMAIN,
                **settings.op_attributes(max_length),
            ),
            node("Shape", ["ids"], ["length"]),
            node("Sub", ["max_length", "length"], ["missing"]),
            node("Concat", pads, ["pads"], axis=0),
            node("Pad", ["ids", "pads", "pad_id"], ["ids_padded"]),
            node("Pad", ["type_ids", "pads", "pad_type_id"], ["type_ids_padded"]),
            node("Pad", ["mask", "pads", "zero"], ["mask_padded"]),
            node("Identity", ["keep_going"], ["keep_going_out"]),
        ],
        "tokenize_one",
        [value("i", TensorProto.INT64, []), value("keep_going", TensorProto.BOOL, [])],
        [
            value("keep_going_out", TensorProto.BOOL, []),
            *(
                value(name, TensorProto.INT64, [max_length])
                for name in ("ids_padded", "type_ids_padded", "mask_padded")
            ),
        ],
    )


def tokenizer_model(
    settings: WordPieceSettings,
    *,
    max_length: int,
    pad_token_id: int,
    pad_token_type_id: int,
    padding_side: str,
    input_names: list[str],
    opset: int,
) -> Any:
    """texts [batch] -> the classifier's inputs [batch, longest row], padded as the scorer
    pads (padding.py): ids with the pad id, type ids with the pad type id, mask with 0.
    Outputs are named scoped(input name)."""
    from onnx import TensorProto, helper

    normalize, normalize_constants = normalize_nodes(settings.tables, settings.unk_token)
    left = padding_side == "left"
    # The batch's widest row: columns [0, width) when padding right, the last `width` left.
    window = ["width_from", "max_length"] if left else ["zero_1d", "width"]
    stacked = {
        "input_ids": "all_ids",
        "token_type_ids": "all_type_ids",
        "attention_mask": "all_mask",
    }
    given = helper.make_graph(
        [node("Identity", [TEXT_INPUT], ["given_texts"])],
        "given_texts",
        [],
        [value("given_texts", TensorProto.STRING, None)],
    )
    nodes = [
        node("Shape", [TEXT_INPUT], ["batch_1d"]),
        node("Equal", ["batch_1d", "zero_1d"], ["empty_1d"]),
        node("Squeeze", ["empty_1d", "axis0"], ["empty"]),
        node("If", ["empty"], ["texts"], then_branch=_one_empty_text(), else_branch=given),
        *normalize,
        node("Shape", [NORMAL_TEXTS], ["rows_1d"]),
        node("Squeeze", ["rows_1d", "axis0"], ["rows"]),
        node(
            "Loop",
            ["rows", "true"],
            ["all_ids", "all_type_ids", "all_mask"],
            body=_tokenize_one(settings, max_length, left),
        ),
        node("ReduceSum", ["all_mask", "axis1"], ["lengths"], keepdims=0),
        node("ReduceMax", ["lengths"], ["width"], keepdims=1),
        node("Sub", ["max_length", "width"], ["width_from"]),
        *(node("Slice", [stacked[name], *window, "axis1"], [name]) for name in input_names),
    ]
    constants = {
        "axis0": np.array([0], np.int64),
        "axis1": np.array([1], np.int64),
        "zero_1d": np.array([0], np.int64),
        "zero": np.array(0, np.int64),
        "max_length": np.array([max_length], np.int64),
        "pad_id": np.array(pad_token_id, np.int64),
        "pad_type_id": np.array(pad_token_type_id, np.int64),
        "true": np.array(True),
        "one_1d": np.array([1], np.int64),
        **normalize_constants,
    }
    graph = helper.make_graph(
        nodes,
        "tokenize",
        [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, ["batch"])],
        [value(name, TensorProto.INT64, ["batch", "sequence"]) for name in input_names],
        [constant(name, array) for name, array in constants.items()],
    )
    return helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", opset),
            helper.make_opsetid(EXTENSIONS_DOMAIN, 1),
            helper.make_opsetid(ML_DOMAIN, 2),
        ],
    )


def _with_heads(model: Any, logits: str) -> None:
    """Cut the classifier's logits back to the batch given (0 rows for an empty batch) and
    add probabilities (softmax) and label ids (argmax) beside them."""
    from onnx import TensorProto, helper

    graph = model.graph
    for each in graph.node:
        each.output[:] = [scoped("all_logits") if out == logits else out for out in each.output]
    graph.node.extend(
        [
            helper.make_node(
                "Slice",
                [scoped("all_logits"), scoped("zero_1d"), scoped("batch_1d"), scoped("axis0")],
                [logits],
            ),
            helper.make_node("Softmax", [logits], ["probabilities"], axis=-1),
            helper.make_node("ArgMax", [logits], ["label_ids"], axis=-1, keepdims=0),
        ]
    )
    width = graph.output[0].type.tensor_type.shape.dim[-1]
    labels = width.dim_value or width.dim_param or "labels"
    graph.output.extend(
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", labels]),
            helper.make_tensor_value_info("label_ids", TensorProto.INT64, ["batch"]),
        ]
    )


def build_edge_model(
    classifier_path: Path, tokenizer: Any, dst: Path, *, logits: str = "logits"
) -> None:
    """Join `tokenizer` (tokenizer_model's result) to the classifier at `classifier_path`
    and write the strings-in model to `dst`."""
    import onnx
    from onnx import compose

    classifier = onnx.load(str(classifier_path))
    tokenizer.ir_version = classifier.ir_version
    domains = {entry.domain: entry.version for entry in classifier.opset_import}
    for entry in tokenizer.opset_import:  # merge_models wants one version per domain
        entry.version = domains.get(entry.domain, entry.version)
    inputs = [value.name for value in classifier.graph.input]
    merged = compose.merge_models(
        tokenizer,
        classifier,
        io_map=[(scoped(name), name) for name in inputs],
        outputs=[logits],
    )
    merged.graph.name = "reviewscore_strings_in"
    _with_heads(merged, logits)
    onnx.save(merged, str(dst))
