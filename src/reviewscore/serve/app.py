"""The HTTP app: routes, JSON errors, the bearer key, one access-log line and the metrics of
every request. Built around an open Scorer (`reviewscore.load`) and a micro-batcher that
plans the session runs of its classifier (see server.py)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reviewscore.errors import TextError
from reviewscore.score.classifier import DeployedClassifier, softmax
from reviewscore.scorer import Scorer
from reviewscore.serve.auth import authorized
from reviewscore.serve.batcher import MicroBatcher, ModelRefused, QueueFull
from reviewscore.serve.limits import Limits, RequestError, parse_score_request
from reviewscore.serve.metrics import ServeMetrics

access_log = logging.getLogger("reviewscore.serve.access")
log = logging.getLogger("reviewscore.serve")

# Probes answer without the key: a load balancer or kubelet has none.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# Tokenise on the event loop below this many characters (a thread hop costs more than the
# Rust tokenizer does on a few phrases); above it, on a thread, so the loop keeps serving.
INLINE_TOKENISE_CHARS = 4096
RETRY_AFTER_S = 1


class Draining:
    """Set once the server drains (SIGTERM, serve/connections.py): from then on every answer
    carries `Connection: close`, so a keep-alive client stops sending on its connection
    before the server closes it."""

    def __init__(self) -> None:
        self.active = False


@dataclass
class ServeState:
    """What the routes need; one per app."""

    scorer: Scorer
    batcher: MicroBatcher
    metrics: ServeMetrics
    limits: Limits
    api_key: bytes | None
    draining: Draining = field(default_factory=Draining)

    @property
    def classifier(self) -> DeployedClassifier:
        """The Scorer's classifier: requests are tokenised one by one and their token ids
        merged into micro-batches, below the Scorer's texts-in calls."""
        return self.scorer.classifier


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status, headers=headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (whatever Content-Length
    claims), so an oversized upload is never held in memory whole."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body is {declared} bytes; limit {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is over {limit} bytes; limit {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_content_type(request: Request) -> None:
    """JSON, or no Content-Type at all. A browser page on another origin can send a form or
    text/plain POST without asking first (no CORS preflight); refusing those keeps such
    pages from spending this server's CPU, since a JSON POST needs a preflight that fails."""
    declared = request.headers.get("content-type")
    if declared is not None and declared.split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, f"Content-Type {declared!r}: send application/json")


async def score(request: Request) -> Response:
    state: ServeState = request.app.state.serve
    try:
        check_content_type(request)
        body = await read_body(request, state.limits.max_body_bytes)
        parsed = parse_score_request(body, state.limits)
    except RequestError as exc:
        return error(exc.status, exc.message)
    except ClientDisconnect:  # gone, or cut off by --timeout-body: nobody reads this answer
        return error(408, "the client went away or its body did not arrive in time")
    request.state.rows = len(parsed.texts)
    classifier = state.classifier
    try:
        if sum(map(len, parsed.texts)) <= INLINE_TOKENISE_CHARS:
            encoded = classifier.encode(parsed.texts)
        else:
            encoded = await run_in_threadpool(classifier.encode, parsed.texts)
    except TextError as exc:  # a lone surrogate: JSON's "\ud800" escape decodes to one
        return error(422, str(exc))
    try:
        logits = await state.batcher.submit(encoded)
    except ModelRefused as exc:
        return error(503, str(exc))
    except QueueFull:
        return error(
            503,
            f"the queue is full ({state.batcher.settings.max_queue_rows} texts); retry later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    labels = logits.argmax(axis=1)
    answer: dict[str, Any] = {
        "labels": labels.tolist(),
        "label_names": [classifier.labels[i] for i in labels],
    }
    if parsed.probs:
        answer["probs"] = softmax(logits).tolist()
    answer |= {"variant": classifier.variant_name, "model_sha256": model_sha256(classifier)}
    return JSONResponse(answer)


def model_sha256(classifier: DeployedClassifier) -> str:
    return classifier.manifest.files[classifier.variant.file]


def describe_model(state: ServeState) -> dict[str, Any]:
    """What a client needs to know about the answers: labels, variant (and, for `--variant
    auto`, the runner-up and both speeds measured here), whether a label can depend on the
    rest of the micro-batch, the export's parity figures, the hashes."""
    classifier = state.classifier
    manifest = classifier.manifest
    parity = manifest.parity_of(classifier.variant_name)
    return {
        "labels": classifier.labels,
        "variant": classifier.variant_name,
        "precision": classifier.variant.precision,
        "batch_invariant": classifier.variant.batch_invariant,
        # how --variant auto chose the variant (speeds measured on this machine), or None
        "auto": classifier.auto and classifier.auto.to_dict(),
        "parity": parity and parity.to_dict(),
        "model_sha256": model_sha256(classifier),
        "files_sha256": manifest.files,
        "max_length": classifier.tokenizer.truncation["max_length"],
        "limits": {
            "max_body_bytes": state.limits.max_body_bytes,
            "max_request_texts": state.limits.max_texts,
            "max_text_chars": state.limits.max_chars,
            "max_queue_rows": state.batcher.settings.max_queue_rows,
        },
        "batching": {
            **vars(state.batcher.settings),
            "run_overhead_tokens": round(state.batcher.run_overhead_tokens),
        },
    }


async def model(request: Request) -> Response:
    return JSONResponse(describe_model(request.app.state.serve))


async def healthz(request: Request) -> Response:
    return JSONResponse({"alive": True})


async def readyz(request: Request) -> Response:
    readiness = request.app.state.serve.batcher.readiness
    return JSONResponse(readiness.report(), 200 if readiness.ready else 503)


async def metrics(request: Request) -> Response:
    serve_metrics: ServeMetrics = request.app.state.serve.metrics
    return Response(serve_metrics.render(), media_type=serve_metrics.content_type)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail, headers=exc.headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug, not the client's fault: logged here with its traceback, never sent."""
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error(500, "internal error; the server log has the details")


class Gate:
    """Pure ASGI middleware around every request: the bearer key, then the access-log line
    (method, path, status, rows, ms; never the texts) and the request metrics; while the
    server drains, `Connection: close` on every answer."""

    def __init__(self, app: ASGIApp, state: ServeState) -> None:
        self.app = app
        self.state = state
        self.paths = {route.path for route in ROUTES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server sends if the app fails before it answers

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self.state.draining.active:
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            await send(message)

        try:
            if self.state.api_key is not None and scope["path"] not in OPEN_PATHS:
                header = dict(scope["headers"]).get(b"authorization")
                if not authorized(header, self.state.api_key):
                    denied = error(
                        401,
                        "missing or wrong API key: send 'Authorization: Bearer <key>'",
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                    await denied(scope, receive, send_and_note)
                    return
            await self.app(scope, receive, send_and_note)
        finally:
            self._note(scope, status, time.perf_counter() - started)

    def _note(self, scope: Scope, status: int, seconds: float) -> None:
        # Unknown paths are counted as one label value: a scanner cannot grow the metrics.
        path = scope["path"] if scope["path"] in self.paths else "other"
        rows = scope.get("state", {}).get("rows", 0)
        self.state.metrics.requests.labels(path, str(status)).inc()
        self.state.metrics.latency.labels(path).observe(seconds)
        access_log.info(
            '"%s %s" %d rows=%d %.1fms', scope["method"], path, status, rows, seconds * 1e3
        )


ROUTES = [
    Route("/v1/score", score, methods=["POST"]),
    Route("/v1/model", model, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]


def build_app(state: ServeState) -> Starlette:
    """The app; its lifespan starts the micro-batcher and, on shutdown (after the server has
    answered every request it accepted), drains and stops it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.batcher.start()
        try:
            yield
        finally:
            await state.batcher.stop()

    app = Starlette(
        routes=ROUTES,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        lifespan=lifespan,
    )
    app.state.serve = state
    # /v1/score/ is a 404 like any unknown path, not a redirect built from the Host header
    app.router.redirect_slashes = False
    app.add_middleware(Gate, state=state)
    return app
