"""A request's header block and a bytes body leave in one send (transport/connections.py),
on a real loopback socket: the server's first read holds the whole request."""

from __future__ import annotations

import socket
import threading
from typing import Any

from ec2_connector.transport.connections import HeldHTTPConnection

BODY = b"Action=DescribeInstances&Version=2016-11-15"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def first_reads(headers: dict[str, Any], rounds: int = 20) -> list[bytes]:
    """The server's first `recv` of each of `rounds` requests, made as soon as the
    request's first bytes arrive (a body sent after the headers is not in it yet)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    seen: list[bytes] = []

    def serve() -> None:
        for _ in range(rounds):
            conn, _ = server.accept()
            with conn:
                first = conn.recv(65536)
                seen.append(first)
                rest = first
                while not rest.endswith(BODY):  # the rest, if it came apart
                    rest += conn.recv(65536)
                conn.sendall(ANSWER)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        for _ in range(rounds):
            conn = HeldHTTPConnection("127.0.0.1", port)
            conn.request("POST", "/", body=BODY, headers=headers)
            assert conn.getresponse().data == b"ok"
            conn.close()
    finally:
        thread.join(10)
        server.close()
    return seen


def test_the_headers_and_a_bytes_body_arrive_in_one_read() -> None:
    seen = first_reads({"Content-Type": "application/x-www-form-urlencoded"})
    assert all(first.startswith(b"POST / HTTP/1.1\r\n") and first.endswith(b"\r\n\r\n" + BODY)
               for first in seen), [first[-60:] for first in seen]


def test_headers_awaiting_a_100_continue_go_alone() -> None:
    # The client waits for the server's 100 (here: in vain, a second) before the body.
    seen = first_reads({"Expect": b"100-continue"}, rounds=2)  # botocore sets bytes
    assert all(first.endswith(b"\r\n\r\n") for first in seen), seen
