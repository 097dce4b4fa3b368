"""`export --edge`: strings-in variants whose in-graph tokenizer and classifier give the
scorer's ids, labels and logits; listed, hashed, checked in the manifest; refused by the
scorer, which feeds token ids."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime_extensions")

from cli_runner import reviewscore
from reviewscore.cli import cli
from reviewscore.deploy_folder import load_manifest, sha256_file
from reviewscore.errors import FolderError
from reviewscore.export.edge import edge_tokenizer
from reviewscore.export.edge_check import edge_logits, open_edge_session, run_texts
from reviewscore.export.edge_graph import scoped
from reviewscore.export.edge_tokenizer import EdgeTokenizerError, wordpiece_settings
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
    args += ["--quantize", "dynamic-int8", "--quantize", "static-int8"]
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


def test_in_graph_tokenizer_gives_the_scorers_ids(deploy):
    texts = phrases()
    graph = edge_tokenizer(deploy, load_manifest(deploy))
    session = open_edge_session(graph.SerializeToString())
    ids, mask = run_texts(session, texts, [scoped("input_ids"), scoped("attention_mask")])
    expected = DeployedClassifier.open(deploy).tokenizer.encode_batch(texts)
    for row, encoding in enumerate(expected):
        assert ids[row][mask[row] == 1].tolist() == encoding.ids, repr(texts[row])
    assert int(mask.sum(axis=1).max()) == MAX_LENGTH  # the long phrases were truncated


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


def test_settings_come_from_tokenizer_json(deploy, tmp_path):
    settings = wordpiece_settings(deploy / "tokenizer.json")
    # the toy tokenizer's BertNormalizer leaves strip_accents null: it follows lowercase
    assert settings.lowercase and settings.strip_accents and settings.chinese_chars
    assert (settings.prefix_token, settings.suffix_token) == ("[CLS]", "[SEP]")
    spec = json.loads((deploy / "tokenizer.json").read_text())
    spec["normalizer"]["strip_accents"] = False
    kept = tmp_path / "kept.json"
    kept.write_text(json.dumps(spec))
    assert wordpiece_settings(kept).strip_accents is False
    spec["model"]["type"] = "BPE"
    bpe = tmp_path / "bpe.json"
    bpe.write_text(json.dumps(spec))
    with pytest.raises(EdgeTokenizerError, match=r"its model is 'BPE'.*BERT WordPiece"):
        wordpiece_settings(bpe)


def test_edge_needs_opset_13():
    from reviewscore.errors import ReviewscoreError
    from reviewscore.export.deploy import ExportOptions

    with pytest.raises(ReviewscoreError, match="--edge needs --opset 13"):
        ExportOptions(edge=True, opset=12)
    assert ExportOptions(edge=True, opset=13).edge
