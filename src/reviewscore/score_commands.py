"""What `reviewscore score` and `reviewscore verify` do once their options are parsed: pick
the engine, verify, open, score and describe in that order, and print each result where
the user expects it (lines for people on stderr, the data asked for on stdout).

The command line only declares the options and hands them here as parsed; each engine's
options object (ScoreOptions, ClusterOptions) holds its defaults and what it refuses. Sits
above score/, cluster/, parity/ and the Python API (scorer.py), which it sequences.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reviewscore.errors import UsageError
from reviewscore.score.writers import FORMATS

if TYPE_CHECKING:
    from reviewscore.parity.verify import Verification

ENGINES = ("local", "ray")  # this process, or a pool of Ray actors writing a folder
DEFAULT_ENGINE = "local"
FORMAT_CHOICES = (*FORMATS, "parquet")  # parquet: Ray's folders of shards only


class Echo(Protocol):
    """Prints one line: to stdout, or to stderr with `err` (click.echo is one)."""

    def __call__(self, message: str, *, err: bool = ...) -> Any: ...


def score(values: Mapping[str, Any], echo: Echo) -> None:
    """`score`, from the command's parameters by name: the local engine, or Ray's."""
    if values["engine"] == "ray":
        _score_on_ray(values, echo)
    else:
        _score_locally(values, echo)


def _score_locally(values: Mapping[str, Any], echo: Echo) -> None:
    """This process, one output file (or standard output), through the Python API's
    Scorer (`reviewscore.load`)."""
    from reviewscore.metrics import format_metrics
    from reviewscore.score.auto_variant import AUTO
    from reviewscore.score.inputs import resolve_inputs
    from reviewscore.score.pipeline import ScoreOptions
    from reviewscore.score.summary import describe
    from reviewscore.scorer import load

    options = ScoreOptions.from_command(values)
    paths = resolve_inputs(list(values["inputs"]))
    auto = values["variant"] == AUTO
    with load(
        values["deploy_dir"],
        values["variant"],
        values["provider"],
        values["threads"],
        max_length=values["max_length"],
        batch_tokens=options.batch_tokens,
        chunk_rows=options.chunk_rows,
        allow_batch_dependent=values["allow_batch_dependent"],
        verify=values["verify"] and auto,
    ) as scorer:
        if values["verify"]:
            # auto's measurement is the parity check (made now, not cached): its lines are
            # shown, and a variant auto did not pick may fail without failing the run.
            if auto and scorer.verification is not None:
                echo_lines(scorer.verification, echo, err=True)
            else:
                report(scorer.verify(), echo, as_json=False, lines_to_stderr=True)
        summary = scorer.score_file(
            paths,
            values["output"],
            format=options.fmt,
            probs=options.probs,
            text_column=options.columns.text,
            id_column=options.columns.id,
            label_column=options.columns.label,
            on_bad_line=options.on_bad_line,
            evaluate=options.evaluate,
            progress=values["progress"],
        )
        for line in describe(summary):
            echo(line, err=True)
        if summary.metrics is not None:
            echo(format_metrics(summary.metrics, scorer.label_names), err=True)


def _score_on_ray(values: Mapping[str, Any], echo: Echo) -> None:
    """`--engine ray`: its options are checked before Ray loads, then the job runs."""
    from reviewscore.cluster.options import ClusterOptions

    options = ClusterOptions.from_command(values)
    from reviewscore.cluster import connect, score_to_folder
    from reviewscore.score.summary import describe

    connect(values["address"])
    output = values["output"]
    summary = score_to_folder(
        values["deploy_dir"], list(values["inputs"]), output, options, progress=values["progress"]
    )
    for line in describe(summary):
        echo(line, err=True)
    echo(
        f"wrote {output}: {summary.shards} shard(s), {len(summary.bad_lines)} bad row(s) "
        "in bad_rows.tsv",
        err=True,
    )


def verify(
    deploy_dir: Path,
    variants: Sequence[str],
    echo: Echo,
    *,
    all_variants: bool,
    provider: str,
    threads: int | None,
    allow_batch_dependent: bool,
    as_json: bool,
) -> None:
    """`verify`: the variants asked for (or, with `all_variants`, every scorer variant,
    checked, timed and tabled); raises ParityError (exit 3) when one fails."""
    if allow_batch_dependent and not all_variants:
        raise UsageError("--allow-batch-dependent goes with --all")
    if all_variants and not variants:
        _verify_all(deploy_dir, provider, threads, allow_batch_dependent, echo, as_json=as_json)
        return
    from reviewscore.scorer import verify as verify_variants

    checked = verify_variants(
        deploy_dir, variants, all_variants=all_variants, provider=provider, threads=threads
    )
    report(checked, echo, as_json=as_json, lines_to_stderr=as_json)


def _verify_all(
    deploy_dir: Path,
    provider: str,
    threads: int | None,
    allow_batch_dependent: bool,
    echo: Echo,
    *,
    as_json: bool,
) -> None:
    """`verify --all`: every scorer variant checked and timed, one table (to stderr with
    --json), the pick of `auto`; the measurement is cached for `--variant auto`."""
    from reviewscore.deploy_folder import load_manifest
    from reviewscore.parity.verify import verify_folder
    from reviewscore.score.auto_variant import record_measurement
    from reviewscore.score.classifier import scorer_variants
    from reviewscore.score.session import default_threads
    from reviewscore.score.verify_table import pick, table_json, table_lines

    manifest = load_manifest(deploy_dir, verify=False)
    names = scorer_variants(manifest)
    result = verify_folder(deploy_dir, names, provider=provider, threads=threads, timed=True)
    record_measurement(
        deploy_dir,
        manifest,
        result,
        provider=provider,
        threads=threads,
        warn=lambda line: echo(f"warning: {line}", err=True),
    )
    choice = pick(result, manifest, allow_batch_dependent)
    lines = table_lines(result, manifest, choice, threads=threads or default_threads())
    for line in lines:
        echo(line, err=as_json)
    if as_json:
        echo(json.dumps({**result.to_json(), **table_json(result, choice)}, indent=1))
    result.check()


def report(checked: Verification, echo: Echo, *, as_json: bool, lines_to_stderr: bool) -> None:
    """Print a verification (one line per variant; JSON on stdout with `as_json`) and
    raise its ParityError (exit 3) on a failure."""
    echo_lines(checked, echo, err=lines_to_stderr)
    if as_json:
        echo(json.dumps(checked.to_json(), indent=1))
    checked.check()


def echo_lines(checked: Verification, echo: Echo, *, err: bool) -> None:
    """A verification's lines, one per variant, each led by 'verify ' (score --verify, verify)."""
    for line in checked.lines():
        echo(f"verify {line}", err=err)
