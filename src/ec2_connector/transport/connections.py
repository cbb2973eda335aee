"""HTTP connections that a call can cut at its deadline.

botocore's read timeout bounds each `recv`, not a request: a server that trickles a
byte at a time, or sends a body that never ends, holds the calling thread for as long
as it likes. So every connection a call uses is held by the call's `Context` from the
moment it connects or sends until urllib3 takes it back into its pool, and a call that
is abandoned at its deadline shuts down the sockets it holds: the blocked `recv` returns
at once, botocore's retry asks the before-send hook, and the hook sends nothing more.

The connection classes are botocore's own, with two methods wrapped; they are installed
in a client's HTTP session by swapping the pool classes that session hands to urllib3
(`install`). That dict is botocore's private attribute: if a botocore release renames
it, `install` fails loudly at the first client build and the tests say so.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)

from .current import current

_MIN_CONNECT_S = 0.05  # a connect given less than this would fail before a SYN left


class _Held:
    """The wrapped methods: a connection is held by the call that connects or sends on it."""

    timeout: Any

    def connect(self) -> None:
        ctx = current()
        if ctx is None:
            super().connect()  # type: ignore[misc]
            return
        _hold(ctx, self)
        # A black hole never answers the SYN: the connect itself must end by the
        # deadline, since there is no socket to shut down until it returns.
        remaining = max(_MIN_CONNECT_S, ctx.deadline.remaining())
        if not isinstance(self.timeout, int | float) or self.timeout > remaining:
            self.timeout = remaining
        super().connect()  # type: ignore[misc]
        if ctx.abandoned:  # abandoned while connecting: there was no socket to cut then
            cut(self)
            raise ConnectionAbortedError("the call was abandoned at its deadline")

    def request(self, *args: Any, **kwargs: Any) -> None:
        ctx = current()
        if ctx is not None:
            _hold(ctx, self)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _hold(ctx: Any, conn: Any) -> None:
    if not ctx.hold(conn):
        raise ConnectionAbortedError("the call was abandoned at its deadline")


class HeldHTTPConnection(_Held, AWSHTTPConnection):  # type: ignore[misc]
    pass


class HeldHTTPSConnection(_Held, AWSHTTPSConnection):  # type: ignore[misc]
    pass


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
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
