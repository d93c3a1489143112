"""Bounds on connections, below the app: how long reading a request may take, how many
connections may be open.

uvicorn bounds neither: a client that sends its headers or body one byte every few
seconds holds its connection (and its slot) forever, and `limit_concurrency` only answers
once a request's headers have arrived. `guarded_protocol` subclasses uvicorn's h11
protocol with both bounds:
- every request must arrive whole (headers and body) within `read_timeout_s` of its first
  byte, or of the connection's opening: else 408 and the connection is closed;
- a connection beyond `max_connections` gets 503 to its first request and is closed.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _error_body(status: int, kind: str, message: str) -> bytes:
    """The app's error shape (jaroberta.service.schemas.ErrorResponse)."""
    return json.dumps({"error": {"status": status, "type": kind, "message": message, "details": None}}).encode()


def _raw_response(status: int, reason: str, kind: str, message: str) -> bytes:
    """A whole response written straight to the socket, for when no request cycle can answer."""
    body = _error_body(status, kind, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _GuardedH11Protocol(H11Protocol):
    read_timeout_s: float
    max_connections: int

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._read_deadline = None
        if len(self.connections) > self.max_connections:
            # Answer the first request (not the bare connection: closing a socket with an
            # unread request resets it, and the client would see no answer at all).
            self.app = self._refuse
        self._watch_reading()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_reading()

    def connection_lost(self, exc) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_reading()

    async def _refuse(self, scope, receive, send) -> None:
        message = f"the server has {self.max_connections} connections open already; retry shortly"
        body = _error_body(503, "overloaded", message)
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"), (b"retry-after", b"1")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # -- the read deadline --------------------------------------------------------------
    def _reading(self) -> bool:
        """Whether a request is on its way: not yet whole, and not between requests."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return True
        # IDLE: a new connection, or a keep-alive one. uvicorn times out an idle keep-alive
        # connection itself (its timer runs while no byte of the next request arrived), but
        # not one whose next request came in part, pipelined behind the last one.
        return state is h11.IDLE and (self.timeout_keep_alive_task is None or bool(self.conn.trailing_data[0]))

    def _watch_reading(self) -> None:
        if self.transport.is_closing() or not self._reading():
            self._stop_deadline()
        elif self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_timed_out)

    def _stop_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answering = cycle is not None and cycle.response_started and (
            not cycle.response_complete or self.conn.their_state is h11.SEND_BODY
        )
        if not answering:
            message = (
                f"the request did not arrive within {self.read_timeout_s:g} s; send headers and body at once"
            )
            self.transport.write(_raw_response(408, "Request Timeout", "request_timeout", message))
        self.transport.close()


def guarded_protocol(read_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a read deadline per request and a cap on connections
    (pass as `uvicorn.Config(http=...)`)."""
    return type(
        "GuardedH11Protocol", (_GuardedH11Protocol,),
        {"read_timeout_s": read_timeout_s, "max_connections": max_connections},
    )
