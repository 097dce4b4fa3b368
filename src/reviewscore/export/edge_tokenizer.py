"""The deploy folder's tokenizer.json as the attributes of onnxruntime-extensions'
`BertTokenizer` operator, for the strings-in (edge) variant.

Only what that operator can reproduce is accepted: a WordPiece model behind a
BertNormalizer and a BertPreTokenizer, one special token before the text and one after (the
`[CLS] $A [SEP]` template). The settings come from tokenizer.json alone, not from
transformers' tokenizer_config (whose `strip_accents: null` means "follow lower-casing", which
onnxruntime-extensions' own converter reads as "do not strip").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reviewscore.errors import ReviewscoreError

# onnxruntime-extensions' WordPiece gives a word longer than this one [UNK], as the
# `tokenizers` library does with its default; the operator has no attribute to change it.
OP_MAX_CHARS_PER_WORD = 100


class EdgeTokenizerError(ReviewscoreError):
    """The run's tokenizer is one that onnxruntime-extensions' BertTokenizer cannot reproduce."""


@dataclass(frozen=True)
class WordPieceSettings:
    vocab: list[str]  # token of each id, in id order
    lowercase: bool
    strip_accents: bool
    chinese_chars: bool
    unk_token: str
    prefix_token: str  # [CLS]
    suffix_token: str  # [SEP]
    continuing_prefix: str  # "##"

    def op_attributes(self, max_length: int) -> dict[str, Any]:
        """The BertTokenizer node's attributes. Its pad and mask tokens are only looked up in
        the vocabulary (the graph pads itself), so they name tokens known to exist."""
        return {
            "vocab_file": "\n".join(self.vocab),
            "do_lower_case": int(self.lowercase),
            "strip_accents": int(self.strip_accents),
            "tokenize_chinese_chars": int(self.chinese_chars),
            "unk_token": self.unk_token,
            "cls_token": self.prefix_token,
            "sep_token": self.suffix_token,
            "pad_token": self.unk_token,
            "mask_token": self.unk_token,
            "suffix_indicator": self.continuing_prefix,
            "max_length": max_length,
        }


def _refuse(path: Path, what: str) -> EdgeTokenizerError:
    return EdgeTokenizerError(
        f"{path}: {what}; the strings-in (--edge) variant needs a BERT WordPiece tokenizer "
        "(BertNormalizer, BertPreTokenizer, WordPiece, [CLS] text [SEP]), which "
        "onnxruntime-extensions' BertTokenizer reproduces"
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
    known = set(by_id.values())
    added = [t["content"] for t in spec.get("added_tokens", []) if t["content"] not in known]
    if added:
        raise _refuse(path, f"it adds tokens outside its vocabulary ({added[:3]})")
    prefix, suffix = _specials(path, spec.get("post_processor"))
    lowercase = bool(normalizer.get("lowercase", True))
    strip = normalizer.get("strip_accents")
    return WordPieceSettings(
        vocab=vocab,  # type: ignore[arg-type]
        lowercase=lowercase,
        strip_accents=lowercase if strip is None else bool(strip),
        chinese_chars=bool(normalizer.get("handle_chinese_chars", True)),
        unk_token=model.get("unk_token", "[UNK]"),
        prefix_token=prefix,
        suffix_token=suffix,
        continuing_prefix=model.get("continuing_subword_prefix", "##"),
    )
