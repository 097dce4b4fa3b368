"""The deploy folder's tokenizer.json as the attributes of onnxruntime-extensions'
`BertTokenizer` operator, for the strings-in (edge) variant.

Only what the graph can reproduce is accepted: a WordPiece model behind a BertNormalizer
and a BertPreTokenizer, one special token before the text and one after (the
`[CLS] $A [SEP]` template), added tokens that are vocabulary entries matched as typed. The
normalising itself (lower-casing, accents, punctuation, added tokens typed in a text) is
done by the graph's tables (normalizer.py), not by the operator, whose own tables
differ from `tokenizers` outside ASCII; the operator gets the vocabulary with each added
token's entry replaced by its placeholder character.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reviewscore.export.edge.normalizer import (
    EdgeTokenizerError,
    NormalizerTables,
    normalizer_tables,
)

# onnxruntime-extensions' WordPiece gives a word longer than this one [UNK], as the
# `tokenizers` library does with its default; the operator has no attribute to change it.
OP_MAX_CHARS_PER_WORD = 100


@dataclass(frozen=True)
class WordPieceSettings:
    vocab: list[str]  # token of each id, in id order
    tables: NormalizerTables  # the graph's normalising, from tokenizer.json's normalizer
    unk_token: str
    prefix_token: str  # [CLS]
    suffix_token: str  # [SEP]
    continuing_prefix: str  # "##"

    def op_attributes(self, max_length: int) -> dict[str, Any]:
        """The BertTokenizer node's attributes: its own normalising off (the graph's tables
        did it), added tokens as their placeholders. Its pad and mask tokens are only
        looked up in the vocabulary (the graph pads itself), so they name the [UNK] one."""
        stand_in = self.tables.placeholders
        unk = stand_in[self.unk_token]
        return {
            "vocab_file": "\n".join(stand_in.get(token, token) for token in self.vocab),
            "do_lower_case": 0,
            "strip_accents": 0,
            "tokenize_chinese_chars": 0,
            "unk_token": unk,
            "cls_token": stand_in[self.prefix_token],
            "sep_token": stand_in[self.suffix_token],
            "pad_token": unk,
            "mask_token": unk,
            "suffix_indicator": self.continuing_prefix,
            "max_length": max_length,
        }


def _refuse(path: Path, what: str) -> EdgeTokenizerError:
    return EdgeTokenizerError(
        f"{path}: {what}; the strings-in (--edge) variant needs a BERT WordPiece tokenizer "
        "(BertNormalizer, BertPreTokenizer, WordPiece, [CLS] text [SEP], added tokens "
        "matched as typed), which the graph reproduces"
    )


def _specials(path: Path, post: dict[str, Any] | None) -> tuple[str, str]:
    """The tokens the post-processor puts before and after a single text."""
    if post and post.get("type") == "BertProcessing":
        return post["cls"][0], post["sep"][0]
    if not post or post.get("type") != "TemplateProcessing":
        raise _refuse(path, f"its post-processor is {(post or {}).get('type')!r}")
    single = post.get("single", [])
    shape = [next(iter(piece)) for piece in single]
    type_ids = {next(iter(piece.values())).get("type_id", 0) for piece in single}
    if shape != ["SpecialToken", "Sequence", "SpecialToken"] or type_ids != {0}:
        raise _refuse(path, f"its template for one text is {shape}")
    return single[0]["SpecialToken"]["id"], single[2]["SpecialToken"]["id"]


def _added_tokens(path: Path, entries: list[dict[str, Any]], known: set[str]) -> list[str]:
    """The added tokens' texts: each must be a vocabulary entry `tokenizers` matches exactly
    as typed (not normalised, no stripping of the spaces around it, also inside a word),
    which is how BERT's [CLS], [SEP], [PAD], [UNK] and [MASK] are set."""
    added = []
    for entry in entries:
        if entry["content"] not in known:
            raise _refuse(path, f"it adds a token outside its vocabulary ({entry['content']!r})")
        if any(entry.get(flag) for flag in ("normalized", "lstrip", "rstrip", "single_word")):
            raise _refuse(path, f"its added token {entry['content']!r} is not matched as typed")
        added.append(entry["content"])
    return added


def wordpiece_settings(path: Path) -> WordPieceSettings:
    """Read and check tokenizer.json; raise EdgeTokenizerError naming what does not fit."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    model = spec.get("model") or {}
    if model.get("type") != "WordPiece":
        raise _refuse(path, f"its model is {model.get('type')!r}")
    normalizer = spec.get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer" or not normalizer.get("clean_text", True):
        raise _refuse(path, f"its normalizer is {normalizer.get('type')!r}")
    if (spec.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer":
        raise _refuse(path, "its pre-tokenizer is not BertPreTokenizer")
    if model.get("max_input_chars_per_word", OP_MAX_CHARS_PER_WORD) != OP_MAX_CHARS_PER_WORD:
        raise _refuse(path, "its max_input_chars_per_word is not 100")
    by_id = {int(i): token for token, i in model["vocab"].items()}
    vocab = [by_id.get(i) for i in range(len(by_id))]
    if None in vocab or any("\n" in token or "\r" in token for token in by_id.values()):
        raise _refuse(path, "its vocabulary ids are not 0..n-1 or a token holds a line break")
    added = _added_tokens(path, spec.get("added_tokens", []), set(by_id.values()))
    prefix, suffix = _specials(path, spec.get("post_processor"))
    unk = model.get("unk_token", "[UNK]")
    if not {prefix, suffix, unk} <= set(added):
        raise _refuse(path, f"{prefix}, {suffix} or {unk} is not one of its added tokens")
    continuing_prefix = model.get("continuing_subword_prefix", "##")
    try:
        tables = normalizer_tables(normalizer, vocab, added, continuing_prefix)  # type: ignore[arg-type]
    except EdgeTokenizerError as error:
        raise _refuse(path, str(error)) from None
    return WordPieceSettings(
        vocab=vocab,  # type: ignore[arg-type]
        tables=tables,
        unk_token=unk,
        prefix_token=prefix,
        suffix_token=suffix,
        continuing_prefix=continuing_prefix,
    )
