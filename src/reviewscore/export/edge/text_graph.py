"""The strings-in graph's normalising part: a batch of raw texts -> the same texts as the
deploy folder's tokenizer.json leaves them before WordPiece (normalizer.py says what
and why), for onnxruntime-extensions' BertTokenizer with its own normalising off.

Two branches, chosen per batch. A batch that holds a non-ASCII character takes the full
one: RE2 replacements with the full Unicode classes, then every character through the table
(split into characters, LabelEncoder, back into a grid of texts x characters, joined), then
the words holding the marker made one [UNK]. A batch of ASCII texts only (all of Kaggle's)
takes a short one: the same replacements with classes cut to ASCII, the operator library's
StringLower where the table's ASCII part is lower-casing, and the words holding an ASCII
character no piece has made [UNK]. The whole tokenizer part, one thread, batches of 64
test phrases: 45,000 texts/s on the short branch, 13,600/s on the full one.
(onnxruntime-extensions compiles a StringRegexReplace pattern on every run, and the full
classes take about half a millisecond each to compile.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from reviewscore.export.edge.names import EXTENSIONS_DOMAIN, ML_DOMAIN, constant, node, value
from reviewscore.export.edge.normalizer import NormalizerTables

NORMAL_TEXTS = "normal_texts"  # the If node's output: the normalised batch


def re2_class(code_points: Iterable[int]) -> str:
    """An RE2 character class of the code points, as runs of `\\x{..}` ranges."""
    runs: list[list[int]] = []
    for point in sorted(set(code_points)):
        if runs and runs[-1][1] == point - 1:
            runs[-1][1] = point
        else:
            runs.append([point, point])
    return "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in runs) + "]"


def _replacements(tables: NormalizerTables, *, ascii_only: bool) -> list[tuple[str, str]]:
    """The RE2 (pattern, rewrite) pairs applied in turn to the raw batch."""
    steps = []
    if not ascii_only:  # only a non-ASCII text can hold a placeholder character
        steps.append((re2_class(map(ord, tables.placeholders.values())), tables.marker))
    # \Q...\E: the added token's text, matched as typed
    steps += [(f"\\Q{token}\\E", f" {char} ") for token, char in tables.placeholders.items()]
    for points, rewrite in ((tables.removed, ""), (tables.to_space, " ")):
        if points:
            steps.append((re2_class(points), rewrite))
    if tables.isolated:
        steps.append((f"({re2_class(tables.isolated)})", " \\1 "))
    return steps


def _replace_nodes(
    steps: list[tuple[str, str]], name: str, constants: dict[str, np.ndarray]
) -> tuple[list[Any], str]:
    """StringRegexReplace nodes applying `steps` in turn to `texts`; their last output."""
    nodes, text = [], "texts"
    for k, (pattern, rewrite) in enumerate(steps):
        constants[f"{name}/pattern_{k}"] = np.array([pattern], dtype=object)
        constants[f"{name}/rewrite_{k}"] = np.array([rewrite], dtype=object)
        step = [text, f"{name}/pattern_{k}", f"{name}/rewrite_{k}"]
        out = f"{name}/texts_{k}"
        nodes.append(node("StringRegexReplace", step, [out], domain=EXTENSIONS_DOMAIN))
        text = out
    return nodes, text


def _branch_graph(name: str, nodes: list[Any], constants: dict[str, np.ndarray]) -> Any:
    from onnx import TensorProto, helper

    return helper.make_graph(
        nodes,
        f"normalize_{name}",
        [],
        [value(f"{NORMAL_TEXTS}_{name}", TensorProto.STRING, None)],
        [constant(key, array) for key, array in constants.items()],
    )


def _ascii_branch(tables: NormalizerTables) -> Any | None:
    """The short branch for a batch of ASCII texts, or None where the table's ASCII part is
    more than lower-casing (then the full branch, cut to ASCII, stands in)."""
    ascii_tables = tables.ascii_only()
    table = ascii_tables.table
    changed = {char: out for char, out in table.items() if ord(char) < 128 and out != char}
    upper = {chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}
    if changed and changed != upper:
        return None
    constants: dict[str, np.ndarray] = {}
    nodes, text = _replace_nodes(_replacements(ascii_tables, ascii_only=True), "ascii", constants)
    if changed:
        nodes.append(node("StringLower", [text], ["ascii/lowered"], domain=EXTENSIONS_DOMAIN))
        text = "ascii/lowered"
    left = set(range(128)) - set(tables.removed) - set(tables.to_space)
    unknown = [c for c in left if chr(c) not in table]  # the full branch's marker
    out = f"{NORMAL_TEXTS}_ascii"
    if unknown:
        constants["ascii/unknown_word"] = np.array([f"[^ ]*{re2_class(unknown)}[^ ]*"], object)
        step = [text, "ascii/unknown_word", "unk_placeholder"]
        nodes.append(node("StringRegexReplace", step, [out], domain=EXTENSIONS_DOMAIN))
    else:
        nodes.append(node("Identity", [text], [out]))
    return _branch_graph("ascii", nodes, constants)


def _full_branch(tables: NormalizerTables, name: str, *, ascii_only: bool) -> Any:
    """The branch for any batch: `texts` -> `normal_texts_{name}`."""
    from onnx import TensorProto

    def c(tensor: str) -> str:
        """This branch's own name for `tensor`."""
        return f"{name}/{tensor}"

    constants: dict[str, np.ndarray] = {}
    nodes, text = _replace_nodes(_replacements(tables, ascii_only=ascii_only), name, constants)
    keys = list(tables.table)
    constants[c("table_values")] = np.array(
        [tables.table[key] for key in keys] + [tables.marker], dtype=object
    )
    marker = re2_class([ord(tables.marker)])
    constants[c("marked_word")] = np.array([f"[^ ]*{marker}[^ ]*"], dtype=object)
    nodes += [
        # every character of the batch, and where each text's characters start
        node(
            "StringRegexSplitWithOffsets",
            [text, "one_char", "one_char"],
            [c("raw_chars"), c("char_begins"), c("char_ends"), c("text_starts")],
            domain=EXTENSIONS_DOMAIN,
        ),
        node(
            "LabelEncoder",
            [c("raw_chars")],
            [c("table_row")],
            domain=ML_DOMAIN,
            keys_strings=keys,
            values_int64s=list(range(len(keys))),
            default_int64=len(keys),  # the marker
        ),
        node("Gather", [c("table_values"), c("table_row")], [c("chars")], axis=0),
        # the characters into a [texts, longest + 1] grid, joined along each row
        node("Shape", [c("chars")], [c("char_count")]),
        node("Squeeze", [c("char_count"), "axis0"], [c("char_count_0d")]),
        node("Range", ["zero", c("char_count_0d"), "one"], [c("positions")]),
        node("Slice", [c("text_starts"), "one_1d", "int64_max_1d"], [c("text_ends")]),
        node("Slice", [c("text_starts"), "zero_1d", "minus_one_1d"], [c("text_begins")]),
        node("Unsqueeze", [c("positions"), "axis1"], [c("positions_column")]),
        node("GreaterOrEqual", [c("positions_column"), c("text_ends")], [c("past_end")]),
        node("Cast", [c("past_end")], [c("past_end_count")], to=TensorProto.INT64),
        node("ReduceSum", [c("past_end_count"), "axis1"], [c("row")], keepdims=0),
        node("Gather", [c("text_starts"), c("row")], [c("row_start")], axis=0),
        node("Sub", [c("positions"), c("row_start")], [c("column")]),
        node("Unsqueeze", [c("row"), "axis1"], [c("row_2d")]),
        node("Unsqueeze", [c("column"), "axis1"], [c("column_2d")]),
        node("Concat", [c("row_2d"), c("column_2d")], [c("cells")], axis=1),
        node("Sub", [c("text_ends"), c("text_begins")], [c("lengths")]),
        node("ReduceMax", [c("lengths")], [c("longest")], keepdims=1),
        node("Add", [c("longest"), "one_1d"], [c("width")]),
        node("Shape", [text], [c("batch")]),
        node("Concat", [c("batch"), c("width")], [c("grid_shape")], axis=0),
        node("Expand", ["empty_string", c("grid_shape")], [c("blank_grid")]),
        node("ScatterND", [c("blank_grid"), c("cells"), c("chars")], [c("grid")]),
        node(
            "StringJoin",
            [c("grid"), "empty_string", "axis1"],
            [c("joined")],
            domain=EXTENSIONS_DOMAIN,
        ),
        # a word holding the marker: one [UNK], as `tokenizers` makes it
        node(
            "StringRegexReplace",
            [c("joined"), c("marked_word"), "unk_placeholder"],
            [f"{NORMAL_TEXTS}_{name}"],
            domain=EXTENSIONS_DOMAIN,
        ),
    ]
    return _branch_graph(name, nodes, constants)


def normalize_nodes(tables: NormalizerTables, unk_token: str) -> tuple[list[Any], dict[str, Any]]:
    """Nodes from the batch `texts` to `normal_texts`, and the shared constants they use."""
    from onnx import TensorProto

    unk = tables.placeholders[unk_token]
    non_ascii = re2_class(range(0x80, 0x110000))
    nodes = [
        node(
            "StringRegexReplace",
            ["texts", "non_ascii", "empty_string"],
            ["ascii_part"],
            domain=EXTENSIONS_DOMAIN,
        ),
        node("StringEqual", ["texts", "ascii_part"], ["is_ascii"], domain=EXTENSIONS_DOMAIN),
        node("Cast", ["is_ascii"], ["is_ascii_count"], to=TensorProto.INT64),
        node("ReduceMin", ["is_ascii_count"], ["all_ascii_count"], keepdims=0),
        node("Cast", ["all_ascii_count"], ["all_ascii"], to=TensorProto.BOOL),
        node(
            "If",
            ["all_ascii"],
            [NORMAL_TEXTS],
            then_branch=_ascii_branch(tables)
            or _full_branch(tables.ascii_only(), "ascii", ascii_only=True),
            else_branch=_full_branch(tables, "full", ascii_only=False),
        ),
    ]
    constants = {
        "non_ascii": np.array([non_ascii], dtype=object),
        "one_char": np.array(["(.)"], dtype=object),
        "empty_string": np.array([""], dtype=object),
        "one": np.array(1, np.int64),
        "minus_one_1d": np.array([-1], np.int64),
        "int64_max_1d": np.array([np.iinfo(np.int64).max], np.int64),
        "unk_placeholder": np.array([unk], dtype=object),
    }
    return nodes, constants
