"""transformers' own progress bars stay out of logs and pipes, as ours do."""

from __future__ import annotations

import subprocess
import sys

from tiny_models import make_model, write_toy_tsv

CLI = [sys.executable, "-m", "reviewscore.cli"]
BARS = ("Loading weights", "Writing model shards", "it/s]")


def run(*args: object) -> str:
    """stderr of the CLI with stderr a pipe, not a terminal."""
    result = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_train_and_export_show_no_transformers_bars_in_a_pipe(tmp_path):
    model, tokenizer = make_model("bert")
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    data = write_toy_tsv(tmp_path / "toy.tsv", 600, seed=2)
    run_dir, deploy = tmp_path / "run", tmp_path / "deploy"
    trained = run(
        "train", "--data", data, "--out", run_dir, "--model", tmp_path / "tiny",
        "--max-length", "48", "--epochs", "0.2",
    )  # fmt: skip
    exported = run("export", run_dir, "--out", deploy)
    for stderr in (trained, exported):
        assert not [bar for bar in BARS if bar in stderr], stderr
