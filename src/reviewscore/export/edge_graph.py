"""The strings-in (edge) variant: one ONNX file, raw texts in, logits, probabilities and
label ids out, the tokenizer inside the graph.

onnxruntime-extensions' BertTokenizer operator takes one text (or a pair) per call, so the
graph runs it in a Loop over the batch: each text is tokenised (lower-cased, accents
stripped, truncated to max length as the scorer's tokenizer.json does), padded to max length
with the model's pad id, and the stacked batch is cut back to its longest row before the
classifier. The tokenizer graph is joined to a classifier variant's graph with
onnx.compose.merge_models, so the strings-in int8 file is the int8 variant's graph itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reviewscore.export.edge_tokenizer import WordPieceSettings

EXTENSIONS_DOMAIN = "ai.onnx.contrib"
TEXT_INPUT = "text"
OUTPUTS = ("logits", "probabilities", "label_ids")
_PREFIX = "tokenize/"  # the tokenizer's names, kept apart from the classifier's


def _tok(name: str) -> str:
    return _PREFIX + name


def _constant(name: str, value: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(value), name)


def _graph_of_one_empty_text() -> Any:
    from onnx import TensorProto, helper

    return helper.make_graph(
        [
            helper.make_node(
                "Constant",
                [],
                [_tok("one_empty_text")],
                value=helper.make_tensor("empty_text", TensorProto.STRING, [1], [b""]),
            )
        ],
        "one_empty_text",
        [],
        [helper.make_tensor_value_info(_tok("one_empty_text"), TensorProto.STRING, [1])],
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
    Outputs are named _tok(input name)."""
    from onnx import TensorProto, helper

    left = padding_side == "left"
    body = helper.make_graph(
        [
            helper.make_node("Unsqueeze", [_tok("i"), _tok("axis0")], [_tok("index")]),
            helper.make_node("Gather", [_tok("texts"), _tok("index")], [_tok("one_text")], axis=0),
            helper.make_node(
                "BertTokenizer",
                [_tok("one_text")],
                [_tok("ids"), _tok("type_ids"), _tok("mask")],
                domain=EXTENSIONS_DOMAIN,
                **settings.op_attributes(max_length),
            ),
            helper.make_node("Shape", [_tok("ids")], [_tok("length")]),
            helper.make_node("Sub", [_tok("max_length"), _tok("length")], [_tok("missing")]),
            helper.make_node(
                "Concat",
                [_tok("missing"), _tok("zero_1d")] if left else [_tok("zero_1d"), _tok("missing")],
                [_tok("pads")],
                axis=0,
            ),
            helper.make_node(
                "Pad", [_tok("ids"), _tok("pads"), _tok("pad_id")], [_tok("ids_padded")]
            ),
            helper.make_node(
                "Pad",
                [_tok("type_ids"), _tok("pads"), _tok("pad_type_id")],
                [_tok("type_ids_padded")],
            ),
            helper.make_node(
                "Pad", [_tok("mask"), _tok("pads"), _tok("zero")], [_tok("mask_padded")]
            ),
            helper.make_node("Identity", [_tok("keep_going")], [_tok("keep_going_out")]),
        ],
        "tokenize_one",
        [
            helper.make_tensor_value_info(_tok("i"), TensorProto.INT64, []),
            helper.make_tensor_value_info(_tok("keep_going"), TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info(_tok("keep_going_out"), TensorProto.BOOL, []),
            *(
                helper.make_tensor_value_info(name, TensorProto.INT64, [max_length])
                for name in (_tok("ids_padded"), _tok("type_ids_padded"), _tok("mask_padded"))
            ),
        ],
    )
    # The batch's widest row: columns [0, width) when padding right, the last `width` left.
    window = (
        [_tok("width_from"), _tok("max_length")] if left else [_tok("zero_1d"), _tok("width")]
    ) + [_tok("axis1")]
    produced = {
        "input_ids": _tok("all_ids"),
        "token_type_ids": _tok("all_type_ids"),
        "attention_mask": _tok("all_mask"),
    }
    nodes = [
        helper.make_node("Shape", [TEXT_INPUT], [_tok("batch_1d")]),
        # An empty batch runs one empty text instead (the outputs are cut back to 0 rows in
        # _with_heads): int8 kernels stop the process (SIGFPE) on a batch of 0 rows.
        helper.make_node("Equal", [_tok("batch_1d"), _tok("zero_1d")], [_tok("empty_1d")]),
        helper.make_node("Squeeze", [_tok("empty_1d"), _tok("axis0")], [_tok("empty")]),
        helper.make_node(
            "If",
            [_tok("empty")],
            [_tok("texts")],
            then_branch=_graph_of_one_empty_text(),
            else_branch=helper.make_graph(
                [helper.make_node("Identity", [TEXT_INPUT], [_tok("given_texts")])],
                "given_texts",
                [],
                [helper.make_tensor_value_info(_tok("given_texts"), TensorProto.STRING, None)],
            ),
        ),
        helper.make_node("Shape", [_tok("texts")], [_tok("rows_1d")]),
        helper.make_node("Squeeze", [_tok("rows_1d"), _tok("axis0")], [_tok("batch")]),
        helper.make_node(
            "Loop",
            [_tok("batch"), _tok("true")],
            [_tok("all_ids"), _tok("all_type_ids"), _tok("all_mask")],
            body=body,
        ),
        helper.make_node(
            "ReduceSum", [_tok("all_mask"), _tok("axis1")], [_tok("lengths")], keepdims=0
        ),
        # at least 1 wide: an empty batch then reaches the classifier as (0, 1), which it
        # takes, where (0, 0) fails in its pooler
        helper.make_node(
            "Concat", [_tok("lengths"), _tok("one_1d")], [_tok("lengths_or_one")], axis=0
        ),
        helper.make_node("ReduceMax", [_tok("lengths_or_one")], [_tok("width")], keepdims=1),
        helper.make_node("Sub", [_tok("max_length"), _tok("width")], [_tok("width_from")]),
        *(
            helper.make_node("Slice", [produced[name], *window], [_tok(name)])
            for name in input_names
        ),
    ]
    initializers = [
        _constant(_tok("axis0"), np.array([0], np.int64)),
        _constant(_tok("axis1"), np.array([1], np.int64)),
        _constant(_tok("zero_1d"), np.array([0], np.int64)),
        _constant(_tok("one_1d"), np.array([1], np.int64)),
        _constant(_tok("zero"), np.array(0, np.int64)),
        _constant(_tok("max_length"), np.array([max_length], np.int64)),
        _constant(_tok("pad_id"), np.array(pad_token_id, np.int64)),
        _constant(_tok("pad_type_id"), np.array(pad_token_type_id, np.int64)),
        _constant(_tok("true"), np.array(True)),
    ]
    graph = helper.make_graph(
        nodes,
        "tokenize",
        [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, ["batch"])],
        [
            helper.make_tensor_value_info(_tok(name), TensorProto.INT64, ["batch", "sequence"])
            for name in input_names
        ],
        initializers,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(EXTENSIONS_DOMAIN, 1)],
    )


def _with_heads(model: Any, logits: str) -> None:
    """Cut the classifier's logits back to the batch given (0 rows for an empty batch) and
    add probabilities (softmax) and label ids (argmax) beside them."""
    from onnx import TensorProto, helper

    graph = model.graph
    for node in graph.node:
        node.output[:] = [_tok("all_logits") if out == logits else out for out in node.output]
    graph.node.extend(
        [
            helper.make_node(
                "Slice",
                [_tok("all_logits"), _tok("zero_1d"), _tok("batch_1d"), _tok("axis0")],
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
        io_map=[(_tok(name), name) for name in inputs],
        outputs=[logits],
    )
    merged.graph.name = "reviewscore_strings_in"
    _with_heads(merged, logits)
    onnx.save(merged, str(dst))
