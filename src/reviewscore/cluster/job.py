"""`reviewscore score --engine ray`: files in, a folder of scored shards out.

read (one task per file) -> score (a pool of actors) -> write (one file per batch); the
driver only sees one small record per shard and one report per input file, so its memory
does not grow with the data. Before publishing, it checks that the rows written are exactly
the rows read: a lost or duplicated batch fails the job instead of passing unnoticed.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import ray
import ray.data
from ray.exceptions import RayTaskError

from reviewscore.cluster.options import ACTOR_THREADS, ClusterOptions
from reviewscore.cluster.reading import (
    data_context,
    expand_inputs,
    read_report,
    read_review_dataset,
)
from reviewscore.cluster.scoring import (
    ScorerActor,
    check_deploy_dir,
    driver_variant,
    score_dataset,
)
from reviewscore.cluster.writing import (
    OUTPUT_KIND,
    OutputFolder,
    Shard,
    is_job_output,
    write_shards,
)
from reviewscore.data import BadLine
from reviewscore.deploy_folder import load_manifest
from reviewscore.errors import ReviewscoreError
from reviewscore.files import check_replaceable, replace_folder
from reviewscore.score.summary import ScoreSummary


@dataclass
class ClusterSummary(ScoreSummary):
    """A ScoreSummary (rows = rows written) plus what only a Ray job has."""

    rows_in: int = 0
    files: int = 0
    shards: int = 0
    actors: int = 0
    threads: int = 0
    gpus_per_actor: float = 0
    output_dir: str = ""

    def to_json(self) -> dict:
        return {
            "engine": "ray",
            "rows_in": self.rows_in,
            "rows_out": self.rows,
            "bad_rows": len(self.bad_lines),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "files": self.files,
            "actors": self.actors,
            "threads_per_actor": self.threads,
            "gpus_per_actor": self.gpus_per_actor,
            "variant": self.variant,
            "auto": self.auto and self.auto.to_dict(),
            "batch_invariant": self.batch_invariant,
            "parity_checked": self.parity_checked,
            "parity_failures": self.parity_failures,
            "ray_version": ray.__version__,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def connect(address: str | None = None, *, num_cpus: int | None = None) -> None:
    """Join the cluster at `address` ('auto', 'ray://host:10001'), or start a local one on
    this machine; a no-op when this process is already connected."""
    if ray.is_initialized():
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **quiet)  # type: ignore[arg-type]
    else:
        ray.init(address=address, **quiet)  # type: ignore[arg-type]


def plan_actors(options: ClusterOptions) -> tuple[int, int]:
    """(actors, onnxruntime threads per actor). Defaults fill the cluster: one thread per
    actor and an actor per CPU, or one actor per `gpus_per_actor` share of the GPUs."""
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 0)), resources.get("GPU", 0)
    threads = options.threads or ACTOR_THREADS
    if options.actors is not None:
        actors = options.actors
    elif options.gpus_per_actor:
        actors = max(1, int(gpus / options.gpus_per_actor))
    else:
        actors = max(1, cpus // threads)
    if actors * threads > cpus or actors * options.gpus_per_actor > gpus:
        raise ReviewscoreError(
            f"{actors} actor(s) x ({threads} CPU, {options.gpus_per_actor} GPU) do not fit "
            f"the cluster ({cpus} CPU, {gpus:g} GPU): lower --actors, --threads or "
            "--gpus-per-actor"
        )
    return actors, threads


def progress_bars(enabled: bool) -> contextlib.AbstractContextManager[None]:
    """Ray Data's progress bars on or off for one job, restored after (`data_context`)."""
    return data_context("enable_progress_bars", enabled)


def _user_error(exc: BaseException) -> ReviewscoreError | None:
    """The ReviewscoreError a task raised, out of the exceptions Ray wrapped it in (a
    RayTaskError also subclasses the error it wraps, but its message is a traceback)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ReviewscoreError) and not isinstance(current, RayTaskError):
            return ReviewscoreError(str(current))
        todo += [current.__cause__, current.__context__, getattr(current, "cause", None)]
    return None


def score_to_folder(
    deploy_dir: str | Path,
    inputs: list[str],
    output_dir: str | Path,
    options: ClusterOptions = ClusterOptions(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    progress: bool | None = None,
    actor_class: type[ScorerActor] = ScorerActor,
) -> ClusterSummary:
    """Score every row of `inputs` (files, folders, globs) into shards in `output_dir`.

    Connects to a local Ray unless `connect` was called. The folder appears only when every
    row read has been written exactly once; bad lines are listed in its bad_rows.tsv (with
    on_bad_line='error' the first one fails the job instead).
    """
    paths = expand_inputs(inputs)
    output_dir = Path(output_dir)
    inputs = [*paths, deploy_dir]
    check_replaceable(output_dir, OUTPUT_KIND, is_job_output, inputs)  # before Ray starts
    deploy = check_deploy_dir(deploy_dir, options.variant)
    manifest = load_manifest(deploy, verify=False)
    connect()
    actors, threads = plan_actors(options)
    chosen, auto = driver_variant(
        deploy,
        options.variant,
        provider=options.provider,
        threads=threads,
        allow_batch_dependent=options.allow_batch_dependent,
    )
    variant = chosen or manifest.default_variant
    summary = ClusterSummary.for_variant(
        manifest,
        variant,
        f"Ray, {actors} actor(s) x {threads} thread(s)",
        auto=auto,
        files=len(paths),
        actors=actors,
        threads=threads,
        gpus_per_actor=options.gpus_per_actor,
        output_dir=str(output_dir),
    )
    started = time.perf_counter()
    bars = sys.stderr.isatty() if progress is None else progress
    with (
        progress_bars(bars),
        replace_folder(output_dir, OUTPUT_KIND, is_job_output, inputs) as build,
    ):
        folder = OutputFolder(build)
        rows = read_review_dataset(
            paths,
            options.columns,
            chunk_rows=options.chunk_rows,
            on_bad_line=options.on_bad_line,
            reports_dir=folder.reports_dir,
            concurrency=actors,
        )
        scored = score_dataset(
            rows,
            deploy,
            actors=actors,
            threads=threads,
            gpus_per_actor=options.gpus_per_actor,
            variant=variant,
            provider=options.provider,
            max_length=options.max_length,
            batch_rows=options.chunk_rows,
            batch_tokens=options.batch_tokens,
            probs=options.probs,
            keep_text=False,
            actor_class=actor_class,
        )
        records = write_shards(
            scored,
            folder.attempts_dir,
            fmt=options.output_format,
            shard_rows=options.shard_rows,
            concurrency=actors,
        )
        try:
            with warnings.catch_warnings():
                # Ray's hint to raise override_num_blocks when an operator gets fewer
                # inputs than workers: here a file is one input, by design.
                warnings.filterwarnings("ignore", ".*but the operator only received", UserWarning)
                shards = [Shard(**record) for record in records.iter_rows()]
        except Exception as exc:
            error = _user_error(exc)
            if error is None:
                raise
            raise error from None
        summary.rows = sum(s.rows for s in shards)
        bad_lines: list[BadLine] = []
        reports = sorted(folder.reports_dir.glob("*.json"))
        if len(reports) != len(paths):
            raise ReviewscoreError(f"{len(paths)} files, {len(reports)} read to the end")
        for report in reports:
            _, read, bad = read_report(report)
            summary.rows_in += read + len(bad)
            bad_lines += bad
        summary.bad_lines = sorted(bad_lines, key=lambda b: (paths.index(b.source), b.line))
        if summary.rows != summary.rows_in - len(bad_lines):
            raise ReviewscoreError(
                f"rows read ({summary.rows_in - len(bad_lines)}) and rows written "
                f"({summary.rows}) differ: not publishing {output_dir}"
            )
        summary.seconds = time.perf_counter() - started
        names = folder.finish(
            shards,
            summary.bad_lines,
            summary.to_json(),
            source_order=paths,
            fmt=options.output_format,
        )
    summary.shards = len(names)
    return summary
