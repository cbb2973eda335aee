"""The service stays available: hostile endpoints behind one connector starve no other,
half-sent requests are closed after the read bound, and beyond its request limit the
service answers 503 at once while /healthz keeps answering."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import MotoServer
from tests.harness import EndlessBodyServer, SilentServer
from tests.harness.service import ServiceProcess

READ_S = 2
MAX_REQUESTS = 120
SLACK_S = 3.0  # generous: a shared machine


def connector(url: str) -> dict[str, Any]:
    return {"access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": "test-secret-key-value",
            "region": "us-east-1", "endpoint-url": url}


@pytest.fixture(scope="module")
def hostile() -> Iterator[dict[str, str]]:
    with EndlessBodyServer() as endless, SilentServer() as silent:
        yield {"endless": endless.url, "silent": silent.url}


@pytest.fixture(scope="module")
def service(moto_server: MotoServer, hostile: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # A small bound for the hostile connectors, so that "not sent" is certain even when a
    # loaded machine spreads the hostile calls' arrival over seconds.
    hostile_connectors = {name: {**connector(url), "max-in-flight": 8}
                          for name, url in hostile.items()}
    config = {"connectors": {"healthy": connector(moto_server.url), **hostile_connectors}}
    env = {"EC2_CONNECTOR_REQUEST_READ_TIMEOUT": str(READ_S),
           "EC2_CONNECTOR_MAX_REQUESTS": str(MAX_REQUESTS)}
    with ServiceProcess(tmp_path_factory.mktemp("availability"), config, env=env) as running:
        yield running


async def calls(url: str, name: str, count: int, timeout_ms: int,
                started: asyncio.Event | None = None) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        body = {"action": "describe-instances", "timeout": timeout_ms}
        tasks = [asyncio.ensure_future(client.post(f"/v1/connectors/{name}/sync", json=body))
                 for _ in range(count)]
        if started is not None:
            started.set()
        return list(await asyncio.gather(*tasks))


def test_an_endless_endpoint_starves_no_other_connector(service: ServiceProcess,
                                                        endpoint: str) -> None:
    # `endpoint`: a clean account (another file's 500 instances made each healthy answer
    # 3 MB, and 50 of them outlasted their timeout on a loaded machine).
    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response], float]:
        hung = asyncio.ensure_future(calls(service.url, "endless", 64, 4000))
        await asyncio.sleep(1.0)  # the hostile calls are in flight
        started = time.monotonic()
        healthy = await calls(service.url, "healthy", 50, 10_000)
        return await hung, healthy, time.monotonic() - started

    hung, healthy, took = asyncio.run(scenario())
    assert [r.json()["exitcode"] for r in healthy] == [0] * 50, healthy[0].text
    assert {r.json()["exitcode"] for r in hung} == {3}
    assert any(r.json()["message"].startswith("not sent") for r in hung)
    assert took < 10.0


def _open(url: str, first: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(first)
    return sock


def _closed_at(sock: socket.socket, trickle: bytes, until: float) -> float:
    """Send `trickle` a byte at a time until the service closes the connection; when."""
    sock.settimeout(0.2)
    for byte in trickle * 1000:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic()
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic()
        if time.monotonic() > until:
            break
        try:
            sock.send(bytes([byte]))
        except OSError:
            return time.monotonic()
    return float("inf")


@pytest.mark.parametrize("kind", ["slow-headers", "slow-body"])
def test_half_sent_requests_are_closed_and_healthz_answers(
    service: ServiceProcess, kind: str
) -> None:
    head = b"POST /v1/connectors/healthy/sync HTTP/1.1\r\nHost: x\r\n"
    if kind == "slow-body":
        head += b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{"
    opened = time.monotonic()
    socks = [_open(service.url, head) for _ in range(40)]
    try:
        assert httpx.get(service.url + "/healthz", timeout=5).status_code == 200
        until = time.monotonic() + READ_S + SLACK_S
        trickle = b"X-Slow: y\r\n" if kind == "slow-headers" else b" "
        closed = [_closed_at(sock, trickle, until) - opened for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert max(closed) < READ_S + SLACK_S, f"still open after {max(closed):.1f} s"
    assert min(closed) > READ_S / 2  # the configured bound, not some other timeout
    assert httpx.get(service.url + "/healthz", timeout=5).status_code == 200


def test_beyond_its_limit_the_service_answers_503_and_healthz_still_200(
    service: ServiceProcess,
) -> None:
    async def scenario() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        started = asyncio.Event()
        held = asyncio.ensure_future(calls(service.url, "silent", MAX_REQUESTS, 3000, started))
        await started.wait()
        await asyncio.sleep(1.0)  # every one of them is being served
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            refused = await client.post("/v1/connectors/healthy/sync",
                                        json={"action": "describe-instances"})
            health = await client.get("/healthz")
        return await held, refused, health

    held, refused, health = asyncio.run(scenario())
    assert refused.status_code == 503
    body = refused.json()
    assert body["exitcode"] == 7 and f"serving {MAX_REQUESTS} requests" in body["message"]
    assert refused.headers["retry-after"] == "1"
    assert health.status_code == 200
    assert {r.json()["exitcode"] for r in held} == {3}


def test_the_service_reads_its_limits_from_settings() -> None:
    from ec2_connector import Settings

    settings = Settings.from_env({"EC2_CONNECTOR_REQUEST_READ_TIMEOUT": "7",
                                  "EC2_CONNECTOR_MAX_REQUESTS": "9"})
    assert (settings.request_read_s, settings.max_requests) == (7, 9)
    assert (Settings().request_read_s, Settings().max_requests) == (30, 256)


def _answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP answer read off `sock`: its head and its body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"!closed"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536) or b"!closed"
    return head, body


def test_an_answer_comes_whole_and_100_continue_is_not_held(service: ServiceProcess,
                                                            endpoint: str) -> None:
    """The head of an answer waits for its body (one write): it must never wait longer,
    neither a 100 Continue nor the answers that follow on a kept-alive connection."""
    body = b'{"action": "describe-instances"}'
    head = (b"POST /v1/connectors/healthy/sync HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body))
    sock = _open(service.url, head + b"Expect: 100-continue\r\n\r\n")
    try:
        sock.settimeout(10)
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue\r\n")  # before the body
        sock.sendall(body)
        for request in (None, head + b"\r\n" + body, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"):
            if request is not None:
                sock.sendall(request)
            status, answer = _answer(sock)
            assert status.startswith(b"HTTP/1.1 200 "), status
            assert json.loads(answer).get("exitcode", 0) == 0
    finally:
        sock.close()
