"""The server's HTTP connections: uvicorn's h11 protocol with what a service facing load
balancers, slow clients and attackers needs, and uvicorn leaves out or answers in plain text.

- Malformed HTTP that h11 refuses (two Content-Length headers, TLS bytes, a NUL in a header)
  and a request framed two ways (Content-Length beside chunked Transfer-Encoding: the shape
  of request smuggling, which h11 would accept) get a JSON 400, oversized headers a JSON
  431, and the connection is closed.
- Timeouts: a request's head must arrive within `header_timeout_s` of the connection opening
  (or of its first byte, on a kept-alive connection), its body within `body_timeout_s` of
  the head (408 JSON, then close); a kept-alive connection idle for `keep_alive_s` is closed.
  uvicorn bounds only the idle time, so without these a slowloris holds sockets forever.
- At most `max_connections` connections are open; one more is closed as soon as it is
  accepted, so no flood of idle sockets can exhaust the process's file descriptors.
- Drain (SIGTERM): uvicorn stops accepting, lets requests in progress finish, and closes
  idle keep-alive connections at once, resetting any request a client had just written on
  one. Here an idle connection gets `DRAIN_IDLE_S` more to deliver such a request, and every
  answer given while draining says `Connection: close` (`Draining`, read by app.Gate), so
  a client learns to stop before the connection closes rather than after.

It subclasses uvicorn's H11Protocol (uvicorn.Config(http=...)), so it depends on that class's
attributes; tests/test_serve_hostile.py exercises each rule over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from reviewscore.serve.app import Draining
from reviewscore.serve.limits import ConnectionSettings

log = logging.getLogger("reviewscore.serve")

# How long an idle keep-alive connection may still deliver a request once draining starts:
# a request a client wrote just before it heard of the shutdown is in flight for about one
# network round trip.
DRAIN_IDLE_S = 1.0
# The request line and headers together, at most (h11's own default buffer bound).
MAX_HEADER_BYTES = 16 * 1024
CAP_WARNING_EVERY_S = 10.0


def framing_problem(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why a request head h11 accepted is still refused, or None."""
    names = [name for name, _ in headers]
    if b"content-length" in names and b"transfer-encoding" in names:
        return "both Content-Length and Transfer-Encoding given; send one of them"
    size = sum(len(name) + len(value) + 4 for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return f"the headers are {size} bytes; limit {MAX_HEADER_BYTES} bytes"
    return None


class CheckedConnection(h11.Connection):
    """h11's server-side parser, which also refuses `framing_problem` heads, keeps the last
    error (so the 400 can say what was wrong) and reports where each request's head and
    body end (for the timeouts)."""

    def __init__(self, on_head: Callable[[], None], on_end: Callable[[], None]) -> None:
        super().__init__(h11.SERVER, MAX_HEADER_BYTES)
        self.on_head = on_head
        self.on_end = on_end
        self.refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        if isinstance(event, h11.Request):
            problem = framing_problem(list(event.headers))
            if problem is not None:
                status = 431 if problem.startswith("the headers") else 400
                self.refusal = h11.RemoteProtocolError(problem, status)
                raise self.refusal
            self.on_head()
        elif isinstance(event, h11.EndOfMessage):
            self.on_end()
        return event


class ServeProtocol(H11Protocol):
    """uvicorn's h11 protocol with the rules above. `settings` and `draining` are bound per
    server by `protocol_class`."""

    settings: ClassVar[ConnectionSettings] = ConnectionSettings()
    draining: ClassVar[Draining] = Draining()
    _last_cap_warning: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = CheckedConnection(self._on_head, self._on_end)
        self._deadline: asyncio.TimerHandle | None = None

    # --- connections: the cap, and the head's deadline from the start

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.settings.max_connections:
            self._warn_cap()
            self.transport.close()
            return
        self._arm(self.settings.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _warn_cap(self) -> None:
        now = time.monotonic()
        if now - ServeProtocol._last_cap_warning >= CAP_WARNING_EVERY_S:
            ServeProtocol._last_cap_warning = now
            log.warning(
                "%d connections open (--max-connections): closing new ones until some end",
                self.settings.max_connections,
            )

    # --- timeouts

    def data_received(self, data: bytes) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm(self.settings.header_timeout_s, self._head_timed_out)  # a new request
        super().data_received(data)

    def _on_head(self) -> None:
        self._arm(self.settings.body_timeout_s, self._body_timed_out)

    def _on_end(self) -> None:
        self._disarm()

    def _arm(self, seconds: float, handler: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]:
            self.transport.close()  # a connection that never sent a byte: nothing to answer
            return
        self._answer(408, f"the request head did not arrive within {self._seconds('header')}")

    def _body_timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if self.transport.is_closing():
            return
        if cycle is None or cycle.response_started:
            self.transport.close()
            return
        # The app waits for the body: it hears the client went away, and its answer is dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        self._answer(408, f"the request body did not arrive within {self._seconds('body')}")

    def _seconds(self, which: str) -> str:
        seconds = getattr(self.settings, f"{which}_timeout_s")
        return f"{seconds:g} s (--timeout-{which})"

    # --- malformed requests: JSON, not uvicorn's plain text

    def send_400_response(self, msg: str) -> None:
        refusal = self.conn.refusal
        status = refusal.error_status_hint if refusal is not None else 400
        reason = str(refusal) if refusal is not None else msg
        if status == 431 and not reason.startswith("the headers"):  # h11's buffer bound
            reason = f"the request line and headers are over {MAX_HEADER_BYTES} bytes; "
            reason += f"limit {MAX_HEADER_BYTES} bytes"
        self._answer(status, f"malformed HTTP request: {reason}")

    def _answer(self, status: int, message: str) -> None:
        """A JSON error, then close (the rest of what the client sends is not read)."""
        body = json.dumps({"error": message, "status": status}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        try:
            events = [
                h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ]
            for event in events:
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:  # h11 cannot answer in this state: just close
            pass
        self.transport.close()

    # --- drain

    def shutdown(self) -> None:
        """Called by uvicorn on SIGTERM, for each open connection."""
        self.draining.active = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # answered (with Connection: close), then closed
            return
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            return  # part of a request is here: the head's deadline bounds the rest
        # Idle: a request may be on its way; close once none came for DRAIN_IDLE_S.
        self._unset_keepalive_if_required()
        linger = min(self.settings.keep_alive_s, DRAIN_IDLE_S)
        self.timeout_keep_alive_task = self.loop.call_later(linger, self.timeout_keep_alive_handler)


def protocol_class(settings: ConnectionSettings, draining: Draining) -> type[ServeProtocol]:
    """ServeProtocol bound to one server's settings and drain flag (uvicorn instantiates
    the class itself, once per connection)."""
    return type("ServeProtocol", (ServeProtocol,), {"settings": settings, "draining": draining})
