"""`reviewscore serve`: open and verify the deploy folder, then run the app on uvicorn until
SIGTERM or SIGINT, answering every request already accepted before exiting 0."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from pathlib import Path

from reviewscore.errors import ReviewscoreError
from reviewscore.serve.options import ServeOptions

log = logging.getLogger("reviewscore.serve")

# Seconds uvicorn waits for accepted requests after SIGTERM; a full queue drains well within.
GRACEFUL_SHUTDOWN_S = 60
BACKLOG = 2048  # uvicorn's default


def _require_serve_extra() -> None:
    try:
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ReviewscoreError(
            f"`reviewscore serve` needs the [serve] extra ({exc.name} is missing): "
            "pip install 'reviewscore[serve]'"
        ) from None


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("reviewscore.serve")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _listen(host: str, port: int) -> socket.socket:
    """Bind here rather than in uvicorn, so a port in use is a one-line error before start.

    The protocol is named (IPPROTO_TCP, not socket.create_server's 0): asyncio turns Nagle's
    algorithm off only on sockets that say they are TCP, and with it on, every response
    (written as headers, then body) waits ~40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except socket.gaierror:  # "Unknown error -2" from os.strerror: not an address at all
        sock.close()
        raise ReviewscoreError(
            f"cannot listen on {host}:{port}: {host!r} is neither an IP address nor a host "
            "name this machine resolves; choose another --host"
        ) from None
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ReviewscoreError(
            f"cannot listen on {host}:{port}: {reason}; choose another --host/--port"
        ) from None
    # Listening from here on: a client that connects while the model warms up waits in the
    # backlog instead of being refused.
    sock.listen(BACKLOG)
    return sock


def _threads_text(threads: int | None) -> str:
    """The intra-op threads the session runs, as the start-up line says them: "1 thread",
    "2 threads" (without --threads, the scorer's default: the physical cores)."""
    from reviewscore.score.session import default_threads

    count = threads or default_threads()
    return f"{count} thread{'' if count == 1 else 's'}"


def serve(deploy_dir: Path, options: ServeOptions) -> None:
    """Everything that can be refused (folder, variant, key file, limits) is refused before
    the port is bound, as one-line errors."""
    _require_serve_extra()
    import uvicorn

    from reviewscore.scorer import load
    from reviewscore.serve.app import ServeState, build_app
    from reviewscore.serve.auth import key_file_warning, load_api_key
    from reviewscore.serve.batcher import MicroBatcher
    from reviewscore.serve.connections import protocol_class
    from reviewscore.serve.limits import Limits, check_limits
    from reviewscore.serve.metrics import ServeMetrics
    from reviewscore.serve.readiness import Readiness

    limits = Limits(options.max_body_bytes, options.max_request_texts, options.max_text_chars)
    check_limits(limits, options.batch.max_queue_rows)
    api_key = None if options.api_key_file is None else load_api_key(options.api_key_file)
    scorer = load(
        deploy_dir,
        options.variant,
        provider="cpu",
        threads=options.threads,
        allow_batch_dependent=options.allow_batch_dependent,
    )
    classifier = scorer.classifier
    _log_to_stderr()
    warning = options.api_key_file and key_file_warning(options.api_key_file)
    if warning:
        log.warning("%s", warning)
    if not classifier.variant.batch_invariant:
        log.warning(
            "variant %s is NOT batch-invariant: a text's label may depend on the other "
            "requests in its micro-batch",
            classifier.variant_name,
        )
    metrics = ServeMetrics()
    readiness = Readiness(serve_unverified=options.serve_unverified)
    batcher = MicroBatcher(classifier, options.batch, metrics, readiness)
    state = ServeState(scorer, batcher, metrics, limits, api_key)
    app = build_app(state)
    sock = _listen(options.host, options.port)
    port = sock.getsockname()[1]  # the one the system chose, for --port 0
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        # uvicorn's h11 protocol with timeouts, a connection cap, JSON 400s and a drain
        # that loses no request (serve/connections.py); no WebSocket upgrades
        http=protocol_class(options.connections, state.draining),
        ws="none",
        timeout_keep_alive=options.connections.keep_alive_s,  # type: ignore[arg-type]
        access_log=False,  # app.Gate writes one line per request, without the texts
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
    log.info(
        "serving %s (variant %s%s, %s) on http://%s:%d%s",
        deploy_dir,
        classifier.variant_name,
        f", {classifier.auto.summary()}" if classifier.auto else "",
        _threads_text(options.threads),
        options.host,
        port,
        ", API key required" if api_key else "",
    )
    # uvicorn handles SIGTERM/SIGINT while it runs (stop accepting, finish what was accepted)
    # and re-raises the signal once stopped; ignoring it then makes a drained stop exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    uvicorn.Server(config).run(sockets=[sock])
    log.info(
        "stopped: answered %d of %d accepted score requests", batcher.answered, batcher.accepted
    )
