"""A deploy folder is scored only when it is whole and verified: every file the scorer opens
is listed in the manifest (so hash-checked) and inside the folder, and its export finished
(checks in the manifest, or an explicit --no-check that `score` warns about)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from reviewscore.deploy_folder import MANIFEST, load_manifest, write_manifest
from reviewscore.errors import FolderError
from reviewscore.score.classifier import DeployedClassifier
from tiny_models import make_run, write_toy_tsv

CLI = [sys.executable, "-m", "reviewscore.cli", "score"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A run, its checked deploy folder, its --no-check deploy folder and an input file."""
    from reviewscore.export.deploy import ExportOptions, export_run

    root = tmp_path_factory.mktemp("deploy-trust")
    make_run(root / "run", "bert")
    export_run(root / "run", root / "deploy")
    export_run(root / "run", root / "unchecked", ExportOptions(check=False))
    write_toy_tsv(root / "in.tsv", 12)
    return root


def copy_deploy(root: Path, tmp_path: Path, name: str = "deploy") -> Path:
    return Path(shutil.copytree(root / name, tmp_path / name))


def score(deploy: Path, source: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, str(deploy), str(source), *args], capture_output=True, text=True, timeout=120
    )


def add_variant(deploy: Path, file: str, *, listed: bool) -> None:
    """A variant `extra` whose file is `file`, listed under `files` (hash recorded as it is
    on disk) or not."""
    manifest = load_manifest(deploy)
    extra = replace(manifest.variant("fp32"), file=file)
    manifest = replace(manifest, variants={**manifest.variants, "extra": extra})
    write_manifest(deploy, manifest, [*manifest.files, file] if listed else manifest.files)


@pytest.mark.parametrize(
    ("where", "listed", "expected"),
    [
        ("inside", False, "not listed in the manifest's files"),
        ("absolute", False, "outside the deploy folder"),
        ("absolute", True, "outside the deploy folder"),
        ("parent", True, "outside the deploy folder"),
    ],
)
def test_variant_file_unlisted_or_outside_the_folder_is_refused(
    root, tmp_path, where, listed, expected
):
    deploy = copy_deploy(root, tmp_path)
    outside = tmp_path / "elsewhere" / "model.onnx"
    outside.parent.mkdir()
    shutil.copy(deploy / "model.onnx", outside)
    shutil.copy(deploy / "model.onnx", deploy / "model.extra.onnx")
    file = {
        "inside": "model.extra.onnx",
        "absolute": str(outside),
        "parent": "../elsewhere/model.onnx",
    }[where]
    add_variant(deploy, file, listed=listed)
    with pytest.raises(FolderError, match=expected):
        DeployedClassifier.open(deploy, "extra")
    result = score(deploy, root / "in.tsv", "--variant", "extra")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert result.stdout == ""


def test_tokenizer_not_listed_in_files_is_refused(root, tmp_path):
    deploy = copy_deploy(root, tmp_path)
    manifest = json.loads((deploy / MANIFEST).read_text())
    del manifest["files"]["tokenizer.json"]
    (deploy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(FolderError, match=r"the tokenizer file 'tokenizer\.json' is not listed"):
        DeployedClassifier.open(deploy)


def test_staging_folder_of_a_killed_export_is_refused(root, tmp_path):
    """What SIGKILL leaves: the export's early manifest, with hashes but no checks."""
    staging = copy_deploy(root, tmp_path)
    manifest = load_manifest(staging)
    checks = ("shape_checks", "parity_checked", "parity", "parity_data", "parity_thresholds")
    manifest = replace(manifest, **dict.fromkeys(checks), parity_passed=None)
    write_manifest(staging, manifest)
    with pytest.raises(FolderError, match="its export did not finish"):
        DeployedClassifier.open(staging)
    result = score(staging, root / "in.tsv")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {staging}: its export did not finish")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


def test_ray_driver_refuses_a_staging_folder(root, tmp_path):
    """The Ray engine checks the folder on the driver with the same code."""
    pytest.importorskip("ray")
    from reviewscore.cluster.scoring import check_deploy_dir

    staging = copy_deploy(root, tmp_path)
    manifest = load_manifest(staging)
    write_manifest(staging, replace(manifest, shape_checks=None, parity=None))
    with pytest.raises(FolderError, match="its export did not finish"):
        check_deploy_dir(staging, None)


def test_no_check_export_is_recorded_and_scoring_warns(root, tmp_path):
    manifest = load_manifest(root / "unchecked")
    assert manifest.parity_checked is False and manifest.parity is None
    assert "parity" not in json.loads((root / "unchecked" / MANIFEST).read_text())
    assert load_manifest(root / "deploy").parity_checked is True
    result = score(root / "unchecked", root / "in.tsv", "-o", str(tmp_path / "o.csv"))
    assert result.returncode == 0, result.stderr
    assert "warning: this deploy folder was exported with --no-check" in result.stderr
    checked = score(root / "deploy", root / "in.tsv", "-o", str(tmp_path / "p.csv"))
    assert "--no-check" not in checked.stderr


def test_an_error_is_the_only_line_on_stderr(root, tmp_path):
    """--provider auto used to print `provider: ...` before the error; the summary line
    names the provider instead."""
    source = tmp_path / "nocol.tsv"
    source.write_text("PhraseId\tText\n1\tgood\n")
    result = score(root / "deploy", source, "-o", str(tmp_path / "out.csv"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {source}, line 1: no column 'Phrase'; columns found: 'PhraseId', 'Text'"
    ]
    assert result.stdout == "" and not (tmp_path / "out.csv").exists()
