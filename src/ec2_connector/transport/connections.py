"""HTTP connections that a call can cut at its deadline.

botocore's read timeout bounds each `recv`, not a request: a server that trickles a
byte at a time, or sends a body that never ends, holds the calling thread for as long
as it likes. So every connection a call uses is held by the call's `Context` from the
moment it connects or sends until urllib3 takes it back into its pool, and a call that
is abandoned at its deadline shuts down the sockets it holds: the blocked `recv` returns
at once, botocore's retry asks the before-send hook, and the hook sends nothing more.

The cut comes from the watchdog's thread, which must first win the interpreter lock:
with hundreds of threads reading at once it may win it late. So no phase waits for it.
A connect, and each send, is given no longer than the call has left (kernel timeouts);
the before-send hook does the same for each request's reads; and the thread reading an
answer checks the deadline itself before every read from the socket (`DeadlineResponse`),
so a body that never ends stops at the deadline on the thread that reads it.

The connection classes are botocore's own, with a few methods wrapped and the response
class replaced; they are installed in a client's HTTP session by swapping the pool
classes that session hands to urllib3 (`install`). That dict is botocore's private
attribute: if a botocore release renames it, `install` fails loudly at the first client
build and the tests say so.
"""

from __future__ import annotations

import contextlib
import io
import socket
import ssl
import threading
import time
import weakref
from typing import Any

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPResponse,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)

from .current import current

_MIN_CONNECT_S = 0.05  # a connect given less than this would fail before a SYN left
# An answer is read through a buffer this big: a page of a describe (~4 KB an instance)
# arrives in one or two reads, not one per 8 KB (io's default), each a poll and a recv.
READ_BUFFER = 64 * 1024


class _Held:
    """The wrapped methods: a connection is held by the call that connects or sends on it."""

    timeout: Any
    # While connecting: a second handle on the TCP socket, so that a cut can end a TLS
    # handshake (ssl takes the first one over, and the connection has no `sock` yet).
    connecting: socket.socket | None = None

    def connect(self) -> None:
        ctx = current()
        if ctx is None:
            super().connect()  # type: ignore[misc]
            return
        _hold(ctx, self)
        # A black hole never answers the SYN: the connect itself must end by the
        # deadline, since there is no socket to shut down until it returns. (A TLS
        # handshake runs under the same timeout, which the work done between the two,
        # such as loading the CA bundle, leaves late: the watchdog cuts it on time.)
        self._bound(ctx)
        try:
            super().connect()  # type: ignore[misc]
        finally:
            handle, self.connecting = self.connecting, None
            if handle is not None:
                handle.close()
        if ctx.abandoned:  # abandoned while connecting: there was no socket to cut then
            cut(self)
            raise ConnectionAbortedError("the call was abandoned at its deadline")

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        if current() is not None:
            self.connecting = sock.dup()
        return sock

    def request(self, method: str, url: str, body: Any = None, headers: Any = None,
                **kwargs: Any) -> None:
        ctx = current()
        if ctx is not None:
            _hold(ctx, self)
            self._bound(ctx)  # urllib3 gives a reused socket this timeout for the send
        # urllib3 sends the header block and then the body: two sends, each a poll and a
        # syscall with the interpreter lock let go. A body of bytes (every EC2 query) goes
        # out with the headers in one; not where the server is to answer 100-continue
        # between the two.
        self._joining = isinstance(body, bytes) and bool(body) and not _expects_continue(
            headers)
        try:
            super().request(method, url, body, headers, **kwargs)  # type: ignore[misc]
        finally:
            held, self._joining, self._header_block = self._header_block, False, None
        if held is not None:  # no body followed after all: the headers go alone
            super().send(held)  # type: ignore[misc]

    _joining = False
    _header_block: bytes | None = None

    def send(self, data: Any) -> None:
        if self._joining:
            if self._header_block is None:
                self._header_block = data  # the first send of a request: its headers
                return
            data, self._joining, self._header_block = self._header_block + data, False, None
        super().send(data)  # type: ignore[misc]

    def _bound(self, ctx: Any) -> None:
        remaining = max(_MIN_CONNECT_S, ctx.deadline.remaining())
        if not isinstance(self.timeout, int | float) or self.timeout > remaining:
            self.timeout = remaining


def _expects_continue(headers: Any) -> bool:
    value = (headers or {}).get("Expect", b"")
    return (value.decode() if isinstance(value, bytes) else str(value)).lower() == "100-continue"


def _hold(ctx: Any, conn: Any) -> None:
    if not ctx.hold(conn):
        raise ConnectionAbortedError("the call was abandoned at its deadline")


class DeadlineResponse(AWSHTTPResponse):
    """An answer read on the calling thread, which checks its call's deadline before
    every read from the socket (a few hundred nanoseconds a read)."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("status_tuple", None)  # botocore's: none, the status is read
        super().__init__(sock, *args, **kwargs)
        ctx = current()
        if ctx is not None:
            self.fp = io.BufferedReader(_DeadlineReads(self.fp, ctx), READ_BUFFER)


class _DeadlineReads(io.RawIOBase):
    """The raw socket reads under a buffered answer, refused once the call is over."""

    def __init__(self, buffered: Any, ctx: Any) -> None:
        super().__init__()
        self._buffered = buffered  # nothing is read yet: its buffer is empty
        self._raw = buffered.raw
        self._ctx = ctx
        self._expires_at = ctx.deadline.expires_at

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        if self._ctx.abandoned or time.monotonic() >= self._expires_at:
            # A timeout, as the socket's own would be: urllib3 and botocore make it a
            # read timeout, which the call reports as having timed out.
            raise TimeoutError("the call's deadline passed while reading the answer")
        return self._raw.readinto(buffer)  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self.closed:
            self._buffered.close()  # gives the socket's file reference back
        super().close()


class HeldHTTPConnection(_Held, AWSHTTPConnection):  # type: ignore[misc]
    response_class = DeadlineResponse


class HeldHTTPSConnection(_Held, AWSHTTPSConnection):  # type: ignore[misc]
    response_class = DeadlineResponse
    ca_certs: str | None
    ca_cert_dir: str | None
    ca_cert_data: Any
    ssl_context: ssl.SSLContext | None

    def connect(self) -> None:
        # botocore names its CA bundle for every connection, and urllib3 loads it again
        # into the client's one SSL context each time: ~0.1 s of CPU a new connection,
        # before the handshake and past any timeout (20 at once on 2 cores: a second).
        # The context keeps what it loaded, so each bundle is loaded into it once.
        bundle, context = self.ca_certs, self.ssl_context
        if (bundle is None or context is None or self.ca_cert_dir or self.ca_cert_data
                or not _load_once(context, bundle)):
            super().connect()
            return
        self.ca_certs = None
        try:
            super().connect()
        finally:
            self.ca_certs = bundle


_loaded: weakref.WeakKeyDictionary[ssl.SSLContext, set[str]] = weakref.WeakKeyDictionary()
_loading = threading.Lock()


def _load_once(context: ssl.SSLContext, bundle: str) -> bool:
    """Load `bundle` into `context` unless it already was; False if it cannot be (then
    urllib3 tries, and reports the failure as it always has)."""
    with _loading:
        done = _loaded.setdefault(context, set())
        if bundle not in done:
            try:
                context.load_verify_locations(bundle)
            except OSError:
                return False
            done.add(bundle)
    return True


class _ReturnsHeld:
    def _put_conn(self, conn: Any) -> None:
        # Given back before it is pooled: from here on another call may take it, and an
        # abandon of the call that held it must not cut it.
        owner = getattr(conn, "held_by", None)
        if owner is not None:
            owner.let_go(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class HeldHTTPPool(_ReturnsHeld, AWSHTTPConnectionPool):
    ConnectionCls = HeldHTTPConnection


class HeldHTTPSPool(_ReturnsHeld, AWSHTTPSConnectionPool):
    ConnectionCls = HeldHTTPSConnection


def install(client: Any) -> None:
    """Make `client`'s HTTP session open held connections (see the module's docstring)."""
    session = client._endpoint.http_session
    pools = session._pool_classes_by_scheme  # shared with its pool managers, by reference
    pools["http"] = HeldHTTPPool
    pools["https"] = HeldHTTPSPool


def cut(conn: Any) -> None:
    """Shut down a connection's socket, waking whatever thread is blocked on it."""
    for sock in (getattr(conn, "sock", None), getattr(conn, "connecting", None)):
        if sock is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing to wake
                sock.shutdown(socket.SHUT_RDWR)
