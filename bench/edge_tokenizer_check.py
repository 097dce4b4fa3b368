"""Where the edge variant's in-graph tokenizer (onnxruntime-extensions' BertTokenizer) and
the scorer's (`tokenizers`, the deploy folder's tokenizer.json) give different token ids.

    1. every phrase of the Kaggle files (train and test);
    2. 60,000 random ASCII strings (letters, digits, punctuation, whitespace, control
       characters, Penn-Treebank tokens), and each ASCII character alone and inside a word;
    3. every Unicode code point (U+0001 to U+10FFFF, surrogates left out), alone, inside a
       word ("ab?cd"), and before and after one ("?ab cd?");
    4. 20,000 random strings of characters from all over Unicode, words and spaces;
    5. a short list of tricky texts, printed with both tokenizations.

    .venv/bin/python bench/edge_tokenizer_check.py --deploy deploy/minilm-gpu
"""

from __future__ import annotations

import argparse
import collections
import gzip
import random
import unicodedata
from pathlib import Path

import numpy as np

from reviewscore.deploy_folder import load_manifest
from reviewscore.export.edge.check import open_edge_session
from reviewscore.export.edge.names import scoped
from reviewscore.export.edge.variants import edge_tokenizer
from reviewscore.score.classifier import DeployedClassifier

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRICKY = [
    "café naïve Ça",
    "日本語のテキスト",
    "-LRB- it 's not -RRB-",
    "...!?",
    "",
    " ",
    "ā ł ő",  # Latin Extended-A
    "ΑΒΓ Ωmega",  # Greek capitals
    "Привет",  # Cyrillic capitals
    "한국어",  # Hangul
    "İstanbul",
    "ab¯cd",  # a word with a character the vocabulary lacks, after a known prefix
    "a\x7fb",  # DEL
    "a\x00b",  # NUL
    "[CLS] [MASK]",  # special tokens typed as text
    "ab[SEP]cd [unk] [UNK]x",  # inside a word; lower-case is not the token
    "great movie\U0001f600 ok",  # an emoji inside a word: the whole word is [UNK]
    "\U0001f602 a\U0001f600b",  # the graph's placeholder characters typed in a text
    "Σίσυφος ΣΑΣ ﬁne ½ ²",
    "«quoted» ¿qué? 1\u00a0000\u3000x",
]


def random_unicode(count: int) -> list[str]:
    """Strings of random code points from every plane, ASCII words and spaces mixed in."""
    rng = random.Random(1)
    ranges = [(0x20, 0x7F), (0x80, 0x800), (0x800, 0x10000), (0x10000, 0x110000)]

    def char() -> str:
        low, high = rng.choice(ranges)
        point = rng.randrange(low, high)
        return " " if 0xD800 <= point < 0xE000 else chr(point)

    words = ["the", "film", "n't", "[CLS]", "[UNK]", "Café", "ΣΑΣ", "\U0001f600"]
    return [
        "".join(
            char() if rng.random() < 0.6 else rng.choice([" ", rng.choice(words)])
            for _ in range(rng.randrange(40))
        )
        for _ in range(count)
    ]


def kaggle_phrases() -> list[str]:
    texts = []
    for name in ("train.tsv.gz", "test.tsv.gz"):
        with gzip.open(DATA / name, "rt", encoding="utf-8", newline="") as handle:
            next(handle)
            texts += [line.rstrip("\n").split("\t")[2] for line in handle]
    return texts


def random_ascii(count: int) -> list[str]:
    rng = random.Random(0)
    alphabet = [chr(c) for c in range(1, 127)]  # no NUL, no DEL: those differ, see TRICKY
    words = ["the", "film", "n't", "'s", "-LRB-", "-RRB-", "UNK", "Movie", "LOL", "[", "]"]
    texts = [chr(c) for c in range(1, 127)] + [f"a{chr(c)}b" for c in range(1, 127)]
    for _ in range(count):
        parts = [
            rng.choice(alphabet) if rng.random() < 0.5 else rng.choice(words) + " "
            for _ in range(rng.randrange(60))
        ]
        texts.append("".join(parts))
    return texts


class Compare:
    def __init__(self, deploy: Path) -> None:
        graph = edge_tokenizer(deploy, load_manifest(deploy))
        self.session = open_edge_session(graph.SerializeToString())
        self.tokenizer = DeployedClassifier.open(deploy).tokenizer

    def in_graph(self, texts: list[str]) -> list[list[int]]:
        out = []
        names = [scoped("input_ids"), scoped("attention_mask")]
        for start in range(0, len(texts), 2000):
            chunk = np.array(texts[start : start + 2000], dtype=object)
            ids, mask = self.session.run(names, {"text": chunk})
            out += [ids[row][mask[row] == 1].tolist() for row in range(ids.shape[0])]
        return out

    def reference(self, texts: list[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]

    def differing(self, texts: list[str]) -> list[int]:
        pairs = zip(self.in_graph(texts), self.reference(texts), strict=True)
        return [i for i, (mine, theirs) in enumerate(pairs) if mine != theirs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy", type=Path, required=True)
    args = parser.parse_args()
    compare = Compare(args.deploy)

    kaggle = kaggle_phrases()
    differ = compare.differing(kaggle)
    non_ascii = sum(any(ord(c) > 127 for c in text) for text in kaggle)
    print(
        f"Kaggle train+test: {len(differ)} of {len(kaggle):,} phrases differ "
        f"({non_ascii} hold non-ASCII)"
    )
    for i in differ[:10]:
        print("  ", repr(kaggle[i]))

    ascii_texts = random_ascii(60000)
    print(f"ASCII: {len(compare.differing(ascii_texts))} of {len(ascii_texts):,} differ")

    texts = random_unicode(20000)
    differ = compare.differing(texts)
    print(f"random Unicode: {len(differ)} of {len(texts):,} differ")
    for i in differ[:10]:
        print("  ", repr(texts[i]))

    points = [c for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000]
    for pattern in ("{0}", "ab{0}cd", "{0}ab cd{0}"):
        bad = [points[i] for i in compare.differing([pattern.format(chr(c)) for c in points])]
        kinds = collections.Counter(unicodedata.category(chr(c)) for c in bad)
        print(
            f"code points as {pattern!r}: {len(bad):,} of {len(points):,} differ; by category "
            f"{dict(kinds.most_common(8))}"
        )
        for point in bad[:5]:
            text = pattern.format(chr(point))
            print(f"   U+{point:04X}", compare.in_graph([text])[0], compare.reference([text])[0])

    for text, mine, theirs in zip(
        TRICKY, compare.in_graph(TRICKY), compare.reference(TRICKY), strict=True
    ):
        mark = "same" if mine == theirs else "DIFF"
        print(f"{mark} {text!r}: in-graph {mine}" + ("" if mine == theirs else f" vs {theirs}"))


if __name__ == "__main__":
    main()
