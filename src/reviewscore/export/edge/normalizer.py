"""What the scorer's tokenizer does to a text before WordPiece, as tables the strings-in
graph applies ahead of onnxruntime-extensions' `BertTokenizer`.

That operator's own lower-casing and accent stripping are tables that miss many letters
(`ā`, Greek capitals, `İ`), it does not decompose Hangul, splits on a narrower set of
punctuation, drops DEL differently, and where a word holds a character no vocabulary piece
covers it keeps the pieces before it and adds `[UNK]`, where `tokenizers` makes the whole
word one `[UNK]`. So the graph does all of that itself and runs the operator with its own
normalisation switched off:

1. an added token typed in a text (`[CLS]`) becomes its placeholder character, one the
   operator's vocabulary maps to that token's id (`tokenizers` matches added tokens in the
   raw text, before normalising); a placeholder typed in a text is first replaced by the
   marker (both are characters of no vocabulary piece, so nothing changes for them);
2. characters the normaliser drops are removed, whitespace becomes a space, punctuation and
   CJK ideographs get a space each side (RE2 character classes);
3. every character then goes through one table: lower-casing, NFD accent stripping and
   Hangul decomposition, and the marker for a character no vocabulary piece holds;
4. a word holding the marker becomes the `[UNK]` placeholder, one word: the whole-word
   `[UNK]` of `tokenizers`.

The tables are not a re-implementation: each code point's normalised form and whether it is
punctuation are read from the `tokenizers` library itself, the scorer's own tokenizer.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from tokenizers import Tokenizer
from tokenizers.pre_tokenizers import BertPreTokenizer

from reviewscore.errors import ReviewscoreError

# Characters tried, in order, as placeholders: emoji, which no normaliser changes, no BERT
# vocabulary holds and the operator treats as letters of a word.
_PLACEHOLDER_RANGE = range(0x1F600, 0x1F650)
_SEPARATOR = "\U0001f64f"  # joins all code points for one normaliser call (a starter)
_NO_MODEL = {
    "type": "WordPiece",
    "vocab": {"[UNK]": 0},
    "unk_token": "[UNK]",
    "continuing_subword_prefix": "##",
    "max_input_chars_per_word": 100,
}


class EdgeTokenizerError(ReviewscoreError):
    """The run's tokenizer is one the strings-in graph cannot reproduce."""


@dataclass(frozen=True)
class NormalizerTables:
    removed: tuple[int, ...]  # code points the normaliser drops (controls, unassigned...)
    to_space: tuple[int, ...]  # whitespace, which becomes one space
    isolated: tuple[int, ...]  # punctuation and CJK ideographs: a space each side
    # Every character that can reach WordPiece -> what it becomes: itself for a character
    # some vocabulary piece holds, its normal form for one the normaliser changes (with
    # `marker` for each character of it no piece holds). Any other character is `marker`.
    table: dict[str, str]
    placeholders: dict[str, str]  # added token -> the character standing for it
    marker: str  # an unknown character: its word becomes the [UNK] placeholder

    def ascii_only(self) -> NormalizerTables:
        """The same for texts of ASCII characters only: far smaller classes and table."""
        stand_ins = set(self.placeholders.values())
        return NormalizerTables(
            removed=tuple(p for p in self.removed if p < 128),
            to_space=tuple(p for p in self.to_space if p < 128),
            isolated=tuple(p for p in self.isolated if p < 128),
            table={k: v for k, v in self.table.items() if ord(k) < 128 or k in stand_ins},
            placeholders=self.placeholders,
            marker=self.marker,
        )


@dataclass(frozen=True)
class _CharacterClasses:
    removed: list[int]
    to_space: list[int]
    isolated: frozenset[str]
    mapped: dict[str, str]
    unchanged: frozenset[str]


@functools.lru_cache(maxsize=4)
def _character_classes(normalizer_json: str) -> _CharacterClasses:
    """Sort every code point by what the normaliser (and punctuation splitting) does to it.
    Cached per normaliser: it reads all 1.1 million code points (about 6 s)."""
    spec = {"model": _NO_MODEL, "normalizer": json.loads(normalizer_json)}
    normalizer = Tokenizer.from_str(json.dumps(spec)).normalizer
    chars = [chr(point) for point in range(0x110000) if not 0xD800 <= point < 0xE000]
    others = [char for char in chars if char != _SEPARATOR]
    # One call for all: the normaliser works character by character, and the separator
    # is a starter that no other character's normal form contains.
    outputs = normalizer.normalize_str(_SEPARATOR.join(others)).split(_SEPARATOR)
    normal = dict(zip(others, outputs, strict=True))
    normal[_SEPARATOR] = normalizer.normalize_str(_SEPARATOR)
    # BertPreTokenizer isolates punctuation: between letters, a punctuation mark is a word.
    pieces = BertPreTokenizer().pre_tokenize_str("a" + "a".join(chars) + "a")
    punctuation = {piece for piece, _ in pieces if len(piece) == 1 and piece != "a"}
    removed, to_space, isolated, mapped, unchanged = [], [], set(), {}, set()
    for char in chars:
        out = "".join(f" {c} " if c in punctuation else c for c in normal[char])
        if out == char:
            unchanged.add(char)
        elif out == "":
            removed.append(ord(char))
        elif out == " ":
            to_space.append(ord(char))
        elif out == f" {char} ":
            isolated.add(char)
        else:
            mapped[char] = out
    return _CharacterClasses(removed, to_space, frozenset(isolated), mapped, frozenset(unchanged))


def normalizer_tables(
    normalizer: dict, vocab: list[str], added: list[str], continuing_prefix: str
) -> NormalizerTables:
    """The tables for a tokenizer.json's normalizer, vocabulary (token of each id) and added
    tokens (those `tokenizers` matches in the raw text). Raises EdgeTokenizerError for a
    vocabulary on which the operator's WordPiece could split a word differently."""
    classes = _character_classes(json.dumps(normalizer, sort_keys=True))
    specials = set(added)
    words = [token for token in vocab if token not in specials]
    starts = {token for token in words if len(token) == 1}
    follows = {
        token[len(continuing_prefix) :] for token in words if token.startswith(continuing_prefix)
    }
    in_vocab = {char for token in words for char in token.removeprefix(continuing_prefix)}
    # The operator and `tokenizers` part ways only where WordPiece finds no piece in the
    # middle of a word: a word with a character of no piece is made one [UNK] beforehand;
    # a character with a one-letter piece for both places in a word never fails.
    reachable = classes.unchanged | {char for out in classes.mapped.values() for char in out}
    risky = sorted(
        char
        for char in in_vocab & reachable - classes.isolated
        if not (char in starts and char in follows)
    )
    if risky:
        raise EdgeTokenizerError(
            f"its vocabulary holds {risky[:5]} inside longer pieces only, where WordPiece in "
            "the graph could split a word otherwise than `tokenizers`"
        )
    free = [
        chr(point)
        for point in _PLACEHOLDER_RANGE
        if chr(point) in classes.unchanged and chr(point) not in in_vocab
    ]
    if len(free) < len(added) + 1:
        raise EdgeTokenizerError("it has more added tokens than placeholder characters")
    placeholders = dict(zip(added, free[: len(added)], strict=True))
    marker = free[len(added)]
    known = in_vocab | set(placeholders.values()) | {" "}
    table = {char: char for char in sorted(known)}
    for char, out in classes.mapped.items():
        table[char] = "".join(c if c in known else marker for c in out)
    return NormalizerTables(
        removed=tuple(classes.removed),
        to_space=tuple(classes.to_space),
        isolated=tuple(sorted(map(ord, classes.isolated))),
        table=table,
        placeholders=placeholders,
        marker=marker,
    )
