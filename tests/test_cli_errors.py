"""Every failure a user can cause or meet is one `error:` line on stderr and a non-zero exit:
no traceback, and no output left behind. Each case runs the real CLI in a subprocess.

Permission cases run the CLI without the capabilities that let root ignore file modes
(CI runs as root), so the kernel really refuses the read or the write.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reviewscore.deploy_folder import MANIFEST
from reviewscore.errors import FolderError
from reviewscore.files import read_json
from tiny_models import make_run, make_tokenizer, write_toy_tsv

CLI = [sys.executable, "-m", "reviewscore.cli"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A run folder, its deploy folder and a labelled input file."""
    from reviewscore.export.deploy import export_run

    root = tmp_path_factory.mktemp("cli-errors")
    make_run(root / "run", "bert")
    export_run(root / "run", root / "deploy")
    write_toy_tsv(root / "in.tsv", 30)
    return root


def unprivileged() -> list[str]:
    """A command prefix under which file modes apply: none needed unless we are root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def edit_manifest(deploy: Path, change: Callable[[dict], None]) -> None:
    manifest = json.loads((deploy / MANIFEST).read_text())
    change(manifest)
    (deploy / MANIFEST).write_text(json.dumps(manifest))


def albert_folder(path: Path) -> Path:
    """A saved ALBERT model: its encoder layers share one module, so it has no layer groups."""
    from transformers import AlbertConfig, AlbertForSequenceClassification

    tokenizer = make_tokenizer()
    config = AlbertConfig(
        vocab_size=len(tokenizer),
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=5,
    )
    AlbertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# Each case: (work folder, built folder) -> (argv, text the error line must contain, whether
# it runs unprivileged). The work folder holds whatever the case made; the test checks that
# nothing new appears in it.
Case = Callable[[Path, Path], tuple[list[str], str, bool]]


def input_not_readable(work: Path, built: Path):
    source = Path(shutil.copy(built / "in.tsv", work / "locked.tsv"))
    source.chmod(0)
    argv = ["score", str(built / "deploy"), str(source), "-o", str(work / "o.csv")]
    return argv, f"{source}: permission denied; make the file readable", True


def output_folder_not_writable(work: Path, built: Path):
    folder = work / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    argv = ["score", str(built / "deploy"), str(built / "in.tsv"), "-o", str(folder / "o.csv")]
    return argv, f"cannot write {folder / 'o.csv'}: Permission denied", True


def output_is_a_directory(work: Path, built: Path):
    argv = ["score", str(built / "deploy"), str(built / "in.tsv"), "-o", str(work)]
    return argv, f"-o {work} is a directory", False


def output_under_a_file(work: Path, built: Path):
    (work / "plain").write_text("x")
    out = work / "plain" / "o.csv"
    argv = ["score", str(built / "deploy"), str(built / "in.tsv"), "-o", str(out)]
    return argv, f"{work / 'plain'} is a file, not a folder", False


def output_empty(work: Path, built: Path):
    return ["score", str(built / "deploy"), str(built / "in.tsv"), "-o", ""], "-o ''", False


def output_disk_full(work: Path, built: Path):
    argv = ["score", str(built / "deploy"), str(built / "in.tsv"), "-o", "/dev/full"]
    return argv, "cannot write /dev/full: No space left on device", False


def deploy_copy(work: Path, built: Path) -> Path:
    return Path(shutil.copytree(built / "deploy", work / "deploy"))


def manifest_truncated(work: Path, built: Path):
    deploy = deploy_copy(work, built)
    text = (deploy / MANIFEST).read_text()
    (deploy / MANIFEST).write_text(text[: len(text) // 2])
    argv = ["score", str(deploy), str(built / "in.tsv"), "-o", str(work / "o.csv")]
    return argv, f"{deploy / MANIFEST}: damaged JSON", False


def labels_not_matching_outputs(work: Path, built: Path):
    deploy = deploy_copy(work, built)
    edit_manifest(deploy, lambda m: m.update(labels=m["labels"][:4]))
    argv = ["score", str(deploy), str(built / "in.tsv"), "-o", str(work / "o.csv")]
    return argv, "the model scores 5 classes but the manifest lists 4 labels", False


def max_length_not_an_integer(work: Path, built: Path):
    deploy = deploy_copy(work, built)
    edit_manifest(deploy, lambda m: m.update(max_length="48 tokens"))
    argv = ["score", str(deploy), str(built / "in.tsv"), "-o", str(work / "o.csv")]
    return argv, "'max_length' must be a positive integer, not '48 tokens'", False


def variant_file_missing(work: Path, built: Path):
    deploy = deploy_copy(work, built)
    gone = {"file": "model.gone.onnx", "precision": "fp32", "batch_invariant": True}
    edit_manifest(deploy, lambda m: m["variants"].update(gone=gone))
    argv = ["score", str(deploy), str(built / "in.tsv"), "--variant", "gone"]
    return [*argv, "-o", str(work / "o.csv")], "'model.gone.onnx' is not listed", False


def listed_file_missing(work: Path, built: Path):
    deploy = deploy_copy(work, built)
    (deploy / "model.onnx").unlink()
    argv = ["score", str(deploy), str(built / "in.tsv"), "-o", str(work / "o.csv")]
    return argv, "model.onnx is listed in the manifest but missing", False


def model_without_layer_groups(work: Path, built: Path):
    model = albert_folder(work / "albert")
    argv = ["train", "--data", str(built / "in.tsv"), "--model", str(model)]
    return [*argv, "--out", str(work / "run")], "AlbertForSequenceClassification cannot", False


def run_json_corrupt(work: Path, built: Path):
    run = Path(shutil.copytree(built / "run", work / "run"))
    (run / "run.json").write_text('{"format": "reviewscore-run/1", "labels": [')
    argv = ["export", str(run), "--out", str(work / "deploy-out")]
    return argv, f"{run / 'run.json'}: damaged JSON", False


CASES: list[Case] = [
    input_not_readable,
    output_folder_not_writable,
    output_is_a_directory,
    output_under_a_file,
    output_empty,
    output_disk_full,
    manifest_truncated,
    labels_not_matching_outputs,
    max_length_not_an_integer,
    variant_file_missing,
    listed_file_missing,
    model_without_layer_groups,
    run_json_corrupt,
]


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_one_error_line_no_traceback_no_output(tmp_path, built, case):
    work = tmp_path / "work"
    work.mkdir()
    argv, expected, drop_privileges = case(work, built)
    before = files_under(work)
    prefix = unprivileged() if drop_privileges else []
    result = subprocess.run(
        [*prefix, *CLI, *argv], capture_output=True, text=True, timeout=300, cwd=work
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.splitlines()[-1] == errors[0]
    if argv[0] == "score":  # the README's promise: one line on stderr, nothing else
        assert result.stderr.splitlines() == errors and result.stdout == ""
    assert expected in errors[0], errors[0]
    assert files_under(work) == before  # no output file, no temporary or staging folder


def test_read_json_names_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "binary.json"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(FolderError, match=f"{path}: damaged JSON \\(not UTF-8 text\\)"):
        read_json(path)
