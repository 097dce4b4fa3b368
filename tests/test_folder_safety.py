"""`--out` replaces only a folder of its own kind or an empty one, never one holding an input,
the working directory, home or /; replacements are swaps that clean a killed run's staging
folder; and what reviewscore writes follows the umask (issue 9, parts 2 and 4)."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_runner import reviewscore
from reviewscore.errors import FolderError
from reviewscore.files import (
    STAGING_MARK,
    atomic_open,
    check_replaceable,
    clean_stale_staging,
    move_into_place,
    replace_folder,
)
from tiny_models import make_model, make_run, write_toy_tsv

FAST_EXPORT = ("--no-check", "--optimize", "none")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A run folder, a saved tiny model and a labelled file, copied fresh into each test."""
    root = tmp_path_factory.mktemp("safety-template")
    make_run(root / "run", "bert")
    model, tokenizer = make_model("bert")
    model.save_pretrained(root / "tiny")
    tokenizer.save_pretrained(root / "tiny")
    write_toy_tsv(root / "data" / "data.tsv", 60, seed=3)
    return root


@pytest.fixture
def root(tmp_path, template) -> Path:
    import shutil

    shutil.copytree(template, tmp_path / "w")
    (tmp_path / "w" / "precious").mkdir()
    (tmp_path / "w" / "precious" / "notes.txt").write_text("years of work\n")
    return tmp_path / "w"


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every entry under `folder`, hidden ones too: mode and content hash."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        entries[str(path.relative_to(folder))] = (path.stat().st_mode, digest)
    return entries


def assert_refused(result: tuple[int, str, str], reason: str) -> None:
    code, _, err = result
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: refusing to replace ") and reason in err, err


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def train_args(root: Path, data: Path, out: object, *extra: object) -> tuple[object, ...]:
    return (
        "train", "--data", data, "--out", out, "--model", root / "tiny", "--max-length", "32",
        "--epochs", "0.2", "--batch-size", "8", *extra,
    )  # fmt: skip


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def staging_of(target: Path, pid: int, host: str | None = None) -> Path:
    """A staging folder as a process `pid` on `host` would leave it beside `target`."""
    host = host or socket.gethostname()
    folder = target.parent / f".{target.name}.{STAGING_MARK}.{host}.{pid}.abcd1234"
    (folder / "new").mkdir(parents=True)
    (folder / "new" / "model.onnx").write_bytes(b"half")
    return folder


# --- part 2: what --out may replace ---


@pytest.mark.parametrize(
    "out, reason",
    [
        ("../run", "it is or holds the input"),
        ("../run/model", "it lies inside the input"),
        ("../precious", "it is not empty and not a deploy folder"),
        ("../precious/notes.txt", "it is a file"),
        (".", "it is or holds the working directory"),
        ("..", "it is or holds the working directory"),
    ],
)
def test_export_refuses_what_it_may_not_replace(root, monkeypatch, capsys, out, reason):
    monkeypatch.chdir(root / "data")
    before = snapshot(root)
    result = reviewscore(monkeypatch, capsys, "export", root / "run", "--out", out)
    assert_refused(result, reason)
    assert snapshot(root) == before


def test_export_refuses_home(root, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(root / "precious"))
    before = snapshot(root)
    result = reviewscore(monkeypatch, capsys, "export", root / "run", "--out", root / "precious")
    assert_refused(result, "it is or holds your home folder")
    assert snapshot(root) == before


def test_export_refuses_a_folder_holding_its_parity_data(root, monkeypatch, capsys):
    before = snapshot(root)
    args = ("export", root / "run", "--out", root / "data", "--parity-data", root / "data/data.tsv")
    assert_refused(reviewscore(monkeypatch, capsys, *args), "holds the input")
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "data, out, reason",
    [
        ("data/data.tsv", "precious", "it is not empty and not a run folder"),
        ("data/data.tsv", "data", "it is or holds the input"),
        ("data/data.tsv", ".", "it is or holds the working directory"),
        ("data/data.tsv", "tiny", "it is or holds the input"),  # the --model
    ],
)
def test_train_overwrite_refuses_what_it_may_not_replace(
    root, monkeypatch, capsys, data, out, reason
):
    monkeypatch.chdir(root)
    before = snapshot(root)
    result = reviewscore(monkeypatch, capsys, *train_args(root, root / data, out, "--overwrite"))
    assert_refused(result, reason)
    assert snapshot(root) == before


def test_train_overwrite_of_the_run_folder_its_data_is_in(root, monkeypatch, capsys):
    """The data file inside an earlier run folder: replacing the run would delete it."""
    data = root / "run" / "data.tsv"
    (root / "data" / "data.tsv").rename(data)
    before = snapshot(root)
    result = reviewscore(monkeypatch, capsys, *train_args(root, data, root / "run", "--overwrite"))
    assert_refused(result, "it is or holds the input")
    assert snapshot(root) == before


def test_export_replaces_an_earlier_deploy_folder_and_cleans_dead_staging(
    root, monkeypatch, capsys
):
    deploy = root / "deploy"
    code, _, err = reviewscore(
        monkeypatch, capsys, "export", root / "run", "--out", deploy, *FAST_EXPORT
    )
    assert code == 0, err
    (deploy / "stray.txt").write_text("from the earlier export\n")
    dead = staging_of(deploy, dead_pid())
    live = staging_of(deploy, os.getppid())  # a concurrent export, still running
    elsewhere = staging_of(deploy, dead_pid(), host="another-host")

    code, _, err = reviewscore(
        monkeypatch, capsys, "export", root / "run", "--out", deploy, *FAST_EXPORT
    )
    assert code == 0, err
    assert (deploy / "manifest.json").is_file() and not (deploy / "stray.txt").exists()
    assert not dead.exists()
    assert live.exists() and elsewhere.exists()
    leftovers = {p.name for p in root.iterdir() if p.name.startswith(".")}
    assert leftovers == {live.name, elsewhere.name}


def test_an_export_killed_mid_build_is_cleaned_by_the_next(root, monkeypatch, capsys):
    deploy = root / "deploy"
    command = [sys.executable, "-m", "reviewscore.cli", "export", root / "run", "--out", deploy]
    killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = f".deploy.{STAGING_MARK}.*/new/*"
    deadline = time.monotonic() + 120
    while not list(root.glob(pattern)) and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "the export ended before it could be killed"
    assert list(root.glob(f".deploy.{STAGING_MARK}.*")) and not deploy.exists()

    args = ("export", root / "run", "--out", deploy, *FAST_EXPORT)
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    assert (deploy / "manifest.json").is_file()
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]


def test_export_into_an_empty_folder(root, monkeypatch, capsys):
    (root / "empty").mkdir()
    args = ("export", root / "run", "--out", root / "empty", *FAST_EXPORT)
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    assert (root / "empty" / "manifest.json").is_file()


def test_train_overwrite_replaces_an_earlier_run_only_once_it_has_saved(
    root, monkeypatch, capsys, umask_022
):
    run = root / "fresh"
    code, _, err = reviewscore(monkeypatch, capsys, *train_args(root, root / "data/data.tsv", run))
    assert code == 0, err
    for path in (run, run / "model", run / "plots"):
        assert mode(path) == 0o755, path
    for path in (run / "run.json", run / "history.json", run / "metrics.json", run / "valid.csv"):
        assert mode(path) == 0o644, path
    # transformers writes model.safetensors through a private (0600) temporary file
    assert {p.name: mode(p) for p in (run / "model").iterdir()} == dict.fromkeys(
        [p.name for p in (run / "model").iterdir()], 0o644
    )
    assert (run / "model" / "model.safetensors").is_file()

    (run / "stray.txt").write_text("x\n")
    args = train_args(root, root / "data/data.tsv", run, "--overwrite")
    code, _, err = reviewscore(monkeypatch, capsys, *args)
    assert code == 0, err
    assert (run / "run.json").is_file() and not (run / "stray.txt").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


# --- part 4: modes follow the umask ---


def test_deploy_folder_and_score_output_follow_the_umask(root, monkeypatch, capsys, umask_022):
    deploy = root / "deploy"
    code, _, err = reviewscore(
        monkeypatch, capsys, "export", root / "run", "--out", deploy, *FAST_EXPORT
    )
    assert code == 0, err
    assert mode(deploy) == 0o755
    assert {p.name: mode(p) for p in deploy.iterdir()} == {
        "manifest.json": 0o644,
        "tokenizer.json": 0o644,
        "model.onnx": 0o644,
    }
    scored = root / "out.csv"
    code, _, err = reviewscore(
        monkeypatch, capsys, "score", deploy, root / "data/data.tsv", "-o", scored
    )
    assert code == 0, err
    assert mode(scored) == 0o644
    scored.chmod(0o600)
    code, _, err = reviewscore(
        monkeypatch, capsys, "score", deploy, root / "data/data.tsv", "-o", scored
    )
    assert code == 0, err
    assert mode(scored) == 0o644  # an overwritten output gets a new one's mode


def test_atomic_files_follow_a_restrictive_umask_too(tmp_path):
    previous = os.umask(0o027)
    try:
        with atomic_open(tmp_path / "a.txt") as handle:
            handle.write("x")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "a.txt") == 0o640


# --- the helper itself ---


def test_replace_folder_leaves_the_old_folder_when_the_build_fails(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "manifest.json").write_text("{}")
    with pytest.raises(RuntimeError), replace_folder(target, "test folder", lambda p: True) as new:
        (new / "half").write_text("x")
        raise RuntimeError("build failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in target.iterdir()] == ["manifest.json"]


def test_the_root_folder_is_never_replaceable():
    """Checked on the helper, not through export: a broken check would run as root here."""
    with pytest.raises(FolderError, match="refusing to replace /: it is the root folder"):
        check_replaceable("/", "deploy folder", lambda p: True)


def test_replace_folder_refuses_before_touching_anything(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("x")
    refused = pytest.raises(FolderError, match="not empty and not a test folder")
    with refused, replace_folder(target, "test folder", lambda p: False):
        raise AssertionError("never reached")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_move_into_place_swaps_and_cleans_a_dead_swap(tmp_path):
    target, new = tmp_path / "model", tmp_path / "model.next"
    target.mkdir()
    (target / "old.bin").write_text("old")
    new.mkdir()
    (new / "new.bin").write_text("new")
    dead = staging_of(target, dead_pid())
    move_into_place(new, target)
    assert [p.name for p in target.iterdir()] == ["new.bin"]
    assert not dead.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_clean_stale_staging_keeps_other_targets(tmp_path):
    other = staging_of(tmp_path / "deploy2", dead_pid())
    clean_stale_staging(tmp_path / "deploy")
    assert other.exists()
