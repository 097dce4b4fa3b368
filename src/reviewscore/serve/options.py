"""What `reviewscore serve` does when not told otherwise: the server's options and the
micro-batcher's, with their defaults, defined once for the command and the server. Imports
nothing of the [serve] extra, so the command line can read the defaults without it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reviewscore.serve.limits import ConnectionSettings


@dataclass(frozen=True)
class BatchSettings:
    # Tokens (before padding) of one micro-batch; each session run stays within it padded.
    max_batch_tokens: int = 4096
    max_wait_s: float = 0.005
    max_queue_rows: int = 2048
    # False: one session run per request (the baseline that bench/serve_load.py measures).
    batching: bool = True


@dataclass(frozen=True)
class ServeOptions:
    """What `reviewscore serve` does when not told otherwise: localhost only, the folder's
    default variant, physical cores, and bounds on every request (413 beyond)."""

    host: str = "127.0.0.1"  # 0.0.0.0 exposes the service to the network
    port: int = 8000
    variant: str | None = None
    threads: int | None = None
    batch: BatchSettings = field(default_factory=BatchSettings)
    max_body_bytes: int = 1 << 20
    max_request_texts: int = 256
    max_text_chars: int = 10_000
    api_key_file: Path | None = None
    # Score even when the parity re-check fails on this CPU (it is still logged as an ERROR)
    serve_unverified: bool = False
    connections: ConnectionSettings = field(default_factory=ConnectionSettings)
    allow_batch_dependent: bool = False  # with variant "auto" (score/auto_variant.py)

    @classmethod
    def from_command(
        cls,
        *,
        max_batch_tokens: int,
        max_wait_ms: float,
        max_queue_rows: int,
        batching: bool,
        timeout_header: float,
        timeout_body: float,
        timeout_keep_alive: float,
        max_connections: int,
        **options: Any,
    ) -> ServeOptions:
        """The `serve` command's flags as options: the micro-batcher's and the connections'
        grouped, the wait in seconds; the rest are the options' own names."""
        return cls(
            batch=BatchSettings(max_batch_tokens, max_wait_ms / 1000, max_queue_rows, batching),
            connections=ConnectionSettings(
                timeout_header, timeout_body, timeout_keep_alive, max_connections
            ),
            **options,
        )
