"""Hostile loopback servers that imitate a misbehaving EC2 endpoint.

Each server binds ``127.0.0.1`` on a kernel-chosen port, exposes ``.url`` and
supports ``start()`` / ``stop()`` / ``with``.  They exist so tests and
benchmarks can reproduce network failures (refused, silent, slow, truncated,
garbage, throttled) deterministically, without AWS and without mocking
botocore internals.

This module also holds the shared plumbing (:class:`LoopbackServer`,
:class:`HTTPHarnessServer`, :class:`RequestHandler`, EC2 XML helpers) that
:mod:`tests.harness.canned` builds on.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import socketserver
import ssl
import sys
import threading
import time
import uuid
from abc import ABC, abstractmethod
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self, cast
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"
EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"
XML_CONTENT_TYPE = "text/xml;charset=UTF-8"
STOP_TIMEOUT = 2.0
"""Upper bound, in seconds, for joining threads in ``stop()``."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers a proxy must not relay (RFC 9110 section 7.6.1); we re-frame bodies ourselves."""


# --------------------------------------------------------------------------- XML helpers


def new_request_id() -> str:
    """Return a fresh request id; EC2 uses a UUID, botocore copies it to ResponseMetadata."""
    return str(uuid.uuid4())


def xml_escape(text: str) -> str:
    """Escape text for an XML element body (stdlib ``html.escape`` also quotes ``'``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ec2_error_xml(code: str, message: str, request_id: str | None = None) -> bytes:
    """Render an EC2 Query error document exactly as EC2 does.

    Note the ``RequestID`` spelling (capital ``ID``): botocore's EC2 parser
    special-cases it, unlike the ``RequestId`` of the plain Query protocol.
    """
    rid = request_id or new_request_id()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{xml_escape(code)}</Code>"
        f"<Message>{xml_escape(message)}</Message></Error></Errors>"
        f"<RequestID>{rid}</RequestID></Response>"
    ).encode()


def ec2_response_xml(action: str, inner: str | bytes, request_id: str | None = None) -> bytes:
    """Wrap ``inner`` in ``<{Action}Response>`` with the EC2 namespace and a requestId.

    ``inner`` may be bytes so multi-megabyte pages are joined, never re-encoded.
    """
    rid = request_id or new_request_id()
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{action}Response xmlns="{EC2_NAMESPACE}"><requestId>{rid}</requestId>'
    )
    body = inner.encode() if isinstance(inner, str) else inner
    return b"".join((head.encode(), body, f"</{action}Response>".encode()))


def empty_describe_instances_xml() -> bytes:
    """A valid DescribeInstances answer with no reservations (the default slow body)."""
    return ec2_response_xml("DescribeInstances", "<reservationSet/>")


def http_response_bytes(
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    *,
    content_length: int | None = None,
    reason: str | None = None,
) -> bytes:
    """Serialize a complete HTTP/1.1 response so faulty servers control every byte.

    ``content_length`` lets a caller lie about the body size (truncation tests).
    """
    phrase = reason if reason is not None else http.client.responses.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {phrase}"]
    all_headers = list(headers or [])
    names = {name.lower() for name, _ in all_headers}
    if "date" not in names:
        all_headers.append(("Date", formatdate(usegmt=True)))
    if "server" not in names:
        all_headers.append(("Server", "AmazonEC2"))
    length = len(body) if content_length is None else content_length
    all_headers.append(("Content-Length", str(length)))
    lines.extend(f"{name}: {value}" for name, value in all_headers)
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body


# --------------------------------------------------------------------------- lifecycle base


class LoopbackServer(ABC):
    """Common lifecycle: ``start()`` binds, ``stop()`` releases, ``with`` does both.

    ``start()`` returns ``self`` so ``srv = X().start()`` works in fixtures.
    """

    @property
    @abstractmethod
    def port(self) -> int:
        """The bound TCP port; raises if the server was never started."""

    @property
    def url(self) -> str:
        """Endpoint URL to hand to ``boto3.client(..., endpoint_url=...)``."""
        return f"http://{HOST}:{self.port}"

    @abstractmethod
    def start(self) -> Self:
        """Bind and begin serving."""

    @abstractmethod
    def stop(self) -> None:
        """Release every socket and thread; idempotent and bounded in time."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port() -> int:
    """Return a loopback port that was free a moment ago (racy: prefer RefusingEndpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class RefusingEndpoint(LoopbackServer):
    """A URL where connections are refused.

    Rather than trusting that a just-freed port stays free, it keeps a socket
    *bound but never listening* on the port: Linux answers SYNs to such a
    port with RST (ECONNREFUSED) and nobody else can grab the port meanwhile.
    """

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The reserved port; readable after ``stop()`` (it is then merely likely refused)."""
        if self._port is None:
            raise RuntimeError("RefusingEndpoint was never started")
        return self._port

    def start(self) -> Self:
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            self._sock, self._port = sock, int(sock.getsockname()[1])
        return self

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


# --------------------------------------------------------------------------- HTTP plumbing


class _ThreadedHTTPServer(HTTPServer):
    """HTTPServer with one daemon thread per connection that it can tear down.

    ``socketserver.ThreadingMixIn`` either joins threads without a timeout or
    forgets them, and never tracks client sockets; ``stop()`` needs both to
    close idle keep-alive connections and join within a bound.
    """

    request_queue_size = 1024  # default 5 drops SYNs when 32 clients connect at once (200 here)
    allow_reuse_address = True

    def __init__(self, harness: HTTPHarnessServer, handler: type[RequestHandler]) -> None:
        self.harness = harness
        self.stopping = threading.Event()
        self.connections_accepted = 0
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        super().__init__((HOST, 0), handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS ``getfqdn`` call, which can stall."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve each connection in its own daemon thread, remembering both."""
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"{type(self.harness).__name__}-conn",
            daemon=True,
        )
        with self._lock:
            self._conns[request] = thread
            self.connections_accepted += 1
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._lock:
                self._conns.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that vanish; those are the point of this harness."""
        if not self.stopping.is_set() and not _is_disconnect():
            super().handle_error(request, client_address)

    def close_all_connections(self, deadline: float) -> None:
        """Wake blocked handlers by shutting their sockets, join, then close."""
        with self._lock:
            conns = dict(self._conns)
        for sock in conns:
            _quiet_shutdown(sock)
        for thread in conns.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        for sock in conns:
            sock.close()


def _is_disconnect() -> bool:
    """True when the exception being handled is a socket error (client went away)."""
    return isinstance(sys.exc_info()[1], OSError)


def _quiet_shutdown(sock: socket.socket) -> None:
    """shutdown(2) both directions, ignoring already-closed sockets."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that hands each request to ``harness.respond``.

    It reads the body (by Content-Length) up front so every server really
    "reads the request", and offers helpers to write exact or broken responses.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # slow server must emit single bytes, not clumps
    body: bytes = b""

    @property
    def harness(self) -> HTTPHarnessServer:
        """The owning harness server object (not the socketserver)."""
        return cast(_ThreadedHTTPServer, self.server).harness

    @property
    def stopping(self) -> threading.Event:
        """Set when the server is stopping; wait on it instead of ``time.sleep``."""
        return cast(_ThreadedHTTPServer, self.server).stopping

    def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if ``stop()`` interrupted (then stop answering)."""
        return self.stopping.wait(seconds)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr logging."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.harness.note_request()
        self.harness.respond(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def params(self) -> dict[str, str]:
        """Query-protocol parameters from the query string and form body (body wins)."""
        query = urlsplit(self.path).query
        pairs = parse_qsl(query, keep_blank_values=True)
        if self.body:
            pairs += parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return dict(pairs)

    def write_raw(self, data: bytes) -> None:
        """Send bytes unbuffered, straight to the socket."""
        self.connection.sendall(data)

    def forward(self, port: int, timeout: float = 10) -> tuple[int, bytes]:
        """This request sent on to a server on 127.0.0.1:`port` (a proxy's upstream, as
        it came: method, path, headers, body); its answer's status and body."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=self.body, headers=headers)
            upstream = conn.getresponse()
            return upstream.status, upstream.read()
        finally:
            conn.close()

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = XML_CONTENT_TYPE,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """Send a well-formed response with an exact Content-Length (keeps the connection)."""
        all_headers = [("Content-Type", content_type), *(headers or [])]
        self.write_raw(http_response_bytes(status, body, all_headers))

    def drop(self, *, reset: bool = False) -> None:
        """Close the connection now; ``reset`` sends RST (SO_LINGER 0) instead of FIN."""
        self.close_connection = True
        if reset:
            linger = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        else:
            _quiet_shutdown(self.connection)
        self.rfile.close()  # drop the makefile() reference so close() really closes
        self.connection.close()


class HTTPHarnessServer(LoopbackServer):
    """Threaded HTTP/1.1 loopback server; subclasses implement :meth:`respond`."""

    handler_class: ClassVar[type[RequestHandler]] = RequestHandler
    tls: ssl.SSLContext | None = None
    """Set before ``start()`` to serve HTTPS with this server-side context."""

    def __init__(self) -> None:
        self._httpd: _ThreadedHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._count_lock = threading.Lock()
        self._requests_received = 0

    @property
    def port(self) -> int:
        """Bound port; still readable after ``stop()`` so tests can assert it is closed."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} was never started")
        return self._port

    @property
    def requests_received(self) -> int:
        """Requests whose headers and body were fully read."""
        with self._count_lock:
            return self._requests_received

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (shows whether clients keep connections alive)."""
        return 0 if self._httpd is None else self._httpd.connections_accepted

    def note_request(self) -> None:
        """Count a received request (called by the handler, any thread)."""
        with self._count_lock:
            self._requests_received += 1

    def start(self) -> Self:
        if self._httpd is None:
            self._httpd = _ThreadedHTTPServer(self, self.handler_class)
            if self.tls is not None:  # the handshake runs in the accepting thread
                self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
            self._port = int(self._httpd.server_address[1])
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}-accept",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(max(0.0, deadline - time.monotonic()))
        httpd.close_all_connections(deadline)
        self._httpd = self._thread = None

    @abstractmethod
    def respond(self, req: RequestHandler) -> None:
        """Answer (or refuse to answer) one fully-read request."""


# --------------------------------------------------------------------------- hostile servers


class SilentServer(HTTPHarnessServer):
    """Reads each request and never answers, holding the socket until ``stop()``.

    Reproduces a hung backend: the client's read timeout must fire.
    """

    def respond(self, req: RequestHandler) -> None:
        req.stopping.wait()
        req.close_connection = True


class CaptureServer(HTTPHarnessServer):
    """A hostile endpoint that keeps everything it is sent: headers, body, path.

    It answers every request with an empty DescribeInstances, so a caller may go on as
    if it had talked to EC2; tests read ``captured`` to prove what reached it (or that
    nothing did: a credential, a session token, user data).
    """

    def __init__(self) -> None:
        super().__init__()
        self._captured: list[tuple[str, dict[str, str], bytes]] = []
        self._captured_lock = threading.Lock()

    @property
    def captured(self) -> list[tuple[str, dict[str, str], bytes]]:
        with self._captured_lock:
            return list(self._captured)

    def everything(self) -> bytes:
        """All captured paths, headers and bodies as one searchable blob."""
        return b"\n".join(
            path.encode() + b"\n" + repr(headers).encode() + b"\n" + body
            for path, headers, body in self.captured
        )

    def respond(self, req: RequestHandler) -> None:
        with self._captured_lock:
            self._captured.append((req.path, dict(req.headers.items()), req.body))
        req.send_body(200, empty_describe_instances_xml())


class SlowServer(HTTPHarnessServer):
    """Sends a valid 200 EC2 response one byte at a time.

    Every byte arrives well within a per-read timeout, so it tests total-time
    deadlines (which botocore does not have) rather than read timeouts.
    ``byte_delay`` may be changed while running.
    """

    def __init__(self, body: bytes | None = None, byte_delay: float = 0.05) -> None:
        super().__init__()
        self.body = empty_describe_instances_xml() if body is None else body
        self.byte_delay = byte_delay

    def response_bytes(self) -> bytes:
        """The exact bytes (status line, headers, body) trickled for one request."""
        return http_response_bytes(200, self.body, [("Content-Type", XML_CONTENT_TYPE)])

    def respond(self, req: RequestHandler) -> None:
        data = self.response_bytes()
        for i in range(len(data)):
            req.write_raw(data[i : i + 1])
            if req.pause(self.byte_delay):
                req.close_connection = True
                return


class EndlessBodyServer(HTTPHarnessServer):
    """Answers 200 with the start of a DescribeInstances body that never ends.

    The headers announce a body far larger than anyone reads; ``chunk`` bytes follow
    every ``interval`` seconds until the client goes away or ``stop()``. Every read
    succeeds at once, so no read timeout ever fires: only a deadline ends it.
    """

    def __init__(self, chunk: int = 1024, interval: float = 0.01) -> None:
        super().__init__()
        self.chunk = chunk
        self.interval = interval

    def respond(self, req: RequestHandler) -> None:
        head = http_response_bytes(200, b"", [("Content-Type", XML_CONTENT_TYPE)],
                                   content_length=10**12)
        opening = f'<DescribeInstancesResponse xmlns="{EC2_NAMESPACE}"><reservationSet>'
        filler = b"<item/>" * (self.chunk // 7 + 1)
        try:
            req.write_raw(head + opening.encode())
            while not req.pause(self.interval):
                req.write_raw(filler[: self.chunk])
        except OSError:
            pass  # the client cut the connection: that is what this server waits for
        req.close_connection = True


class BlackHoleServer(RefusingEndpoint):
    """A port that listens but never accepts, its backlog full: SYNs go unanswered.

    ``start()`` fills the backlog with connections of its own (one, on Linux, for a
    backlog of 0), so that every client's connect hangs from the first: only a bound on
    the connect itself ends it. The filling connections are closed by ``stop()``.
    """

    FILL_WAIT_S = 0.2
    """How long a connect may take before the backlog counts as full."""

    def __init__(self) -> None:
        super().__init__()
        self._fillers: list[socket.socket] = []

    def start(self) -> Self:
        fresh = self._sock is None
        super().start()
        if fresh and self._sock is not None:
            self._sock.listen(0)
            self._fill()
        return self

    def _fill(self) -> None:
        for _ in range(64):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((HOST, self.port))
            _, ready, _ = select.select([], [sock], [], self.FILL_WAIT_S)
            if not ready:  # this SYN went unanswered: the backlog is full
                sock.close()
                return
            self._fillers.append(sock)
        raise RuntimeError("the black hole's backlog never filled")

    def stop(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._fillers = []
        super().stop()


class MuteServer(RefusingEndpoint):
    """A port that listens but never accepts, with room in its backlog: the kernel
    completes every TCP handshake, and then nothing is ever read or answered.

    Behind an ``https://`` URL it is a TLS handshake that never ends; before a Redis
    client, a broker that accepts and never answers.
    """

    BACKLOG = 128

    def start(self) -> Self:
        fresh = self._sock is None
        super().start()
        if fresh and self._sock is not None:
            self._sock.listen(self.BACKLOG)
        return self


class ThrottlingServer(HTTPHarnessServer):
    """Answers every request 503 ``RequestLimitExceeded``, as EC2 does when throttling.

    ``retry_after_ms`` adds ``x-amz-retry-after``, which botocore honours (up to 5 s
    past its own backoff) before the next attempt: the retry phase of a call, where only
    a deadline-bounded backoff keeps the call on time.
    """

    def __init__(self, retry_after_ms: int | None = None) -> None:
        super().__init__()
        self.retry_after_ms = retry_after_ms

    def respond(self, req: RequestHandler) -> None:
        headers = ([] if self.retry_after_ms is None
                   else [("x-amz-retry-after", str(self.retry_after_ms))])
        body = ec2_error_xml("RequestLimitExceeded", DEFAULT_MESSAGES["RequestLimitExceeded"])
        req.send_body(503, body, headers=headers)


class DroppingServer(HTTPHarnessServer):
    """Announces a full body, sends only part of it, then closes mid-body.

    ``send_bytes`` defaults to half of ``body``; ``reset=True`` aborts with
    RST instead of FIN (``ConnectionResetError`` rather than a short read).
    """

    def __init__(
        self, body: bytes | None = None, send_bytes: int | None = None, *, reset: bool = False
    ) -> None:
        super().__init__()
        self.body = empty_describe_instances_xml() if body is None else body
        self.send_bytes = len(self.body) // 2 if send_bytes is None else send_bytes
        if not 0 <= self.send_bytes < len(self.body):
            raise ValueError("send_bytes must be smaller than the body")
        self.reset = reset

    def respond(self, req: RequestHandler) -> None:
        full = http_response_bytes(200, self.body, [("Content-Type", XML_CONTENT_TYPE)])
        head_len = len(full) - len(self.body)
        req.write_raw(full[: head_len + self.send_bytes])
        req.pause(0.01)  # let the partial body reach the client before an RST could flush it
        req.drop(reset=self.reset)


WERKZEUG_500_HTML = (
    "<!doctype html>\n"
    "<html lang=en>\n"
    "<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n"
    "<p>The server encountered an internal error and was unable to complete your request."
    " Either the server is overloaded or there is an error in the application.</p>\n"
)
"""Flask/werkzeug's stock 500 page, byte for byte."""


class GarbageServer(HTTPHarnessServer):
    """Answers every request with a fixed broken payload chosen by ``kind``.

    Kinds (see :attr:`KINDS`): ``malformed-xml`` (200, truncated XML),
    ``html-500`` (Flask's 500 page, text/html), ``html-502`` (a bare
    ``<html>`` proxy page botocore treats as a generic error), ``empty-200``
    (200 with no body), ``json-200`` (200 with a JSON body).
    """

    KINDS: ClassVar[dict[str, tuple[int, str, bytes]]] = {
        "malformed-xml": (
            200,
            XML_CONTENT_TYPE,
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<DescribeInstancesResponse xmlns="' + EC2_NAMESPACE.encode() + b'">'
            b"<requestId>0f3e-broken</requestId><reservationSet><item>"
            b"<reservationId>r-0123456789abcdef0</reservationId><instancesSet><item>"
            b"<instanceId>i-0123456789abcdef0</instanceId></item></instancesSet>"
            b"</reservationSet></DescribeInstancesRespons",
        ),
        "html-500": (500, "text/html; charset=utf-8", WERKZEUG_500_HTML.encode()),
        "html-502": (
            502,
            "text/html",
            b"<html><body><b>Http/1.1 Bad Gateway</b></body></html>",
        ),
        "empty-200": (200, XML_CONTENT_TYPE, b""),
        "json-200": (200, "application/json", b'{"Reservations": []}'),
    }

    def __init__(self, kind: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(self.KINDS)}")
        super().__init__()
        self.kind = kind

    def respond(self, req: RequestHandler) -> None:
        status, content_type, body = self.KINDS[self.kind]
        req.send_body(status, body, content_type)


# --------------------------------------------------------------------------- fault proxy

DEFAULT_MESSAGES = {
    "RequestLimitExceeded": "Request limit exceeded.",
    "InternalError": "An internal error has occurred.",
    "Unavailable": "The server is overloaded and can't handle the request.",
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
}


class _ProxyHandler(RequestHandler):
    """Keeps one upstream connection per client connection, so keep-alive survives the proxy."""

    upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        cast(FaultProxy, self.harness).close_upstream(self)
        super().finish()


class FaultProxy(HTTPHarnessServer):
    """Reverse proxy that injects EC2 errors for the next N requests, then forwards.

    Forwarding is byte-faithful for method, path, headers (including the
    original ``Host`` and ``Authorization``, since SigV4 signs ``Host``) and
    body, so signed requests stay valid upstream.  Each client connection gets
    its own upstream keep-alive connection.  An unreachable upstream yields a
    bare ``<html>`` 502 (botocore: ClientError code "502").  Counters are
    thread-safe.
    """

    handler_class = _ProxyHandler

    def __init__(
        self,
        upstream_url: str,
        *,
        fail_first: int = 0,
        status: int = 503,
        code: str = "RequestLimitExceeded",
        message: str | None = None,
        upstream_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream_url!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._fail_left = 0
        self._status, self._code, self._message = 503, "", ""
        self._page: bytes | None = None
        self.fail_next(fail_first, status, code, message)
        self._seen = self._failures = self._forwarded = 0
        self._actions: list[str] = []
        self._upstreams: set[http.client.HTTPConnection] = set()

    # counters ---------------------------------------------------------------
    @property
    def requests_seen(self) -> int:
        """All requests received, failed or forwarded."""
        with self._lock:
            return self._seen

    @property
    def failures_sent(self) -> int:
        """Requests answered with an injected error."""
        with self._lock:
            return self._failures

    @property
    def forwarded(self) -> int:
        """Requests relayed to the upstream (including ones that then failed upstream)."""
        with self._lock:
            return self._forwarded

    @property
    def actions_seen(self) -> list[str]:
        """``Action=`` of every request in arrival order ('' when absent); a copy."""
        with self._lock:
            return list(self._actions)

    def fail_next(
        self,
        n: int,
        status: int = 503,
        code: str = "RequestLimitExceeded",
        message: str | None = None,
        *,
        page: bytes | None = None,
    ) -> None:
        """Make the next ``n`` requests fail (replaces any pending failure budget).

        ``message`` defaults per code, e.g. "Request limit exceeded." for
        RequestLimitExceeded and "An internal error has occurred." for InternalError.
        ``page``: send this body as text/html instead of EC2's error XML (a proxy's page).
        """
        with self._lock:
            self._fail_left = n
            self._status, self._code = status, code
            self._message = message or DEFAULT_MESSAGES.get(code, code)
            self._page = page

    # upstream connections ---------------------------------------------------
    def stop(self) -> None:
        """Abort in-flight upstream exchanges first so handler threads can be joined."""
        with self._lock:
            upstreams = list(self._upstreams)
        for conn in upstreams:
            if conn.sock is not None:
                _quiet_shutdown(conn.sock)
        super().stop()

    def _open_upstream(self, req: _ProxyHandler) -> http.client.HTTPConnection:
        if req.upstream is None:
            req.upstream = http.client.HTTPConnection(
                self.upstream_host, self.upstream_port, timeout=self.upstream_timeout
            )
            with self._lock:
                self._upstreams.add(req.upstream)
        return req.upstream

    def close_upstream(self, req: _ProxyHandler) -> None:
        """Close and forget this client connection's upstream connection, if any."""
        conn, req.upstream = req.upstream, None
        if conn is not None:
            conn.close()
            with self._lock:
                self._upstreams.discard(conn)

    # request path -----------------------------------------------------------
    def respond(self, req: RequestHandler) -> None:
        fault = self._take_fault(req.params().get("Action", ""))
        if fault is not None:
            status, body, content_type = fault
            req.send_body(status, body, content_type)
            return
        self._forward(cast(_ProxyHandler, req))

    def _take_fault(self, action: str) -> tuple[int, bytes, str] | None:
        """Record the request; consume one unit of failure budget if any is left."""
        with self._lock:
            self._seen += 1
            self._actions.append(action)
            if self._fail_left <= 0:
                self._forwarded += 1
                return None
            self._fail_left -= 1
            self._failures += 1
            status, code, message, page = self._status, self._code, self._message, self._page
        if page is not None:
            return status, page, "text/html"
        return status, ec2_error_xml(code, message), XML_CONTENT_TYPE

    def _forward(self, req: _ProxyHandler) -> None:
        try:
            resp, body = self._exchange(req)
        except (OSError, http.client.HTTPException) as exc:
            self.close_upstream(req)
            text = f"<html><body><b>Http/1.1 Bad Gateway</b> {xml_escape(str(exc))}</body></html>"
            req.send_body(502, text.encode(), "text/html")
            return
        headers = [(k, v) for k, v in resp.getheaders() if _relayable(k)]
        req.write_raw(http_response_bytes(resp.status, body, headers, reason=resp.reason))
        if resp.will_close:
            self.close_upstream(req)

    def _exchange(self, req: _ProxyHandler) -> tuple[http.client.HTTPResponse, bytes]:
        """Send the request upstream, retrying once if a reused connection went stale."""
        reused = req.upstream is not None
        try:
            return self._send_once(req)
        except ConnectionError:  # includes http.client.RemoteDisconnected
            if not reused:
                raise
            self.close_upstream(req)
            return self._send_once(req)

    def _send_once(self, req: _ProxyHandler) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self._open_upstream(req)
        conn.putrequest(req.command, req.path, skip_host=True, skip_accept_encoding=True)
        for name, value in req.headers.items():
            if _relayable(name):
                conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(req.body)))
        conn.endheaders(req.body)
        resp = conn.getresponse()
        return resp, resp.read()


def _relayable(header: str) -> bool:
    """Drop hop-by-hop headers and Content-Length (we re-frame the body)."""
    name = header.lower()
    return name not in HOP_BY_HOP and name != "content-length"
