"""Tests for the loopback harness, each driven by a real boto3 EC2 client.

They pin down both the servers' behaviour and what botocore makes of it, so
a botocore upgrade that changes error mapping shows up here first.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import EC2QueryParser, ResponseParserError

from tests.harness import (
    CannedEC2Server,
    DroppingServer,
    FaultProxy,
    GarbageServer,
    HTTPHarnessServer,
    RefusingEndpoint,
    RequestHandler,
    SilentServer,
    SlowServer,
    describe_instances_xml,
    ec2_error_xml,
    empty_describe_instances_xml,
    free_port,
    instance_id,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ID_RE = re.compile(r"^i-[0-9a-f]{17}$")
ONE_ATTEMPT: dict[str, Any] = {"total_max_attempts": 1}
"""No retries.  Note ``{"max_attempts": 1}`` in a Config means ONE RETRY (two attempts)."""


def ec2_client(
    url: str,
    *,
    read_timeout: float = 1.0,
    retries: dict[str, Any] | None = None,
    pool: int = 10,
) -> EC2Client:
    """A real EC2 client aimed at a harness server, with dummy credentials."""
    config = Config(
        retries=retries or ONE_ATTEMPT,  # type: ignore[arg-type]
        connect_timeout=1,
        read_timeout=read_timeout,
        max_pool_connections=pool,
    )
    return boto3.client(
        "ec2",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=config,
    )


def raw_post(url: str, body: str, timeout: float = 2.0) -> tuple[int, dict[str, str], bytes]:
    """POST a form body with http.client to see exactly what a server sends."""
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def parse_ec2(body: bytes, operation: str, status: int = 200) -> dict[str, Any]:
    """Run botocore's own EC2 parser on a body, without any HTTP."""
    model = botocore.session.get_session().get_service_model("ec2")
    shape = model.operation_model(operation).output_shape
    assert shape is not None
    response = {"body": body, "headers": {}, "status_code": status}
    parsed: dict[str, Any] = EC2QueryParser().parse(response, shape)
    return parsed


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


@pytest.fixture(autouse=True)
def _no_leaked_server_threads() -> Iterator[None]:
    """Every test must stop its servers: no accept/connection threads may outlive it."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and t.name.endswith(("-accept", "-conn"))
    ]
    for thread in leaked:  # a loaded machine may take a moment to finish the join
        thread.join(5)
    assert not [t.name for t in leaked if t.is_alive()]


@pytest.fixture
def canned() -> Iterator[CannedEC2Server]:
    with CannedEC2Server(instances=50) as srv:
        yield srv


# --------------------------------------------------------------------------- lifecycle


def test_free_port_is_loopback_and_bindable() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_url_requires_start_and_start_stop_are_idempotent() -> None:
    srv = SilentServer()
    with pytest.raises(RuntimeError):
        _ = srv.url
    assert srv.start() is srv
    url = srv.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    srv.start()
    assert srv.url == url
    srv.stop()
    srv.stop()


def test_stop_closes_listener_and_idle_keepalive_connections(canned: CannedEC2Server) -> None:
    client = ec2_client(canned.url)
    client.describe_instances(MaxResults=5)
    with socket.create_connection(("127.0.0.1", canned.port), timeout=2) as idle:
        time.sleep(0.05)  # let the server thread pick the connection up
        started = time.monotonic()
        canned.stop()
        assert time.monotonic() - started < 5.0  # generous: the machine is shared
        assert idle.recv(1) == b""  # server side closed it
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", canned.port), timeout=1).close()


# --------------------------------------------------------------------------- faults


def test_refusing_endpoint_raises_endpoint_connection_error() -> None:
    with RefusingEndpoint() as srv:
        with pytest.raises(EndpointConnectionError):
            ec2_client(srv.url).describe_instances()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()


def test_silent_server_triggers_read_timeout_and_stops_promptly() -> None:
    with SilentServer() as srv:
        client = ec2_client(srv.url, read_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            client.describe_instances()
        assert time.monotonic() - started >= 0.5
        assert srv.requests_received == 1  # it did read the request
        started = time.monotonic()
    assert time.monotonic() - started < 5.0  # stop() released the held socket (not 300 s)


def test_slow_server_eventually_answers_valid_xml() -> None:
    with SlowServer(byte_delay=0.001) as srv:
        started = time.monotonic()
        result = ec2_client(srv.url).describe_instances()
        elapsed = time.monotonic() - started
    assert result["Reservations"] == []
    assert elapsed >= (len(srv.response_bytes()) - 1) * 0.001


def test_slow_server_with_long_gaps_trips_read_timeout() -> None:
    with SlowServer(byte_delay=1.0) as srv, pytest.raises(ReadTimeoutError):
        ec2_client(srv.url, read_timeout=0.3).describe_instances()


def test_dropping_server_truncates_body() -> None:
    """botocore disables urllib3's Content-Length check, so a short body reaches the parser."""
    with DroppingServer() as srv:
        with pytest.raises(ResponseParserError):
            ec2_client(srv.url).describe_instances()
        with pytest.raises(http.client.IncompleteRead):
            raw_post(srv.url, "Action=DescribeInstances")


def test_dropping_server_with_reset_raises_connection_closed() -> None:
    with DroppingServer(reset=True) as srv, pytest.raises(ConnectionClosedError):
        ec2_client(srv.url).describe_instances()


def test_truncation_after_complete_xml_goes_unnoticed_by_botocore() -> None:
    """Documented hazard: a short read that ends after the root element parses fine."""
    xml = empty_describe_instances_xml()
    with DroppingServer(body=xml + b" " * 64, send_bytes=len(xml)) as srv:
        result = ec2_client(srv.url).describe_instances()
    assert result["Reservations"] == []


@pytest.mark.parametrize("kind", ["malformed-xml", "html-500", "empty-200", "json-200"])
def test_garbage_server_yields_parser_errors(kind: str) -> None:
    with GarbageServer(kind) as srv, pytest.raises(ResponseParserError):
        ec2_client(srv.url).describe_instances()


def test_garbage_html_500_looks_like_flask() -> None:
    with GarbageServer("html-500") as srv:
        status, headers, body = raw_post(srv.url, "Action=DescribeInstances")
    assert status == 500
    assert headers["content-type"].startswith("text/html")
    assert body.startswith(b"<!doctype html>") and b"Internal Server Error" in body


def test_garbage_bare_html_502_is_a_generic_client_error() -> None:
    """Only bodies starting with ``<html>`` are recognised as generic 5xx pages."""
    with GarbageServer("html-502") as srv, pytest.raises(ClientError) as info:
        ec2_client(srv.url).describe_instances()
    assert error_code(info.value) == "502"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502


def test_garbage_server_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        GarbageServer("nonsense")


# --------------------------------------------------------------------------- fault proxy


def test_proxy_throttles_first_n_then_forwards(canned: CannedEC2Server) -> None:
    with FaultProxy(canned.url, fail_first=3) as proxy:
        client = ec2_client(proxy.url)
        for _ in range(3):
            with pytest.raises(ClientError) as info:
                client.describe_instances()
            assert error_code(info.value) == "RequestLimitExceeded"
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert info.value.response["Error"]["Message"] == "Request limit exceeded."
        result = client.describe_instances()
        assert sum(len(r["Instances"]) for r in result["Reservations"]) == 50
        assert (proxy.requests_seen, proxy.failures_sent, proxy.forwarded) == (4, 3, 1)
        assert proxy.actions_seen == ["DescribeInstances"] * 4
    assert canned.requests_served == 1


def test_proxy_fail_next_internal_error_once(canned: CannedEC2Server) -> None:
    with FaultProxy(canned.url) as proxy:
        client = ec2_client(proxy.url)
        client.describe_instances(MaxResults=5)
        proxy.fail_next(1, status=500, code="InternalError")
        with pytest.raises(ClientError) as info:
            client.stop_instances(InstanceIds=[instance_id(0)])
        assert error_code(info.value) == "InternalError"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        client.stop_instances(InstanceIds=[instance_id(0)])
        assert proxy.actions_seen == ["DescribeInstances", "StopInstances", "StopInstances"]
        assert (proxy.failures_sent, proxy.forwarded) == (1, 2)


def test_config_max_attempts_one_means_one_retry(canned: CannedEC2Server) -> None:
    """``retries={"max_attempts": 1}`` allows a retry: one throttle is absorbed."""
    with FaultProxy(canned.url, fail_first=1) as proxy:
        client = ec2_client(proxy.url, retries={"max_attempts": 1, "mode": "legacy"})
        result = client.describe_instances(MaxResults=5)
    assert result["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.requests_seen == 2


class _RecordingServer(HTTPHarnessServer):
    """Upstream that remembers request headers and bodies (shows harness extension)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[dict[str, str], bytes]] = []

    def respond(self, req: RequestHandler) -> None:
        self.seen.append((dict(req.headers.items()), req.body))
        req.send_body(200, empty_describe_instances_xml(), headers=[("X-Upstream", "yes")])


def test_proxy_forwards_signed_request_unchanged() -> None:
    sent: list[dict[str, str]] = []

    def capture(request: Any, **_: Any) -> None:
        sent.append(
            {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        )

    with _RecordingServer() as upstream, FaultProxy(upstream.url) as proxy:
        client = ec2_client(proxy.url)
        client.meta.events.register("before-send.ec2.DescribeInstances", capture)
        result = client.describe_instances(MaxResults=7)
    headers, body = upstream.seen[0]
    assert headers["Host"] == f"127.0.0.1:{proxy.port}"
    assert headers["Authorization"] == sent[0]["Authorization"]
    assert headers["X-Amz-Date"] == sent[0]["X-Amz-Date"]
    assert b"Action=DescribeInstances" in body and b"MaxResults=7" in body
    assert result["ResponseMetadata"]["HTTPHeaders"]["x-upstream"] == "yes"


def test_proxy_reports_dead_upstream_as_502() -> None:
    with RefusingEndpoint() as dead, FaultProxy(dead.url) as proxy:
        with pytest.raises(ClientError) as info:
            ec2_client(proxy.url).describe_instances()
        assert error_code(info.value) == "502"
        assert proxy.forwarded == 1


def test_proxy_stop_aborts_exchange_with_hung_upstream() -> None:
    with SilentServer() as upstream, FaultProxy(upstream.url) as proxy:
        with pytest.raises(ReadTimeoutError):
            ec2_client(proxy.url, read_timeout=0.3).describe_instances()
        started = time.monotonic()
        proxy.stop()  # the handler is still blocked reading from the silent upstream
        assert time.monotonic() - started < 5.0  # generous: the machine is shared


def test_proxy_counters_are_thread_safe(canned: CannedEC2Server) -> None:
    with FaultProxy(canned.url, fail_first=10) as proxy:
        client = ec2_client(proxy.url, pool=16)

        def call(_: int) -> bool:
            try:
                client.reboot_instances(InstanceIds=[instance_id(1)])
            except ClientError:
                return False
            return True

        with ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(call, range(40)))
        assert outcomes.count(False) == 10
        assert (proxy.requests_seen, proxy.failures_sent, proxy.forwarded) == (40, 10, 30)
        assert canned.served_by_action == {"RebootInstances": 30}


# --------------------------------------------------------------------------- canned EC2


def test_canned_paginates_2500_instances_in_three_pages() -> None:
    with CannedEC2Server(instances=2500, page_size=1000, detail="basic") as srv:
        pages = list(ec2_client(srv.url).get_paginator("describe_instances").paginate())
        assert srv.requests_served == 3
    ids = [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]
    assert [sum(len(r["Instances"]) for r in p["Reservations"]) for p in pages] == [1000, 1000, 500]
    assert len(ids) == len(set(ids)) == 2500
    assert all(ID_RE.match(i) for i in ids)


def test_canned_honors_max_results_and_groups_reservations() -> None:
    with CannedEC2Server(instances=50, per_reservation=3) as srv:
        paginator = ec2_client(srv.url).get_paginator("describe_instances")
        pages = list(paginator.paginate(PaginationConfig={"PageSize": 20}))
    reservations = [r for p in pages for r in p["Reservations"]]
    ids = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    assert len(pages) == 3 and ids == list(srv.instance_ids)
    assert max(len(r["Instances"]) for r in reservations) == 3
    assert "NextToken" not in pages[-1]


def test_canned_instance_records_are_realistic(canned: CannedEC2Server) -> None:
    inst = ec2_client(canned.url).describe_instances()["Reservations"][0]["Instances"][0]
    assert inst["InstanceId"] == instance_id(0) == canned.instance_ids[0]
    assert inst["State"] == {"Code": 16, "Name": "running"}
    assert inst["Placement"]["AvailabilityZone"] == "us-east-1a"
    assert inst["LaunchTime"].year == 2024
    assert {"Key": "Name", "Value": "bench-00000"} in inst["Tags"]
    for key in ("ImageId", "PrivateDnsName", "PublicDnsName", "PublicIpAddress", "SubnetId"):
        assert inst[key]
    assert inst["NetworkInterfaces"][0]["PrivateIpAddress"] == inst["PrivateIpAddress"]


def test_canned_describe_by_ids_and_id_errors(canned: CannedEC2Server) -> None:
    client = ec2_client(canned.url)
    wanted = [instance_id(7), instance_id(3)]
    result = client.describe_instances(InstanceIds=wanted)
    assert [i["InstanceId"] for r in result["Reservations"] for i in r["Instances"]] == wanted
    with pytest.raises(ClientError) as info:
        client.describe_instances(InstanceIds=["i-0123456789abcdef0"])
    assert error_code(info.value) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as info:
        client.describe_instances(InstanceIds=["bogus"])
    assert error_code(info.value) == "InvalidInstanceID.Malformed"


def test_canned_state_changes_echo_requested_ids(canned: CannedEC2Server) -> None:
    client = ec2_client(canned.url)
    ids = [instance_id(1), instance_id(2)]
    stopping = client.stop_instances(InstanceIds=ids)["StoppingInstances"]
    assert [s["InstanceId"] for s in stopping] == ids
    assert stopping[0]["CurrentState"]["Name"] == "stopping"
    assert stopping[0]["PreviousState"]["Name"] == "running"
    starting = client.start_instances(InstanceIds=ids)["StartingInstances"]
    assert [s["InstanceId"] for s in starting] == ids
    assert starting[1]["CurrentState"] == {"Code": 0, "Name": "pending"}
    terminating = client.terminate_instances(InstanceIds=ids[:1])["TerminatingInstances"]
    assert terminating[0]["CurrentState"]["Name"] == "shutting-down"
    reboot = client.reboot_instances(InstanceIds=ids)
    assert reboot["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_canned_rejects_unknown_actions_bad_tokens_and_dry_runs(canned: CannedEC2Server) -> None:
    client = ec2_client(canned.url)
    expectations: list[tuple[str, int]] = []
    for call in (
        lambda: client.describe_vpcs(),
        lambda: client.describe_instances(NextToken="not-a-token"),
        lambda: client.describe_instances(DryRun=True),
    ):
        with pytest.raises(ClientError) as info:
            call()
        meta = info.value.response["ResponseMetadata"]
        expectations.append((error_code(info.value), meta["HTTPStatusCode"]))
        assert ID_RE.sub("", meta["RequestId"]) != ""  # RequestID copied from the error body
    assert expectations == [
        ("InvalidAction", 400),
        ("InvalidParameterValue", 400),
        ("DryRunOperation", 412),
    ]


def test_canned_delay_is_per_request_and_adjustable(canned: CannedEC2Server) -> None:
    client = ec2_client(canned.url)
    canned.delay_ms = 100
    started = time.monotonic()
    client.describe_instances(MaxResults=5)
    delayed = time.monotonic() - started
    canned.delay_ms = 0
    started = time.monotonic()
    client.describe_instances(MaxResults=5)
    assert delayed >= 0.1 > time.monotonic() - started


def test_canned_delay_overlaps_across_32_concurrent_connections() -> None:
    with CannedEC2Server(instances=5, delay_ms=300) as srv:
        client = ec2_client(srv.url, pool=32)
        barrier = threading.Barrier(32)

        def call(_: int) -> int:
            barrier.wait(timeout=5)
            return len(client.describe_instances()["Reservations"])

        started = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            counts = list(pool.map(call, range(32)))
        elapsed = time.monotonic() - started
        assert counts == [5] * 32
        assert 0.3 <= elapsed < 6.0  # serial would take 9.6 s
        assert srv.requests_served == 32


def test_canned_keeps_connections_alive(canned: CannedEC2Server) -> None:
    client = ec2_client(canned.url)
    for _ in range(5):
        client.describe_instances(MaxResults=5)
    assert canned.connections_accepted == 1
    assert canned.requests_served == 5


def test_canned_pages_10000_instances_quickly() -> None:
    started = time.monotonic()
    with CannedEC2Server(instances=10_000) as srv:
        ids: list[str] = []
        token = ""
        for _ in range(10):
            form = "Action=DescribeInstances&Version=2016-11-15&MaxResults=1000"
            status, _, body = raw_post(srv.url, form + (f"&NextToken={token}" if token else ""))
            assert status == 200
            ids += re.findall(r"<instanceId>(i-[0-9a-f]{17})</instanceId>", body.decode())
            match = re.search(rb"<nextToken>([^<]+)</nextToken>", body)
            token = match.group(1).decode() if match else ""
    assert token == "" and len(set(ids)) == 10_000
    assert time.monotonic() - started < 10.0  # generous: the machine is shared


def test_canned_ids_are_deterministic() -> None:
    assert instance_id(0) == instance_id(0)
    first = CannedEC2Server(instances=100).instance_ids
    assert first == CannedEC2Server(instances=100).instance_ids
    assert len(set(first)) == 100 and all(ID_RE.match(i) for i in first)


# --------------------------------------------------------------------------- XML helpers


def test_describe_instances_xml_parses_with_botocore() -> None:
    parsed = parse_ec2(describe_instances_xml(4, per_reservation=2), "DescribeInstances")
    assert [len(r["Instances"]) for r in parsed["Reservations"]] == [2, 2]
    assert parsed["ResponseMetadata"]["RequestId"]


def test_error_xml_parses_with_botocore() -> None:
    body = ec2_error_xml("RequestLimitExceeded", "Request limit exceeded.", "req-123")
    parsed = parse_ec2(body, "DescribeInstances", status=503)
    assert parsed["Error"] == {"Code": "RequestLimitExceeded", "Message": "Request limit exceeded."}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-123"


# --------------------------------------------------------------------------- warm CLI


def test_a_warm_run_answers_as_a_cold_one(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Output, exit code and what stdin gives are the same, forked warm or started cold."""
    import json

    from tests.harness.cli import clean_env, run_cli

    env = clean_env(tmp_path)
    cases: list[tuple[tuple[str, ...], str | None]] = [
        (("call", "stop-instances", "instance-id=i-bad"), None),
        (("call", "--request", "-", "--dry-run"), json.dumps({"action": "no-such-action"})),
        (("--version",), None),
    ]
    answers = {}
    for cold in ("", "1"):
        monkeypatch.setenv("COLD_CLI", cold)
        answers[cold] = [
            (r.returncode, re.sub(r'"duration-ms": \d+', "", r.stdout), r.stderr)
            for r in (run_cli(env, *args, stdin=stdin) for args, stdin in cases)]
    assert answers[""] == answers["1"]
    assert [code for code, _, _ in answers[""]] == [2, 2, 0]


def test_a_warm_run_reads_its_own_environment_and_is_cut_at_its_timeout(tmp_path: Any) -> None:
    import os
    import subprocess

    from tests.harness.cli import clean_env
    from tests.harness.faults import SilentServer
    from tests.harness.warm import zygote

    env = {**clean_env(tmp_path), "EC2_CONNECTOR_CONFIG": str(tmp_path / "missing.json")}
    result = zygote().run(["call", "describe-instances"], env, None, subprocess.PIPE, 60)
    assert result.returncode == 2 and "missing.json" in result.stderr, result.stderr
    assert "EC2_CONNECTOR_CONFIG" not in os.environ
    with SilentServer() as silent:
        began = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            zygote().run(["call", "describe-instances", f"endpoint-url={silent.url}",
                          "--timeout", "60000"], clean_env(tmp_path), None, subprocess.PIPE, 1)
        assert time.monotonic() - began < 30
