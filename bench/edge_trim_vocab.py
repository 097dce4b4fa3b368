"""Would trimming the word-embedding matrix pay? Keep the tokens that occur in the training
file, every one-character piece and the special tokens; every other token would become
[UNK]. This measures what that does to the labels of a file the model has not been trained
on, and what it would save, without building the trimmed file: the labels come from the
deploy folder's own variant fed the ids with each dropped token replaced by [UNK], which is
what a trimmed matrix behind an id remapping computes.

The rule (issue #12): ship only if labels agree with the untrimmed model on >= 99.5% rows.

    .venv/bin/python bench/edge_trim_vocab.py --deploy deploy/minilm-gpu
"""

from __future__ import annotations

import argparse
import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

from reviewscore.cpu_features import local_cpu
from reviewscore.padding import Ragged
from reviewscore.score.classifier import DeployedClassifier, Encoded

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out" / "edge_trim_vocab.json"
THRESHOLD = 0.995


def phrases(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        next(handle)
        return [line.rstrip("\n").split("\t")[2] for line in handle]


def embedding_width(model_file: Path, vocabulary: int) -> int:
    """The word-embedding matrix's width: the initializer with one row per token."""
    import onnx

    model = onnx.load(str(model_file), load_external_data=False)
    for tensor in model.graph.initializer:
        if len(tensor.dims) == 2 and tensor.dims[0] == vocabulary:
            return int(tensor.dims[1])
    raise SystemExit(f"{model_file}: no initializer of {vocabulary} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploy", type=Path, required=True)
    parser.add_argument("--variant", default="fp32")
    parser.add_argument("--train", type=Path, default=DATA / "train.tsv.gz")
    parser.add_argument("--scored", type=Path, default=DATA / "test.tsv.gz")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    classifier = DeployedClassifier.open(args.deploy, args.variant, threads=args.threads)
    tokenizer = classifier.tokenizer
    vocab = tokenizer.get_vocab()
    seen = {i for encoding in tokenizer.encode_batch(phrases(args.train)) for i in encoding.ids}
    single = {i for token, i in vocab.items() if len(token.removeprefix("##")) == 1}
    specials = {i for token, i in vocab.items() if token.startswith("[") and token.endswith("]")}
    keep = seen | single | specials
    unk = vocab["[UNK]"]

    texts = phrases(args.scored)
    encodings = tokenizer.encode_batch(texts)
    touched = [row for row, e in enumerate(encodings) if any(i not in keep for i in e.ids)]
    full = classifier.encode([texts[row] for row in touched])
    trimmed_ids = [[i if i in keep else unk for i in encodings[row].ids] for row in touched]
    trimmed = Encoded(Ragged.from_lists(trimmed_ids), full.type_ids)
    before = classifier.logits_encoded(full).argmax(axis=1)
    after = classifier.logits_encoded(trimmed).argmax(axis=1)
    changed = int((before != after).sum())
    agreement = 1 - changed / len(texts)
    width = embedding_width(args.deploy / classifier.variant.file, len(vocab))
    result = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": local_cpu()["cpu"],
        "deploy": str(args.deploy),
        "variant": args.variant,
        "vocabulary": len(vocab),
        "kept": len(keep),
        "kept_share": len(keep) / len(vocab),
        "embedding_width": width,
        "saved_mb_fp32": (len(vocab) - len(keep)) * width * 4 / 1e6,
        "saved_mb_int8": (len(vocab) - len(keep)) * width / 1e6,
        "scored_rows": len(texts),
        "rows_with_a_dropped_token": len(touched),
        "labels_changed": changed,
        "agreement": agreement,
        "ships": agreement >= THRESHOLD,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"kept {len(keep):,} of {len(vocab):,} tokens ({len(keep) / len(vocab):.0%}), "
        f"saving {result['saved_mb_fp32']:.1f} MB fp32 / {result['saved_mb_int8']:.1f} MB int8; "
        f"{len(touched):,} of {len(texts):,} rows of {args.scored.name} hold a dropped token; "
        f"labels changed {changed:,}: agreement {agreement:.2%} "
        f"({'ships' if result['ships'] else 'does not ship'}: the bar is {THRESHOLD:.1%})"
    )


if __name__ == "__main__":
    main()
