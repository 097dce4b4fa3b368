"""Dynamic micro-batching: requests wait in a bounded queue; one inference worker takes what
has arrived, up to a token budget or until the oldest has waited `max_wait_s`, and runs it as
one call to the scorer's batched path (`DeployedClassifier.logits_encoded`: sort by length,
token-budget batches, dynamic padding). Each request gets its own rows back, in order.

The design of Triton's dynamic batcher (max_queue_delay_microseconds) and Ray Serve's
`@serve.batch` (batch_wait_timeout_s): under load, requests queue while the session runs and
the next batch leaves at once; when idle, a lone request waits at most `max_wait_s`. The
session runs on a thread of its own and releases the GIL, so the event loop keeps accepting,
parsing and tokenising meanwhile. One worker, not several: onnxruntime already spreads one
run over the cores (--threads), and concurrent runs would only contend for them.

A micro-batch of a few dozen phrases is too small for the file scorer's plan (sort, then fill
`--max-batch-tokens` padded tokens) to make runs of even length: one long phrase would pad all
the short ones. So the runs are cut where padding the rows so far up to the next row would cost
more than starting a run of its own; what a run costs (in tokens of work) is measured at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from reviewscore.padding import Ragged
from reviewscore.score.batching import plan_batches
from reviewscore.score.classifier import DeployedClassifier, Encoded
from reviewscore.serve.metrics import ServeMetrics
from reviewscore.serve.options import BatchSettings
from reviewscore.serve.readiness import Readiness

log = logging.getLogger("reviewscore.serve")


class QueueFull(Exception):
    """The request would take the queue past `max_queue_rows` texts: retry later."""


class ModelRefused(Exception):
    """Score requests are refused: the model failed its parity re-check (or cannot run);
    the message says why."""


@dataclass
class _Pending:
    encoded: Encoded
    future: asyncio.Future[np.ndarray]
    arrived: float


def measure_run_overhead(classifier: DeployedClassifier, length: int = 16) -> float:
    """What one session run costs beyond its tokens, in tokens: from the best of three timings
    of a 1-row and a 16-row run. Cheap calls on one CPU, dear ones on another (threads, cores,
    load), so it is measured on the machine that serves."""

    def best(rows: int) -> float:
        ids = Ragged.from_lists([[1] * length] * rows)
        typed = "token_type_ids" in classifier.input_names
        batch = Encoded(ids, Ragged.from_lists([[0] * length] * rows) if typed else None)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            classifier.logits_encoded(batch, batches=[np.arange(rows)])
            times.append(time.perf_counter() - started)
        return min(times)

    one, many = best(1), best(16)
    per_token = max(many - one, 1e-9) / (15 * length)
    return max(0.0, one - length * per_token) / per_token


def describe_run_overhead(tokens: float) -> str:
    """The start-up log line of `measure_run_overhead`'s figure."""
    count = round(tokens)
    return f"a session run costs as much as {count} token{'' if count == 1 else 's'}"


def concat_encoded(parts: list[Encoded]) -> Encoded:
    """Several requests' token ids as one `Encoded`, rows in the order given."""
    if len(parts) == 1:
        return parts[0]
    ids = _concat_ragged([part.ids for part in parts])
    if parts[0].type_ids is None:
        return Encoded(ids, None)
    return Encoded(ids, _concat_ragged([part.type_ids for part in parts]))  # type: ignore[misc]


def _concat_ragged(parts: list[Ragged]) -> Ragged:
    lengths = np.concatenate([part.lengths for part in parts])
    starts = np.zeros_like(lengths)
    np.cumsum(lengths[:-1], out=starts[1:])
    return Ragged(np.concatenate([part.flat for part in parts]), starts, lengths)


class MicroBatcher:
    """The queue and its one inference worker; `submit` is called on the event loop."""

    def __init__(
        self,
        classifier: DeployedClassifier,
        settings: BatchSettings,
        metrics: ServeMetrics,
        readiness: Readiness,
    ) -> None:
        self.classifier = classifier
        self.settings = settings
        self.metrics = metrics
        self.readiness = readiness
        self.accepted = 0
        self.answered = 0
        # Replaced by the measured figure before the first request is scored.
        self.run_overhead_tokens = 0.0
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._stopping = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="reviewscore-inference")
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._worker = asyncio.create_task(self._work(), name="reviewscore-batcher")

    async def stop(self) -> None:
        """Score everything already queued, then stop the worker (after the server has
        stopped accepting: nothing new arrives)."""
        self._stopping = True
        if self._wakeup is not None and self._worker is not None:
            self._wakeup.set()
            await self._worker
        self._executor.shutdown(wait=True)

    async def submit(self, encoded: Encoded) -> np.ndarray:
        """The logits of `encoded`'s rows, in order, once a micro-batch has scored them."""
        refusal = self.readiness.refusal
        if refusal is not None:
            raise ModelRefused(refusal)
        rows = len(encoded)
        if self._stopping or self._queued_rows + rows > self.settings.max_queue_rows:
            self.metrics.rejected.inc()
            raise QueueFull
        loop = asyncio.get_running_loop()
        pending = _Pending(encoded, loop.create_future(), time.monotonic())
        self._queue.append(pending)
        self._queued_rows += rows
        self.metrics.queue_rows.set(self._queued_rows)
        self.accepted += 1
        assert self._wakeup is not None, "submit before start"
        self._wakeup.set()
        try:
            return await pending.future
        finally:
            self.answered += 1

    async def _work(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        try:
            self.run_overhead_tokens = await loop.run_in_executor(
                self._executor, measure_run_overhead, self.classifier
            )
            log.info("%s", describe_run_overhead(self.run_overhead_tokens))
            await loop.run_in_executor(self._executor, self.readiness.prepare, self.classifier)
        except Exception as exc:  # a model that cannot run: /readyz says so, requests get 503
            log.exception("warm-up failed")
            self.readiness.failure = f"warm-up failed: {exc}"
        self._log_parity()
        while self._queue or not self._stopping:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._score(await self._collect())

    def _log_parity(self) -> None:
        parity = self.readiness.parity
        if parity is None or not parity.blocks_readiness:
            return
        if self.readiness.serve_unverified:
            log.error(
                "parity re-check FAILED on this CPU: %s; serving anyway (--serve-unverified)",
                parity.detail,
            )
        else:
            log.error(
                "parity re-check FAILED on this CPU: %s; /v1/score answers 503 "
                "(start with --serve-unverified to serve this model anyway)",
                parity.detail,
            )

    async def _collect(self) -> list[_Pending]:
        """Take requests from the queue until their tokens fill the budget or the oldest taken
        has waited `max_wait_s` (it may have waited that long already, while the last batch
        ran)."""
        assert self._wakeup is not None
        taken: list[_Pending] = []
        tokens = 0
        deadline = self._queue[0].arrived + self.settings.max_wait_s
        while True:
            while self._queue:
                head = self._queue[0].encoded
                if taken and tokens + int(head.lengths.sum()) > self.settings.max_batch_tokens:
                    return taken
                taken.append(self._queue.popleft())
                tokens += int(head.lengths.sum())
                if not self.settings.batching:
                    return taken
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping:
                return taken
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return taken

    async def _score(self, batch: list[_Pending]) -> None:
        """One call to the scorer's batched path for the whole micro-batch, then each request
        its own slice of the logits."""
        refusal = self.readiness.refusal  # requests queued before the re-check ended
        if refusal is not None:
            self._queued_rows -= sum(len(pending.encoded) for pending in batch)
            self.metrics.queue_rows.set(self._queued_rows)
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(ModelRefused(refusal))
            return
        merged = concat_encoded([pending.encoded for pending in batch])
        # Rows count as queued until their batch runs, collection time included: the bound
        # holds whatever --max-wait-ms is.
        self._queued_rows -= len(merged)
        self.metrics.queue_rows.set(self._queued_rows)
        self.metrics.batch_rows.observe(len(merged))
        self.metrics.batch_tokens.observe(int(merged.lengths.sum()))
        loop = asyncio.get_running_loop()
        try:
            logits = await loop.run_in_executor(self._executor, self._logits, merged)
        except Exception as exc:
            log.exception("scoring a micro-batch of %d rows failed", len(merged))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        self.metrics.rows.inc(len(merged))
        start = 0
        for pending in batch:
            end = start + len(pending.encoded)
            if not pending.future.done():  # its client may have gone away
                pending.future.set_result(logits[start:end])
            start = end

    def _logits(self, merged: Encoded) -> np.ndarray:
        """The scorer's batched path, on runs also cut by padding cost (`plan_batches` with
        the measured cost of a run); without batching, the scorer's own plan, as `reviewscore
        score` would run the request."""
        budget = self.settings.max_batch_tokens
        if not self.settings.batching:
            return self.classifier.logits_encoded(merged, budget)
        runs = plan_batches(merged.lengths, budget, run_overhead_tokens=self.run_overhead_tokens)
        return self.classifier.logits_encoded(merged, batches=runs)
