"""The connector against hostile endpoints on loopback: every fault is an exitcode, never a trace.

Each test points a `Call` at one of the harness servers (tests/harness/faults.py), or at a
FaultProxy in front of the moto endpoint, and checks the exitcode, the message, the time
taken (generous bounds: this machine is shared) and what the server saw.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call, RequestBuilder, Response, Runtime, Settings
from ec2_connector.transport import xmlstream
from tests.conftest import launch
from tests.harness import (
    CaptureServer,
    DroppingServer,
    FaultProxy,
    GarbageServer,
    RefusingEndpoint,
    SilentServer,
    SlowServer,
    describe_instances_xml,
)
from tests.harness.faults import (
    WERKZEUG_500_HTML,
    XML_CONTENT_TYPE,
    HTTPHarnessServer,
    RequestHandler,
)

TIMEOUT_MS = 1000
MARGIN_MS = 1500  # generous: the aim is ~100 ms, measured in docs/benchmarks.md
TRACE_MARKERS = ("Traceback", 'File "', "ResponseParserError", "botocore.", "Error(")


def builder(url: str, *, max_attempts: int = 3, runtime: Runtime | None = None
            ) -> RequestBuilder:
    """A describe-instances request aimed at `url`, with test credentials."""
    config = {
        "connectors": {
            "aws-ec2": {
                "access-key": "AKIAFAULTTESTS000000",
                "security-key": "fault-test-secret-key",
                "endpoint-url": url,
                "max-attempts": max_attempts,
            }
        }
    }
    return (Call(config=config, runtime=runtime).connector("aws-ec2")
            .set("action", "describe-instances"))


def timed(request: RequestBuilder) -> tuple[Response, float]:
    """Run the request; return the response and the wall time in ms."""
    started = time.monotonic()
    response = request.sync()
    return response, (time.monotonic() - started) * 1000


def assert_clean_message(response: Response) -> None:
    """No traceback or Python exception text anywhere in what a script sees."""
    shown = json.dumps(response.to_dict(), default=str)
    for marker in TRACE_MARKERS:
        assert marker not in shown, f"{marker!r} in {response.message!r}"
    assert response.message.strip()


@pytest.fixture
def refused() -> Iterator[RefusingEndpoint]:
    with RefusingEndpoint() as srv:
        yield srv


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as srv:
        yield srv


@pytest.fixture
def proxy(endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(endpoint) as srv:
        yield srv


# --------------------------------------------------------------------------- connection faults


def test_refused_is_unreachable_and_fast(refused: RefusingEndpoint) -> None:
    response, elapsed = timed(builder(refused.url, max_attempts=5))
    assert response.exitcode == 4, response.message
    assert "unreachable" in response.message
    assert elapsed < 5000
    assert_clean_message(response)


def test_silent_server_times_out_on_time(silent: SilentServer) -> None:
    response, elapsed = timed(builder(silent.url).timeout(TIMEOUT_MS))
    assert response.exitcode == 3, response.message
    assert f"timed out after {TIMEOUT_MS} ms" in response.message
    assert TIMEOUT_MS * 0.9 <= elapsed < TIMEOUT_MS + MARGIN_MS
    assert_clean_message(response)


def test_abandoned_call_sends_nothing_more(silent: SilentServer) -> None:
    builder(silent.url, max_attempts=5).timeout(500).sync()
    time.sleep(1.5)  # past the abandoned request's read timeout, when botocore would retry
    assert silent.requests_received == 1


def test_slow_body_longer_than_the_timeout_times_out() -> None:
    with SlowServer(byte_delay=0.02) as srv:
        assert len(srv.response_bytes()) * 0.02 > 3 * TIMEOUT_MS / 1000
        response, elapsed = timed(builder(srv.url).timeout(TIMEOUT_MS))
    assert response.exitcode == 3, response.message
    assert elapsed < TIMEOUT_MS + MARGIN_MS
    assert_clean_message(response)


def test_slow_body_within_the_timeout_succeeds() -> None:
    with SlowServer(byte_delay=0.001) as srv:
        response, _ = timed(builder(srv.url).timeout(10_000))
    assert response.exitcode == 0, response.message
    assert response.get("instances-info") == []


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_dropped_mid_body_is_unreachable(reset: bool) -> None:
    body = describe_instances_xml(5)
    with DroppingServer(body, len(body) // 2, reset=reset) as srv:
        response, elapsed = timed(builder(srv.url).timeout(10_000))
    assert response.exitcode == 4, response.message
    assert "broke" in response.message or "incomplete" in response.message
    assert elapsed < 5000
    assert_clean_message(response)


def test_answers_read_against_the_deadline_keep_the_connection_alive() -> None:
    """Each answer is read through a reader that checks the call's deadline; once read,
    the connection goes back to the pool as before and the next call reuses it."""
    with CaptureServer() as srv:
        request = builder(srv.url, runtime=Runtime(Settings())).timeout(5000)
        answers = [request.sync() for _ in range(5)]
        accepted = srv.connections_accepted
    assert [a.exitcode for a in answers] == [0] * 5, answers[0].message
    assert accepted == 1


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def _over_tls(certificate: tuple[Path, Path], calls: int) -> tuple[list[Response], int, int]:
    """`calls` describes at once (so several connections) to an HTTPS endpoint: the
    answers, the connections it accepted, the requests it received."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = CaptureServer()
    server.tls = context
    with server:
        request = builder(server.url.replace("http:", "https:"), max_attempts=1,
                          runtime=Runtime(Settings()))
        with ThreadPoolExecutor(calls) as pool:
            answers = list(pool.map(lambda _: request.sync(), range(calls)))
        return answers, server.connections_accepted, len(server.captured)


def test_tls_certificates_are_checked_on_every_connection(
    certificate: tuple[Path, Path],
) -> None:
    """The CA bundle is loaded once per client (not once per connection): every
    connection is still verified against it, and an unknown certificate is refused."""
    answers, _, received = _over_tls(certificate, 4)
    assert [a.exitcode for a in answers] == [4] * 4, answers[0].message
    assert "TLS failure" in answers[0].message
    assert received == 0  # nothing was sent over an unverified connection


def test_tls_with_a_trusted_bundle_succeeds_on_every_connection(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certificate[0]))
    answers, accepted, received = _over_tls(certificate, 4)
    assert [a.exitcode for a in answers] == [0] * 4, answers[0].message
    assert accepted >= 2  # the bundle, loaded once, served more than one connection
    assert received == 4


# --------------------------------------------------------------------------- fan-out


def test_a_fan_out_failure_names_the_connector_and_the_region() -> None:
    """Why: over `connectors`, a failure named the region only ("us-east-1: timed out"
    for connector `silent`), which every connector shares."""
    keys = {"access-key": "AKIAFAULTTESTS000000", "security-key": "fault-test-secret-key",
            "region": "eu-west-1", "max-attempts": 1}
    with CaptureServer() as good, SilentServer() as silent, RefusingEndpoint() as down:
        config = {"connectors": {"good": {**keys, "endpoint-url": good.url},
                                 "silent": {**keys, "endpoint-url": silent.url},
                                 "down": {**keys, "endpoint-url": down.url}}}
        partial = (Call(config=config).connector("good").set("action", "describe-instances")
                   .set("connectors", ["good", "silent"]).timeout(TIMEOUT_MS).sync())
        failed = (Call(config=config).connector("down").set("action", "describe-instances")
                  .set("connectors", ["down", "silent"]).timeout(TIMEOUT_MS).sync())
    assert partial.exitcode == 8, partial.message
    assert partial.message.startswith("1 of 2 calls failed: silent in eu-west-1: timed out")
    assert failed.exitcode in (3, 4), failed.message
    assert failed.message.startswith("every call failed: down in eu-west-1: ")
    assert "; silent in eu-west-1: timed out" in failed.message
    assert_clean_message(failed)


# --------------------------------------------------------------------------- garbage answers


@pytest.mark.parametrize("kind", ["malformed-xml", "html-500", "empty-200", "json-200"])
def test_garbage_is_a_service_error_with_a_clear_message(kind: str) -> None:
    with GarbageServer(kind) as srv:
        response, _ = timed(builder(srv.url))
    assert response.exitcode == 1, response.message
    assert "not an EC2 response" in response.message
    assert_clean_message(response)


class CutBigPage(HTTPHarnessServer):
    """A DescribeInstances page of 800 instances (~3.2 MB) cut two thirds of the way in,
    inside an instance, sent whole with its length: big enough to be streamed
    (xmlstream.STREAM_FROM_BYTES), broken after hundreds of items were converted."""

    def __init__(self) -> None:
        super().__init__()
        page = describe_instances_xml(800)
        self.body = page[: len(page) * 2 // 3]

    def respond(self, req: RequestHandler) -> None:
        req.send_body(200, self.body, XML_CONTENT_TYPE)


def test_a_big_page_cut_short_is_a_service_error_as_a_small_one_is() -> None:
    with CutBigPage() as srv:
        assert len(srv.body) >= xmlstream.STREAM_FROM_BYTES
        response, _ = timed(builder(srv.url))
        items: list[Any] = []
        streamed, _ = timed(builder(srv.url).on_item(items.append))
    for answer in (response, streamed):
        assert answer.exitcode == 1, answer.message
        assert "not an EC2 response" in answer.message
        assert answer.get("instances-info") in (None, [])
        assert_clean_message(answer)
    assert items == []  # nothing handed on from a page that did not parse


@pytest.mark.parametrize(("action", "params", "member"), [
    ("create-launch-template", {"launch-template-name": "web", "image-id":
                                "ami-0123456789abcdef0", "instance-type": "t3.micro"},
     "LaunchTemplate"),
    ("modify-volume", {"volume-id": "vol-0123456789abcdef0", "size": 20},
     "VolumeModification"),
])
def test_an_answer_without_its_result_is_a_service_error_naming_what_is_missing(
    action: str, params: dict[str, Any], member: str
) -> None:
    """Why: the 10,000-request fuzz found an answer lacking `LaunchTemplate` ending as
    "unexpected failure: AttributeError", its traceback logged at ERROR."""
    with CaptureServer() as srv:  # well-formed EC2 XML, but a DescribeInstances answer
        request = builder(srv.url).set("action", action)
        for key, value in params.items():
            request.set(key, value)
        response = request.sync()
    assert response.exitcode == 1, response.message
    assert "unexpected failure" not in response.message
    assert member in response.message
    assert_clean_message(response)


def test_html_500_names_the_status() -> None:
    with GarbageServer("html-500") as srv:
        response, _ = timed(builder(srv.url))
    assert response.exitcode == 1
    assert "HTTP 500" in response.message
    assert response.http_status == 500


def test_html_502_is_a_service_error_naming_the_status() -> None:
    with GarbageServer("html-502") as srv:
        response, _ = timed(builder(srv.url))
    assert response.exitcode == 1, response.message
    assert "502" in response.message
    assert_clean_message(response)


PROXY_PAGES = {
    "doctype-html": WERKZEUG_500_HTML.encode(),
    "plain-text": b"Service Unavailable\n",
    "html-fragment": b"<h1>Bad gateway</h1><p>upstream <b>reset</p>",
}


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "botocore-parser"])
@pytest.mark.parametrize(("page", "status"), [("doctype-html", 500), ("plain-text", 503),
                                              ("html-fragment", 502)])
def test_a_proxy_page_on_a_5xx_is_retried_like_any_transient_error(
    proxy: FaultProxy, page: str, status: int, compiled: bool
) -> None:
    """Why: botocore takes only a 5xx page starting `<html>` as a generic error; a page
    starting `<!doctype html>`, plain text or an HTML fragment failed as unparseable XML,
    never retried."""
    runtime = Runtime(Settings(compiled_parser=compiled))
    proxy.fail_next(1, status, page=PROXY_PAGES[page])
    response, _ = timed(builder(proxy.url, runtime=runtime))
    assert response.exitcode == 0, response.message
    assert response.meta["attempts"] == 2
    assert (proxy.failures_sent, proxy.forwarded) == (1, 1)

    proxy.fail_next(5, status, page=PROXY_PAGES[page])
    response, _ = timed(builder(proxy.url, max_attempts=3, runtime=runtime))
    assert response.exitcode == 1, response.message
    assert response.message == (f"the endpoint answered HTTP {status} "
                                f"({HTTPStatus(status).phrase}) with a body that is not an "
                                "EC2 response")
    assert response.meta["attempts"] == 3
    assert (proxy.failures_sent, proxy.forwarded) == (4, 1)
    assert_clean_message(response)


def test_a_proxy_page_on_a_4xx_is_not_retried(proxy: FaultProxy) -> None:
    proxy.fail_next(5, 403, page=PROXY_PAGES["doctype-html"])
    response, _ = timed(builder(proxy.url, max_attempts=3))
    assert response.exitcode == 1, response.message
    assert "not an EC2 response" in response.message and "HTTP 403" in response.message
    assert (proxy.requests_seen, proxy.forwarded) == (1, 0)
    assert_clean_message(response)


# --------------------------------------------------------------------------- throttling, retries


def test_throttled_twice_then_succeeds(proxy: FaultProxy) -> None:
    proxy.fail_next(2, 503, "RequestLimitExceeded")
    response, _ = timed(builder(proxy.url, max_attempts=5))
    assert response.exitcode == 0, response.message
    assert response.meta["attempts"] == 3
    assert (proxy.failures_sent, proxy.forwarded) == (2, 1)


def test_throttled_beyond_the_budget_is_exitcode_7(proxy: FaultProxy) -> None:
    proxy.fail_next(10, 503, "RequestLimitExceeded")
    response, _ = timed(builder(proxy.url, max_attempts=3))
    assert response.exitcode == 7, response.message
    assert "RequestLimitExceeded" in response.message
    assert response.meta["attempts"] == 3
    assert (proxy.requests_seen, proxy.forwarded) == (3, 0)


def test_internal_error_once_is_retried(proxy: FaultProxy) -> None:
    proxy.fail_next(1, 500, "InternalError")
    response, _ = timed(builder(proxy.url, max_attempts=3))
    assert response.exitcode == 0, response.message
    assert response.meta["attempts"] == 2
    assert proxy.forwarded == 1


def _stop(proxy: FaultProxy, instance_id: str, max_attempts: int) -> Response:
    return (
        builder(proxy.url, max_attempts=max_attempts)
        .set("action", "stop-instances")
        .set("instance-id", instance_id)
        .timeout(20_000)
        .sync()
    )


def _state(ec2: Any, instance_id: str) -> str:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return str(reservations[0]["Instances"][0]["State"]["Name"])


def test_throttled_stop_is_sent_no_more_often_than_attempts(
    proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    [instance] = launch(ec2, image_id)
    proxy.fail_next(100, 503, "RequestLimitExceeded")
    response = _stop(proxy, instance, max_attempts=3)
    assert response.exitcode == 7, response.message
    assert proxy.actions_seen.count("StopInstances") == response.meta["attempts"] == 3
    assert proxy.forwarded == 0
    assert _state(ec2, instance) == "running"  # nothing reached the endpoint


def test_throttled_stop_reaches_the_endpoint_exactly_once(
    proxy: FaultProxy, ec2: Any, image_id: str
) -> None:
    [instance] = launch(ec2, image_id)
    proxy.fail_next(2, 503, "RequestLimitExceeded")
    response = _stop(proxy, instance, max_attempts=5)
    assert response.exitcode == 0, response.message
    assert proxy.actions_seen == ["StopInstances"] * 3
    assert proxy.forwarded == 1
    assert _state(ec2, instance) == "stopped"
