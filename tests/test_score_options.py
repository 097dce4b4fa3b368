"""`score`'s engine policy lives in each engine's options object (defaults, refusals), and
its `--help` lists the options in sections. No model and no Ray needed."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from reviewscore.cli import cli, score_command
from reviewscore.cluster.options import ClusterOptions
from reviewscore.data import Columns
from reviewscore.errors import UsageError
from reviewscore.score.pipeline import ScoreOptions


def command_values(tmp_path, *args: str) -> dict:
    """The `score` command's parameters as click parses them, defaults included."""
    context = score_command.make_context("score", [str(tmp_path), "in.tsv", *args])
    return context.params


def test_local_defaults_and_what_it_takes(tmp_path):
    options = ScoreOptions.from_command(command_values(tmp_path))
    assert (options.fmt, options.on_bad_line, options.probs) == ("csv", "error", False)
    given = command_values(
        tmp_path, "--format", "tsv", "--on-bad-line", "skip", "--text-column", "review",
        "--label-column", "stars", "--batch-tokens", "64", "--evaluate",
    )  # fmt: skip
    options = ScoreOptions.from_command(given)
    assert options.columns == Columns(text="review", label="stars")
    assert (options.fmt, options.on_bad_line, options.batch_tokens) == ("tsv", "skip", 64)
    assert options.evaluate


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--actors", "2"], "--actors needs --engine ray"),
        (["--address", "auto"], "--address needs --engine ray"),
        (["--gpus-per-actor", "0.5"], "--gpus-per-actor needs --engine ray"),
        (["--format", "parquet"], "--format parquet needs --engine ray"),
        (["--format", "kaggle", "--probs"], "--probs does not apply to --format kaggle"),
    ],
)
def test_local_refuses_what_only_ray_does(tmp_path, args, message):
    with pytest.raises(UsageError, match=message):
        ScoreOptions.from_command(command_values(tmp_path, *args))


def test_ray_defaults_and_what_it_takes(tmp_path):
    options = ClusterOptions.from_command(command_values(tmp_path, "-o", "out"))
    assert options == ClusterOptions(provider="auto", threads=None, actors=None)
    given = command_values(
        tmp_path, "-o", "out", "--format", "tsv", "--on-bad-line", "error", "--actors", "3",
        "--threads", "2", "--id-column", "rid", "--probs",
    )  # fmt: skip
    options = ClusterOptions.from_command(given)
    assert (options.output_format, options.on_bad_line) == ("tsv", "error")
    assert (options.actors, options.threads, options.probs) == (3, 2, True)
    assert options.columns == Columns(id="rid")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--engine ray writes a folder"),
        (["-o", "-"], "--engine ray writes a folder"),
        (["-o", "x", "--format", "csv"], "parquet or tsv shards, not csv"),
        (["-o", "x", "--evaluate"], "--evaluate needs --engine local"),
        (["-o", "x", "--verify"], "--verify needs --engine local"),
        (["-o", "x", "--format", "kaggle", "--probs"], "--probs does not apply"),
    ],
)
def test_ray_refuses_what_a_folder_of_shards_cannot_do(tmp_path, args, message):
    with pytest.raises(UsageError, match=message):
        ClusterOptions.from_command(command_values(tmp_path, *args))


def test_a_refusal_is_a_usage_error_even_without_ray(tmp_path):
    """Ray's options are checked before Ray loads: here Ray cannot load at all."""
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from reviewscore.cli import main\n"
        f"sys.argv = ['reviewscore', 'score', {str(tmp_path)!r}, 'in.tsv', '--engine', 'ray']\n"
        "main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Error: --engine ray writes a folder: give it with -o OUTPUT_DIR" in result.stderr


def test_cluster_options_load_without_ray():
    """The options live in `cluster/`, whose lazy `__init__` leaves Ray unloaded (Ray is
    installed here: the check is that nothing imports it)."""
    code = (
        "import sys\n"
        "import reviewscore.cluster.options\n"
        "from reviewscore.cluster import ClusterOptions\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_cli_shows_a_refusal_as_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["score", str(tmp_path), "in.tsv", "--actors", "2"])
    assert result.exit_code == 2
    assert result.output.startswith("Usage: cli score [OPTIONS] DEPLOY_DIR INPUTS...")
    assert "Error: --actors needs --engine ray" in result.output


def test_help_lists_every_option_once_in_sections():
    result = CliRunner().invoke(cli, ["score", "--help"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    headers = [line for line in lines if line and not line.startswith(" ") and line.endswith(":")]
    assert headers == ["Input:", "Output:", "Model:", "Performance:", "Cluster:", "Other:"]
    context = click.Context(score_command)
    firsts = [line.strip().split("  ")[0] for line in lines]  # the option column of each line
    for option in score_command.get_params(context):
        if isinstance(option, click.Option):
            record = option.get_help_record(context)[0]
            assert firsts.count(record) == 1, record
