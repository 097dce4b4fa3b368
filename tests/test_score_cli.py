"""`reviewscore score` options end to end: --evaluate, jsonl, the summary line, variants."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from reviewscore.deploy_folder import ParityFigures, load_manifest, write_manifest
from reviewscore.score.classifier import DeployedClassifier
from tiny_models import make_run, toy_rows, write_toy_tsv

CLI = [sys.executable, "-m", "reviewscore.cli", "score"]


@pytest.fixture(scope="module")
def deploy(tmp_path_factory) -> Path:
    """A deploy folder with its fp32 default, plus a copy of it listed as a variant whose
    manifest entry says it is not batch-invariant (as dynamic int8 is) and that it failed
    the parity gate."""
    from reviewscore.export.deploy import export_run

    root = tmp_path_factory.mktemp("score-cli")
    make_run(root / "run", "bert")
    export_run(root / "run", root / "deploy")
    manifest = load_manifest(root / "deploy")
    shutil.copy(root / "deploy" / "model.onnx", root / "deploy" / "model.per-batch.onnx")
    per_batch = replace(manifest.variant(), file="model.per-batch.onnx", batch_invariant=False)
    failed = ParityFigures(passed=False, failures=("label agreement with PyTorch 97.40% < 98%",))
    manifest = replace(
        manifest,
        variants={**manifest.variants, "per-batch": per_batch},
        parity={**manifest.parity, "per-batch": failed},
    )
    write_manifest(root / "deploy", manifest, [*manifest.files, "model.per-batch.onnx"])
    return root / "deploy"


def score(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(result.stderr)
    return result


def test_evaluate_reports_accuracy_macro_f1_and_confusion(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "labelled.tsv", 80, seed=4)
    rows = toy_rows(80, seed=4)
    predicted = DeployedClassifier.open(deploy).predict([r[2] for r in rows])
    accuracy = float(np.mean(predicted == np.array([r[3] for r in rows])))
    err = score(str(deploy), str(source), "--evaluate", "-o", str(tmp_path / "o.csv")).stderr
    assert f"rows 80  accuracy {accuracy:.4f}  macro-F1 " in err
    assert "confusion matrix (rows: true label, columns: predicted):" in err
    assert "Traceback" not in err


def test_evaluate_without_labels_is_a_clear_error(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "unlabelled.tsv", 5, labels=False)
    result = score(str(deploy), str(source), "--evaluate", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: {source}, line 1: no column 'Sentiment'; "
        "columns found: 'PhraseId', 'SentenceId', 'Phrase'"
    )


def test_jsonl_with_probabilities(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "in.tsv", 12, seed=2)
    labels = list(load_manifest(deploy).labels)
    records = [
        json.loads(line)
        for line in score(
            str(deploy), str(source), "--format", "jsonl", "--probs"
        ).stdout.splitlines()
    ]
    assert [r["id"] for r in records] == [row[0] for row in toy_rows(12, seed=2)]
    for record in records:
        assert list(record["probs"]) == labels
        probs = np.array(list(record["probs"].values()))
        assert abs(probs.sum() - 1) < 1e-5
        assert record["label"] == int(probs.argmax())
        assert record["label_name"] == labels[record["label"]]


def test_summary_line_names_rows_rate_provider_and_variant(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "in.tsv", 10)
    lines = score(str(deploy), str(source), "-o", str(tmp_path / "o.csv")).stderr.splitlines()
    assert lines[0].startswith("scored 10 rows in ")  # auto says what it picked: CPU
    assert lines[0].endswith(" rows/s) on CPUExecutionProvider, variant fp32")
    assert len(lines) == 1  # no warning for a batch-invariant default


def test_variant_that_is_not_batch_invariant_warns(tmp_path, deploy):
    source = write_toy_tsv(tmp_path / "in.tsv", 10)
    chosen = score(str(deploy), str(source), "--variant", "per-batch", "--provider", "cpu")
    assert chosen.stderr.splitlines()[0].endswith("variant per-batch")
    assert "warning: variant per-batch is not batch-invariant" in chosen.stderr
    assert "labels may depend on batching" in chosen.stderr
    assert (
        "warning: variant per-batch failed the export's parity gate (label agreement with "
        "PyTorch 97.40% < 98%): the export exited 3" in chosen.stderr
    )
    missing = score(str(deploy), str(source), "--variant", "int4", check=False)
    assert "no variant 'int4'; this folder has: fp32, per-batch" in missing.stderr


def test_help_says_which_variants_depend_on_batching():
    def squeeze(text: str) -> str:  # click wraps lines, even inside hyphenated words
        return "".join(text.split())

    help_text = squeeze(score("--help").stdout)
    assert squeeze("int8-dynamic is NOT batch-invariant") in help_text
    assert squeeze("labels may depend on batching") in help_text
