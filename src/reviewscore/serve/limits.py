"""What a score request may be, checked before any work: a bad request is answered 4xx with a
JSON error that names the problem, never a 500, and its size is capped so no client can make
the server read, tokenise or queue without bound."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reviewscore.errors import ReviewscoreError

ALLOWED_FIELDS = ("texts", "probs")


@dataclass(frozen=True)
class Limits:
    """Per-request caps: body bytes, texts per request, characters per text."""

    max_body_bytes: int = 1 << 20
    max_texts: int = 256
    max_chars: int = 10_000


@dataclass(frozen=True)
class ConnectionSettings:
    """Per-connection bounds (serve/connections.py): seconds for a request's head and body
    to arrive and for an idle kept-alive connection to stay open, and the most connections
    open at once; the serve command's --timeout-* and --max-connections."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = 1000


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ScoreRequest:
    texts: list[str]
    probs: bool


def check_limits(limits: Limits, max_queue_rows: int) -> None:
    """Refuse settings under which a valid request could never be queued."""
    if limits.max_texts > max_queue_rows:
        raise ReviewscoreError(
            f"--max-request-texts {limits.max_texts} exceeds --max-queue-rows {max_queue_rows}: "
            "a full-size request could never be queued; lower one or raise the other"
        )


def parse_score_request(body: bytes, limits: Limits) -> ScoreRequest:
    """`{"texts": [str, ...], "probs": bool}` from a body already within the byte cap."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8 text") from None
    try:
        payload: Any = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except ValueError as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[...": nested deeper than Python's recursion limit
        raise RequestError(400, "the body is not valid JSON: nested too deeply") from None
    if not isinstance(payload, dict):
        raise RequestError(422, 'the body must be a JSON object like {"texts": ["..."]}')
    unknown = sorted(set(payload) - set(ALLOWED_FIELDS))
    if unknown:
        raise RequestError(
            422, f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: texts, probs"
        )
    if "texts" not in payload:
        raise RequestError(422, "'texts' is required: a list of strings")
    texts = payload["texts"]
    if not isinstance(texts, list):
        raise RequestError(422, f"'texts' must be a list of strings, not {_json_type(texts)}")
    if not texts:
        raise RequestError(422, "'texts' is empty; send at least one text")
    if len(texts) > limits.max_texts:
        raise RequestError(
            413, f"{len(texts)} texts in one request; limit {limits.max_texts} per request"
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise RequestError(422, f"texts[{index}] must be a string, not {_json_type(text)}")
        if len(text) > limits.max_chars:
            raise RequestError(
                413,
                f"texts[{index}] has {len(text)} characters; limit {limits.max_chars} per text",
            )
    probs = payload.get("probs", False)
    if not isinstance(probs, bool):
        raise RequestError(422, f"'probs' must be true or false, not {_json_type(probs)}")
    return ScoreRequest(texts, probs)


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object with a key twice is refused: parsers differ on which value wins, so a proxy
    that checked one value could let the other through."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
