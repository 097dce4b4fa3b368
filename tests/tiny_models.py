"""Tiny models and a locally built tokenizer, so tests never touch a model hub.

`make_model` gives random weights (what training tests start from). `make_trained_model`
trains one briefly on the separable toy task below, so its logits have real margins: a
random model's top two logits differ by ~1e-3, below int8 rounding, so which labels int8
flips would depend on the CPU's int8 kernels (AVX2 vs VNNI) and so would the tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

from reviewscore.data import Columns, read_reviews, write_reviews_csv
from reviewscore.labels import LABEL_NAMES
from reviewscore.run_folder import RunFolder, RunInfo

ARCHITECTURES = ("bert", "roberta", "distilbert", "xlnet", "xlm", "mpnet", "electra")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "good",
    "great",
    "fine",
    "fun",
    "best",
    "love",
    "superb",
    "moving",
    "bad",
    "awful",
    "dull",
    "worst",
    "boring",
    "hate",
    "weak",
    "mess",
    "the",
    "a",
    "an",
    "film",
    "movie",
    "plot",
    "actor",
    "story",
    "it",
    "is",
    "was",
    "not",
    "very",
    "and",
    "but",
    "of",
    "to",
    "'",
    "s",
    "n't",
    "-lrb-",
    "-rrb-",
    ",",
    ".",
    "!",
    "?",
]
MAX_POSITIONS = 64


def make_tokenizer(padding_side: str = "right"):
    """A WordPiece fast tokenizer built from a toy vocabulary: [CLS] text [SEP]."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789")
    tokens = dict.fromkeys(SPECIALS + WORDS + letters + ["##" + c for c in letters])
    vocab = {tok: i for i, tok in enumerate(tokens)}  # unique tokens, contiguous ids
    backend = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=MAX_POSITIONS,
        padding_side=padding_side,
    )
    return tokenizer


def make_config(arch: str, vocab_size: int):
    """A config of `arch` with 3 layers of width 32 and a 5-class head."""
    from transformers import AutoConfig

    common = {"num_labels": len(LABEL_NAMES), "vocab_size": vocab_size, "pad_token_id": 0}
    shapes = {
        "bert": dict(
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=MAX_POSITIONS,
        ),
        "roberta": dict(
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=MAX_POSITIONS + 2,
            type_vocab_size=1,
        ),
        "distilbert": dict(
            dim=32, n_layers=3, n_heads=2, hidden_dim=37, max_position_embeddings=MAX_POSITIONS
        ),
        "xlnet": dict(d_model=32, n_layer=3, n_head=2, d_inner=37),
        "xlm": dict(
            emb_dim=32, n_layers=3, n_heads=2, max_position_embeddings=MAX_POSITIONS, pad_index=0
        ),
        "mpnet": dict(
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=MAX_POSITIONS + 2,
        ),
        "electra": dict(
            embedding_size=16,
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=MAX_POSITIONS,
        ),
    }
    return AutoConfig.for_model(arch, **common, **shapes[arch])


def make_model(arch: str, seed: int = 0):
    """(model, tokenizer) of `arch`, random weights, seeded; eval mode."""
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer = make_tokenizer(padding_side="left" if arch == "xlnet" else "right")
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(make_config(arch, len(tokenizer)))
    model.eval()
    return model, tokenizer


TRAIN_STEPS = 150
TRAIN_BATCH = 32


@functools.cache
def _trained_bert_state() -> dict:
    """Weights of the seed-0 tiny bert after TRAIN_STEPS of Adam on `keyword_rows`, the rate
    decaying linearly to zero; computed once per process.

    Training a model this small is chaotic: other seeds, rates or the counting task of
    `toy_rows` stall at 40-80% accuracy. This one reaches accuracy 1.0 on `make_run`'s
    validation rows with a smallest top-two logit margin of ~3.5 (int8 moves logits by ~0.05),
    and gives the same figures with its start nudged by 1e-12 or 1e-8. It runs in float64 on
    one thread, without dropout, so CPU families (whose kernels sum in other orders, ~1e-16
    apart) and whatever ran earlier in the process (the global RNG) cannot change it."""
    import torch

    model, tokenizer = make_model("bert", seed=0)
    model.double()
    rows = keyword_rows(2000, seed=100)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / TRAIN_STEPS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(TRAIN_STEPS):  # eval mode all along: no dropout
            picks = torch.randint(len(rows), (TRAIN_BATCH,), generator=generator).tolist()
            batch = tokenizer([rows[i][2] for i in picks], padding=True, return_tensors="pt")
            labels = torch.tensor([rows[i][3] for i in picks])
            loss = model(**batch, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    finally:
        torch.set_num_threads(threads)
    return {name: value.float() for name, value in model.state_dict().items()}


def make_trained_model():
    """(model, tokenizer): the tiny bert trained on `keyword_rows`, whose labels have real
    margins (see `_trained_bert_state`); eval mode, float32."""
    model, tokenizer = make_model("bert", seed=0)
    model.load_state_dict(_trained_bert_state())
    return model, tokenizer


def make_run(
    path: Path, arch: str = "bert", *, max_length: int = 48, seed: int = 0, trained: bool = False
) -> RunFolder:
    """A complete run folder holding a tiny model, as `train` would leave it: random weights
    validated on `toy_rows`, or with `trained` (bert, seed 0 only) the keyword-trained model
    validated on `keyword_rows`, whose labels int8 cannot flip on any CPU."""
    if trained and (arch, seed) != ("bert", 0):
        raise ValueError("only the seed-0 bert has a trained version")
    model, tokenizer = make_trained_model() if trained else make_model(arch, seed=seed)
    run = RunFolder(Path(path))
    model.save_pretrained(run.model_dir)
    tokenizer.save_pretrained(run.model_dir)
    run.write_info(
        RunInfo(
            base_model=f"tiny-{arch}",
            model_type=model.config.model_type,
            labels=list(LABEL_NAMES),
            max_length=max_length,
            columns=Columns().to_dict(),
            stages_total=1,
            stages_completed=1,
        )
    )
    rows = keyword_rows if trained else toy_rows
    toy = write_toy_tsv(Path(path) / "toy_valid.tsv", 60, seed=seed + 1, rows=rows)
    write_reviews_csv(run.valid_path, read_reviews(str(toy)))
    toy.unlink()
    return run


POSITIVE = ["good", "great", "fun", "best", "love", "superb", "moving"]
NEGATIVE = ["bad", "awful", "dull", "worst", "boring", "hate", "mess"]
FILLER = ["the", "film", "movie", "plot", "story", "it", "is", "was", "very", "and", "of"]


def toy_rows(n: int, seed: int = 0) -> list[tuple[str, str, str, int]]:
    """(PhraseId, SentenceId, Phrase, Sentiment) rows of a separable toy task: the label is set
    by how many positive vs negative words a phrase holds. Sentences span several rows."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.randrange(5)
        polar = {0: (0, 2), 1: (0, 1), 2: (0, 0), 3: (1, 0), 4: (2, 0)}[label]
        words = [rng.choice(POSITIVE) for _ in range(polar[0])]
        words += [rng.choice(NEGATIVE) for _ in range(polar[1])]
        words += [rng.choice(FILLER) for _ in range(rng.randrange(1, 12))]
        rng.shuffle(words)
        rows.append((str(1000 + i), str(i // 3), " ".join(words), label))
    return rows


KEYWORDS = {
    0: ["awful", "worst", "hate"],
    1: ["bad", "dull", "weak", "boring"],
    3: ["good", "fine", "fun"],
    4: ["great", "best", "love", "superb"],
}


def keyword_rows(n: int, seed: int = 0) -> list[tuple[str, str, str, int]]:
    """Rows of an easier toy task, the one `make_trained_model` learns: one keyword of the
    label's list among filler words (none for label 2, neutral)."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.randrange(5)
        words = [rng.choice(FILLER) for _ in range(rng.randrange(1, 12))]
        if label in KEYWORDS:
            words.insert(rng.randrange(len(words) + 1), rng.choice(KEYWORDS[label]))
        rows.append((str(1000 + i), str(i // 3), " ".join(words), label))
    return rows


def write_toy_tsv(path: Path, n: int, seed: int = 0, *, labels: bool = True, rows=toy_rows) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ["PhraseId", "SentenceId", "Phrase"] + (["Sentiment"] if labels else [])
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\t".join(header) + "\n")
        for pid, sid, text, label in rows(n, seed):
            cells = [pid, sid, text] + ([str(label)] if labels else [])
            handle.write("\t".join(cells) + "\n")
    return path
