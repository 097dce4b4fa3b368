"""`export --edge`: strings-in variants whose in-graph tokenizer and classifier give the
scorer's ids, labels and logits; listed, hashed, checked in the manifest; refused by the
scorer, which feeds token ids."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime_extensions")

from cli_runner import reviewscore
from reviewscore.cli import cli
from reviewscore.deploy_folder import load_manifest, sha256_file
from reviewscore.errors import FolderError
from reviewscore.export.edge.check import edge_logits, open_edge_session, run_texts
from reviewscore.export.edge.names import scoped
from reviewscore.export.edge.tokenizer import EdgeTokenizerError, wordpiece_settings
from reviewscore.export.edge.variants import edge_tokenizer
from reviewscore.score.classifier import DeployedClassifier, takes_text
from tiny_models import keyword_rows, make_run

MAX_LENGTH = 24
VARIANTS = ("fp32", "int8-dynamic", "int8-static")
EDGE = {"edge-fp32": "fp32", "edge-int8-dynamic": "int8-dynamic", "edge-int8-static": "int8-static"}


@pytest.fixture(scope="module")
def deploy(tmp_path_factory):
    """The toy-trained bert (margins int8 cannot cross) with fp32, both int8 and their edge
    variants, exported by the CLI."""
    root = tmp_path_factory.mktemp("edge")
    make_run(root / "run", "bert", max_length=MAX_LENGTH, trained=True)
    args = ["export", root / "run", "--out", root / "deploy", "--edge"]
    args += ["--quantize", "int8-dynamic", "--quantize", "int8-static"]
    cli.main(args=[str(arg) for arg in args], standalone_mode=False)
    return root / "deploy"


def phrases() -> list[str]:
    """A few hundred phrases: the toy task's, and every awkward kind a user can send."""
    awkward = [
        "",
        " ",
        "   ",
        "\t",
        "...",
        "!?!",
        "-- , ; :",
        "-LRB- great -RRB-",
        "It 's not very good , but n't awful .",
        "café naïve Ça",
        "日本語 film",
        "GOOD FILM",
        "ÉNORME film",
        "good\tfilm\nbad",
        "the " * 40,  # truncated at the max length
        " ".join(["great", "awful"] * 30),
        "good" * 30,  # one word over 100 characters: [UNK]
        "a" * 100,
        "1 2 3 4 5",
        # outside ASCII: the graph normalises as `tokenizers` does, by its tables
        "ā ł ő İstanbul ΣΑΣ",  # accents and capitals the operator's own tables miss
        "한국어 good",  # Hangul, decomposed by NFD
        "good\x7ffilm a\u200bb",  # DEL and a zero-width space: dropped
        "great film\U0001f600 ok",  # a character of no piece: the whole word is [UNK]
        "good«film»¿bad?",  # punctuation outside ASCII: a word of its own
        "good\u00a0film\u3000bad",  # Unicode spaces
        "[CLS] good[SEP]film [UNK]x [unk]",  # added tokens typed in the text
        "\U0001f600 \U0001f602[CLS]",  # the graph's placeholder characters typed
    ]
    return awkward + [text for _, _, text, _ in keyword_rows(300, seed=7)]


def test_manifest_lists_hashes_and_checks_every_edge_variant(deploy):
    manifest = load_manifest(deploy, verify=True)
    variants = manifest.variants
    assert set(variants) == {*VARIANTS, *EDGE}
    assert not any(takes_text(variants[name]) for name in VARIANTS)
    for name, base in EDGE.items():
        entry = variants[name]
        assert takes_text(entry) and entry.built_from == base
        assert entry.outputs == ("logits", "probabilities", "label_ids")
        assert entry.precision == variants[base].precision
        assert entry.batch_invariant == variants[base].batch_invariant
        assert entry.extensions is not None and entry.extensions.domain == "ai.onnx.contrib"
        assert manifest.files[entry.file] == sha256_file(deploy / entry.file)
        assert manifest.shape_checks is not None
        assert manifest.shape_checks[name]["checked"] is True
        figures = manifest.parity_of(name)
        assert figures is not None and figures.passed, (name, figures)
        assert figures.token_ids_equal == 1.0 and figures.labels_equal_to_scorer == 1.0
        assert figures.rows == 60 and figures.compared_with == {
            "scorer_variant": base,
            "rows_per_run": 1,
        }
    fp32, static = manifest.parity_of("edge-fp32"), manifest.parity_of("edge-int8-static")
    assert fp32 is not None and fp32.scorer_max_abs_logit_diff is not None
    assert fp32.scorer_max_abs_logit_diff < 1e-4
    assert static is not None and static.labels_moved_between_batchings == 0.0
    assert manifest.parity_passed is True


def test_edge_entries_on_disk_and_checked_at_load(deploy, tmp_path):
    """manifest.json keeps the edge entries' keys (other runtimes read the file), the token-id
    variants gain none of them, and a damaged edge field is one clear error at load."""
    data = json.loads((deploy / "manifest.json").read_text())
    entry = data["variants"]["edge-int8-static"]
    assert entry["inputs"] == "text" and entry["outputs"][0] == "logits"
    assert set(entry["extensions"]) == {"package", "version", "domain"}
    assert not {"inputs", "outputs", "extensions"} & set(data["variants"]["int8-static"])
    assert data["parity"]["edge-fp32"]["token_ids_equal"] == 1.0
    copy = tmp_path / "copy"
    shutil.copytree(deploy, copy)
    entry["inputs"] = "token ids"
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(FolderError, match=r"'variants\.edge-int8-static\.inputs' must be 'text'"):
        load_manifest(copy, verify=False)
    entry["inputs"] = "text"
    entry["extensions"] = {"package": "onnxruntime-extensions"}
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(FolderError, match=r"no 'variants\.edge-int8-static\.extensions\.version'"):
        load_manifest(copy, verify=False)


@pytest.mark.parametrize("batch", ["mixed", "ascii only", "one a run"])
def test_in_graph_tokenizer_gives_the_scorers_ids(deploy, batch):
    """A batch holding any non-ASCII text takes the graph's full normalising branch, an
    ASCII-only batch the short one: both must give the ids of `tokenizers`."""
    texts = phrases()
    if batch == "ascii only":
        texts = [text for text in texts if text.isascii()]
    graph = edge_tokenizer(deploy, load_manifest(deploy))
    session = open_edge_session(graph.SerializeToString())
    names = [scoped("input_ids"), scoped("attention_mask")]
    if batch == "one a run":
        texts = texts[:40]
        rows = [run_texts(session, [text], names) for text in texts]
        ids = [row_ids[0][row_mask[0] == 1].tolist() for row_ids, row_mask in rows]
    else:
        all_ids, mask = run_texts(session, texts, names)
        ids = [all_ids[row][mask[row] == 1].tolist() for row in range(len(texts))]
        assert int(mask.sum(axis=1).max()) == MAX_LENGTH  # the long phrases were truncated
    expected = DeployedClassifier.open(deploy).tokenizer.encode_batch(texts)
    for row, encoding in enumerate(expected):
        assert ids[row] == encoding.ids, repr(texts[row])


def normalizing_ops(graph) -> set[str]:
    """The operators of the normalising If's branches."""
    from reviewscore.export.edge.text_graph import NORMAL_TEXTS

    (branching,) = [n for n in graph.graph.node if n.output == [scoped(NORMAL_TEXTS)]]
    return {n.op_type for branch in branching.attribute for n in branch.g.node}


def test_ascii_texts_where_normalising_is_more_than_lower_casing(deploy, tmp_path):
    """A vocabulary without "q": an ASCII batch cannot take the short branch (lower-casing
    only), so the full one cut to ASCII stands in; words with a q are one [UNK]."""
    from tokenizers import Tokenizer

    from reviewscore.export.edge.graph import tokenizer_model

    def no_q(spec):
        vocab = spec["model"]["vocab"]
        vocab["ǫ"], vocab["##ǫ"] = vocab.pop("q"), vocab.pop("##q")

    path = edited_tokenizer(deploy, tmp_path, no_q)
    graph = tokenizer_model(
        wordpiece_settings(path),
        max_length=MAX_LENGTH,
        pad_token_id=0,
        pad_token_type_id=0,
        padding_side="right",
        input_names=["input_ids", "attention_mask"],
        opset=17,
    )
    session = open_edge_session(graph.SerializeToString())
    texts = ["Quick quiz , good film", "a q b", "GOOD FILM", "", "Q"]
    ids, mask = run_texts(session, texts, [scoped("input_ids"), scoped("attention_mask")])
    expected = Tokenizer.from_file(str(path)).encode_batch(texts)
    unk = json.loads(path.read_text())["model"]["vocab"]["[UNK]"]
    assert unk in expected[0].ids and unk in expected[1].ids  # words with a q: tested
    assert "StringLower" not in normalizing_ops(graph)
    assert "StringLower" in normalizing_ops(edge_tokenizer(deploy, load_manifest(deploy)))
    for row, encoding in enumerate(expected):
        assert ids[row][mask[row] == 1].tolist() == encoding.ids, repr(texts[row])


@pytest.mark.parametrize("name", ["edge-fp32", "edge-int8-static"])
def test_strings_in_gives_the_scorers_labels_and_logits(deploy, name):
    """Batch-invariant variants: texts in, 64 a run in file order (as an app sends them),
    against the scorer's sorted token-budget batches."""
    texts = phrases()
    scorer = DeployedClassifier.open(deploy, EDGE[name])
    expected = scorer.logits(texts)
    session = open_edge_session(deploy / load_manifest(deploy).variant(name).file)
    logits = edge_logits(session, texts, 64)
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()
    if name == "edge-fp32":
        assert np.abs(logits - expected).max() < 1e-4
    _, probs, label_ids = run_texts(session, texts[:50])
    np.testing.assert_allclose(probs, scorer.probabilities(texts[:50]), atol=1e-4)
    assert (label_ids == expected[:50].argmax(axis=1)).all()


def test_dynamic_int8_edge_equals_the_scorer_row_by_row(deploy):
    """Dynamic int8 computes its scales per batch, so the two are compared one row a run."""
    texts = phrases()
    scorer = DeployedClassifier.open(deploy, "int8-dynamic")
    encoded = scorer.encode(texts)
    expected = scorer.logits_encoded(encoded, batches=[np.array([i]) for i in range(len(texts))])
    session = open_edge_session(deploy / "model.edge.int8-dynamic.onnx")
    logits = edge_logits(session, texts, 1)
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert np.abs(logits - expected).max() < 1e-4


def test_scorer_refuses_an_edge_variant(deploy, monkeypatch, capsys, tmp_path):
    with pytest.raises(FolderError, match="takes raw texts"):
        DeployedClassifier.open(deploy, "edge-fp32")
    data = tmp_path / "in.tsv"
    data.write_text("PhraseId\tPhrase\n1\tgood film\n", encoding="utf-8")
    code, _, err = reviewscore(monkeypatch, capsys, "score", deploy, data, "--variant", "edge-fp32")
    assert code == 1 and "takes raw texts" in err and "Traceback" not in err
    code, out, _ = reviewscore(monkeypatch, capsys, "verify", deploy, "--all", "--json")
    assert code == 0 and set(json.loads(out)["variants"]) == set(VARIANTS)
    pytest.importorskip("ray")
    from reviewscore.cluster.scoring import check_deploy_dir

    with pytest.raises(FolderError, match="takes raw texts"):
        check_deploy_dir(deploy, "edge-int8-static")  # Ray's driver, before any actor starts


def test_normalizing_tables_come_from_the_tokenizers_normalizer(deploy, tmp_path):
    settings = wordpiece_settings(deploy / "tokenizer.json")
    assert (settings.prefix_token, settings.suffix_token) == ("[CLS]", "[SEP]")
    tables = settings.tables
    # the toy BertNormalizer leaves strip_accents null: it follows lower-casing
    assert tables.table["É"] == "e" and tables.table["A"] == "a" and tables.table["a"] == "a"
    assert tables.table["Σ"] == tables.marker  # σ: no piece of the toy vocabulary
    assert 0x7F in tables.removed and 0x3000 in tables.to_space and ord("«") in tables.isolated
    assert "\U0001f610" not in tables.table  # unknown: the marker, by default
    assert set(tables.placeholders) == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    spec = json.loads((deploy / "tokenizer.json").read_text())
    spec["normalizer"]["strip_accents"] = False
    spec["model"]["vocab"]["é"] = len(spec["model"]["vocab"])
    spec["model"]["vocab"]["##é"] = len(spec["model"]["vocab"])
    kept = tmp_path / "kept.json"
    kept.write_text(json.dumps(spec))
    assert wordpiece_settings(kept).tables.table["É"] == "é"
    ascii_part = tables.ascii_only()
    assert max(ascii_part.removed) < 128 and "É" not in ascii_part.table


def test_tokenizer_graph_bytes_do_not_depend_on_the_hash_seed(deploy):
    """Sets of characters build the tables: each process must still write the same bytes
    (a verify on a server checks what CI built)."""
    import subprocess
    import sys

    script = (
        "import hashlib, sys; from pathlib import Path; "
        "from reviewscore.deploy_folder import load_manifest; "
        "from reviewscore.export.edge.variants import edge_tokenizer; d = Path(sys.argv[1]); "
        "print(hashlib.sha256(edge_tokenizer(d, load_manifest(d)).SerializeToString())"
        ".hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script, str(deploy)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def edited_tokenizer(deploy, tmp_path, edit) -> object:
    spec = json.loads((deploy / "tokenizer.json").read_text())
    edit(spec)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(spec))
    return path


def test_tokenizers_the_graph_cannot_reproduce_are_refused(deploy, tmp_path):
    def bpe(spec):
        spec["model"]["type"] = "BPE"

    def mask_strips_spaces(spec):
        next(t for t in spec["added_tokens"] if t["content"] == "[MASK]")["lstrip"] = True

    def a_letter_only_inside_pieces(spec):
        vocab = spec["model"]["vocab"]
        vocab["qß"] = len(vocab)  # "ß" itself has no piece of its own

    cases = [
        (bpe, r"its model is 'BPE'.*BERT WordPiece"),
        (mask_strips_spaces, r"added token '\[MASK\]' is not matched as typed"),
        (a_letter_only_inside_pieces, r"holds \['ß'\] inside longer pieces only"),
    ]
    for edit, message in cases:
        with pytest.raises(EdgeTokenizerError, match=message):
            wordpiece_settings(edited_tokenizer(deploy, tmp_path, edit))


def test_edge_needs_opset_13():
    from reviewscore.errors import ReviewscoreError
    from reviewscore.export.deploy import ExportOptions

    with pytest.raises(ReviewscoreError, match="--edge needs --opset 13"):
        ExportOptions(edge=True, opset=12)
    assert ExportOptions(edge=True, opset=13).edge
