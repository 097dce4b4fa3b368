"""Prometheus metrics of one server, in a registry of its own (not the process-wide default),
so two apps in one process (tests) never share or clash over counters."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Request latency from a fraction of a millisecond (one phrase, idle server) to seconds
# (a full queue ahead of it).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


class ServeMetrics:
    """The server's counters: requests by path and status, latency, rows, batches, queue."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reviewscore_requests",
            "HTTP requests answered, by path and status",
            ["path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reviewscore_request_seconds",
            "Time from request received to response sent, by path",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter("reviewscore_rows_scored", "Texts scored", registry=self.registry)
        self.batch_rows = Histogram(
            "reviewscore_batch_rows",
            "Texts per micro-batch",
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.batch_tokens = Histogram(
            "reviewscore_batch_tokens",
            "Tokens per micro-batch (before padding)",
            buckets=TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.queue_rows = Gauge(
            "reviewscore_queue_rows",
            "Texts waiting for the inference worker",
            registry=self.registry,
        )
        self.rejected = Counter(
            "reviewscore_queue_rejected",
            "Requests refused with 503 because the queue was full",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
