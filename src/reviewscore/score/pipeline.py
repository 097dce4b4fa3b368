"""Stream review files through a DeployedClassifier into one output.

Memory is flat in the file size: rows are read, tokenised, scored and written a chunk at a
time. While the model runs on chunk k, a worker thread reads and tokenises chunk k+1
(onnxruntime and the Rust tokenizer both release the GIL), so I/O and tokenisation hide
behind inference.
"""

from __future__ import annotations

import gzip
import os
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from tqdm import tqdm

from reviewscore.cpu_features import local_cpu
from reviewscore.data import Columns, LabelMode, ReviewRows, iter_review_chunks
from reviewscore.data.reader import DEFAULT_CHUNK_ROWS
from reviewscore.errors import DataError, TextError, UsageError
from reviewscore.files import atomic_path
from reviewscore.metrics import classification_metrics
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS
from reviewscore.score.classifier import DeployedClassifier, Encoded, softmax
from reviewscore.score.inputs import check_output_is_not_an_input
from reviewscore.score.output import check_output_path, check_probs_format, output_errors
from reviewscore.score.summary import ScoreSummary
from reviewscore.score.writers import FORMATS, Writer

# `score` options only a Ray job takes, as the command spells them.
RAY_ONLY = {"address": "--address", "actors": "--actors", "gpus_per_actor": "--gpus-per-actor"}
BAD_LINE_CHOICES = ("error", "skip")


@dataclass(frozen=True)
class ScoreOptions:
    """What `score_files` does: the local engine's options."""

    fmt: str = "csv"
    probs: bool = False
    columns: Columns = field(default_factory=Columns)
    batch_tokens: int = DEFAULT_BATCH_TOKENS
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    on_bad_line: str = "error"
    evaluate: bool = False

    def __post_init__(self) -> None:
        """Refuse what the local engine cannot do, before any row is read."""
        check_probs_format(self.fmt, self.probs)
        if self.fmt == "parquet":
            raise UsageError("--format parquet needs --engine ray (it writes a folder)")
        if self.fmt not in FORMATS:
            raise UsageError(f"unknown format {self.fmt!r}; choose from {', '.join(FORMATS)}")
        if self.on_bad_line not in BAD_LINE_CHOICES:
            raise UsageError(
                f"on_bad_line must be one of {', '.join(BAD_LINE_CHOICES)}, not "
                f"{self.on_bad_line!r}"
            )
        if self.batch_tokens < 1 or self.chunk_rows < 1:
            raise UsageError("--batch-tokens and --chunk-rows must be at least 1")

    @classmethod
    def from_command(cls, values: Mapping[str, Any]) -> ScoreOptions:
        """The options of the `score` command (by parameter name) as the local engine's:
        csv and stopping at a bad line unless told otherwise; a UsageError for what only
        Ray does (cluster options, parquet, which is written as a folder of shards)."""
        check_probs_format(values["fmt"], values["probs"])
        for name, option in RAY_ONLY.items():
            if values[name]:
                raise UsageError(f"{option} needs --engine ray")
        return cls(
            fmt=values["fmt"] or "csv",
            probs=values["probs"],
            columns=Columns(
                text=values["text_column"], label=values["label_column"], id=values["id_column"]
            ),
            batch_tokens=values["batch_tokens"],
            chunk_rows=values["chunk_rows"],
            on_bad_line=values["on_bad_line"] or "error",
            evaluate=values["evaluate"],
        )


def _prefetched(
    items: Iterator[tuple[ReviewRows, Encoded]],
) -> Iterator[tuple[ReviewRows, Encoded]]:
    """Yield from `items`, computing the next item in a worker thread meanwhile."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reviewscore-read") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def _open_output(stack: ExitStack, output: str | None) -> IO[str]:
    if output in (None, "-"):
        return sys.stdout
    if os.path.exists(output) and not os.path.isfile(output):
        # /dev/null, a named pipe: written in place; a rename would replace the device.
        return stack.enter_context(open(output, "w", encoding="utf-8", newline=""))
    tmp = stack.enter_context(atomic_path(output))
    if str(output).endswith(".gz"):
        return stack.enter_context(gzip.open(tmp, "wt", encoding="utf-8", newline=""))
    return stack.enter_context(open(tmp, "w", encoding="utf-8", newline=""))


def _encode(classifier: DeployedClassifier, chunk: ReviewRows, column: str) -> Encoded:
    """The chunk's texts encoded; a text the model cannot take is named by file and line.
    (The reader decodes strict UTF-8, so a lone surrogate cannot come from a file; the
    check holds whatever reader feeds it.)"""
    try:
        return classifier.encode(chunk.texts)
    except TextError as exc:
        line = chunk.lines[exc.index]
        raise DataError(chunk.source, f"the text {exc.problem}", line=line, column=column) from None


def score_files(
    classifier: DeployedClassifier,
    inputs: list[str],
    output: str | None,
    options: ScoreOptions,
    *,
    progress: bool | None = None,
) -> ScoreSummary:
    """Score every row of every input, in order, into `output` (a path, or None/'-' for
    stdout). A path appears only when every row has been written (atomic rename)."""
    check_output_path(output)
    check_output_is_not_an_input(output, inputs, (classifier.deploy_dir,))
    summary = ScoreSummary.for_variant(
        classifier.manifest,
        classifier.variant_name,
        classifier.provider,
        here=local_cpu(),
        deploy_dir=str(classifier.deploy_dir),
        exact_int8=classifier.session.exact_int8,
        auto=classifier.auto,
    )
    label_mode = LabelMode.REQUIRED if options.evaluate else LabelMode.IGNORED
    truth: list[np.ndarray] = []
    predicted: list[np.ndarray] = []

    def encoded_chunks() -> Iterator[tuple[ReviewRows, Encoded]]:
        for path in inputs:
            chunks = iter_review_chunks(
                path,
                options.columns,
                label_mode=label_mode,
                chunk_rows=options.chunk_rows,
                on_bad_line=options.on_bad_line,
                bad_lines=summary.bad_lines,
            )
            for chunk in chunks:
                if options.fmt == "kaggle" and not chunk.has_id_column:
                    raise DataError(
                        chunk.source,
                        f"--format kaggle needs the id column {options.columns.id!r}",
                        line=1,
                    )
                yield chunk, _encode(classifier, chunk, options.columns.text)

    started = time.perf_counter()
    with output_errors(output), ExitStack() as stack:
        handle = _open_output(stack, output)
        writer = Writer(
            handle,
            options.fmt,
            id_column=options.columns.id,
            label_column=options.columns.label,
            label_names=classifier.labels,
            probs=options.probs,
            with_source=len(inputs) > 1,
        )
        bar = stack.enter_context(
            tqdm(
                desc="scoring",
                unit=" rows",
                file=sys.stderr,
                disable=None if progress is None else not progress,  # None: only on a TTY
            )
        )
        for chunk, encoded in _prefetched(encoded_chunks()):
            probs = softmax(classifier.logits_encoded(encoded, options.batch_tokens))
            labels = probs.argmax(axis=1)
            writer.write(chunk.source, chunk.ids, labels, probs)
            if options.evaluate:
                truth.append(chunk.labels)  # type: ignore[arg-type]
                predicted.append(labels)
            summary.rows += len(chunk)
            bar.update(len(chunk))
        writer.finish()
        handle.flush()
    summary.seconds = time.perf_counter() - started
    if options.evaluate and truth:
        summary.metrics = classification_metrics(
            np.concatenate(truth), np.concatenate(predicted), len(classifier.labels)
        )
    return summary
