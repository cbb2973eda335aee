"""What the HTTP service admits: requests that arrive in time, and only so many at once.

A client that opens connections and sends half a request (slow headers, a body that
trickles or never comes) holds a connection and a parser for as long as it likes; so
every request must arrive whole, headers and body, within `request_read_s` of its
first byte (of the connection, or of the end of the previous response), or its
connection is closed. This is a bound of the HTTP protocol, below the app: uvicorn's
protocol class with a timer added (`bounded_protocol`).

Above that, `Admission` bounds the requests being served at once: beyond `limit`, a
request is answered at once with a 503 envelope instead of queueing without end.
`/healthz` is never refused, so a monitor still sees a busy service as alive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import Throttled

ALWAYS_ADMITTED = frozenset({"/healthz"})


class _ReadTimer:
    """The mixin: a connection's request must be read whole before the timer fires."""

    request_read_s: float = 30.0
    _read_timer: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(self.request_read_s, self._too_slow)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _too_slow(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets the same bound


class _HeadWithBody:
    """A response's transport that sends its head together with its body's first bytes.

    uvicorn writes the status line and headers as soon as the app starts its response,
    then the body: two sends, two wake-ups of the client for one answer, each send a
    system call made holding the interpreter lock (uvloop's writes do). The head waits
    for the body here, to the end of the event loop's current turn at the latest, so
    an app that starts a response and sends its body later still sends the head at once.
    """

    def __init__(self, transport: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._first = True

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif self._first:
            self._first, self._head = False, data
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())

    def __getattr__(self, name: str) -> Any:
        # Anything else a later uvicorn asks of the cycle's transport is the real one's.
        return getattr(self._transport, name)


def bounded_protocol(request_read_s: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools when installed, else h11) with the read bound
    (and, with httptools, a response's head sent with its body)."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol
    if hasattr(base, "on_message_complete"):  # httptools: a callback per parsed request

        class Bounded(_ReadTimer, base):  # type: ignore[misc]
            def on_headers_complete(self) -> None:
                before = self.cycle
                super().on_headers_complete()  # makes this request's cycle (not an upgrade's)
                if self.cycle is not before:
                    self.cycle.transport = _HeadWithBody(self.transport, self.loop)

            def on_message_complete(self) -> None:
                self._disarm()
                super().on_message_complete()

    else:  # h11: events; the request is whole once h11 says their side is done

        class Bounded(_ReadTimer, base):  # type: ignore[misc,no-redef]
            def handle_events(self) -> None:
                super().handle_events()
                import h11

                if self.conn.their_state is h11.DONE:
                    self._disarm()

    Bounded.request_read_s = float(request_read_s)
    return Bounded


class Admission:
    """At most `limit` requests served at once; the next gets a 503 envelope."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.serving = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ALWAYS_ADMITTED:
            await self.app(scope, receive, send)
            return
        if self.serving >= self.limit:
            await _busy(send, self.limit)
            return
        self.serving += 1  # one event loop: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.serving -= 1


async def _busy(send: Send, limit: int) -> None:
    error = Throttled(f"the service is serving {limit} requests, its limit: retry shortly")
    body = json.dumps({"exitcode": int(error.exit_code), "message": error.message,
                       "data": {}, "meta": {}}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine's loopback (where `serve` may listen without a token)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name may resolve to any address: treat it as public
