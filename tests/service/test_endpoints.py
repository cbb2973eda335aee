"""The service never sends its credentials to an endpoint a caller chose.

Why: a service caller could set `endpoint-url`; the service then signed with its own keys
and sent its session token (X-Amz-Security-Token) and access key id to the caller's
server, or POSTed to any internal host. Here the caller's server is a capture server:
after each refusal it must have received nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ec2_connector import Call
from tests.harness import CaptureServer
from tests.harness.service import ServiceProcess

SERVICE_KEY = "AKIASERVICEKEY000000"
SERVICE_SECRET = "service-secret-key-value-0123456789"
SERVICE_TOKEN = "SERVICESESSIONTOKEN-IQoJb3JpZ2luX2VjEJr"
TOKEN = "redirect-test-token"
PROD_KEY = "AKIAPRODKEY000000000"
PROD_TOKEN = "PRODSESSIONTOKEN-IQoJb3JpZ2luX2VjEJr"


@pytest.fixture(scope="module")
def hostile() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


@pytest.fixture(scope="module")
def allowed() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


@pytest.fixture(scope="module")
def service(
    moto_server: Any, allowed: CaptureServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    connector = {
        "access-key": SERVICE_KEY, "security-key": SERVICE_SECRET,
        "session-token": SERVICE_TOKEN, "region": "us-east-1",
        "endpoint-url": moto_server.url, "allowed-endpoint-urls": [allowed.url + "/"],
    }
    # A second connector, whose URLs allow nothing but its own endpoint.
    prod = {"access-key": PROD_KEY, "security-key": "prod-secret-key-value-0123456789",
            "session-token": PROD_TOKEN, "region": "us-east-1", "endpoint-url": moto_server.url}
    workdir = tmp_path_factory.mktemp("redirects")
    with ServiceProcess(workdir, {"connectors": {"aws-ec2": connector, "prod": prod}},
                        token=TOKEN) as process:
        yield process


def post(service: ServiceProcess, route: str, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(base_url=service.url, timeout=30,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        return client.post(f"/v1/connectors/aws-ec2/{route}", json=body)


@pytest.mark.parametrize("route", ["sync", "async"])
@pytest.mark.parametrize("body", [
    {"endpoint-url": "HOSTILE"},
    {"endpoint_url": "HOSTILE"},
    {"endpoint-url": None, "endpoint_url": "HOSTILE"},
    {"endpoint-url": "HOSTILE", "access-key": "AKIAHALFKEY000000000"},
    {"endpoint-url": "HOSTILE", "session-token": "caller-token-value"},
    {"profile": "default"},
], ids=["plain", "underscore", "hidden-behind-null", "key-without-secret", "token-only",
        "profile"])
def test_request_chosen_endpoint_is_refused(
    service: ServiceProcess, hostile: CaptureServer, route: str, body: dict[str, Any]
) -> None:
    body = {k: (hostile.url if v == "HOSTILE" else v) for k, v in body.items()}
    before = len(hostile.captured)
    response = post(service, route, {"action": "describe-instances", **body})
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert envelope["exitcode"] == 2
    assert "connector config" in envelope["message"]
    assert hostile.url not in envelope["message"]
    assert len(hostile.captured) == before  # nothing was sent there
    assert SERVICE_TOKEN.encode() not in hostile.everything()
    assert SERVICE_KEY.encode() not in hostile.everything()


def test_with_its_own_credentials_a_caller_may_choose_the_endpoint(
    service: ServiceProcess, hostile: CaptureServer
) -> None:
    before = len(hostile.captured)
    body = {"action": "describe-instances", "endpoint-url": hostile.url,
            "access-key": "AKIACALLERKEY0000000", "security-key": "caller-secret-key"}
    response = post(service, "sync", body)
    assert response.status_code == 200 and response.json()["exitcode"] == 0, response.text
    sent = hostile.captured[before:]
    assert sent and all("Credential=AKIACALLERKEY0000000/" in h["Authorization"]
                        for _, h, _ in sent)
    # The service's session token never rides along with the caller's keys.
    assert all("X-Amz-Security-Token" not in h for _, h, _ in sent)
    assert SERVICE_TOKEN.encode() not in hostile.everything()
    assert SERVICE_KEY.encode() not in hostile.everything()


def test_an_allowed_endpoint_gets_the_service_credentials(
    service: ServiceProcess, allowed: CaptureServer
) -> None:
    response = post(service, "sync", {"action": "describe-instances",
                                      "endpoint-url": allowed.url})
    assert response.status_code == 200 and response.json()["exitcode"] == 0, response.text
    _, headers, _ = allowed.captured[-1]
    assert f"Credential={SERVICE_KEY}/" in headers["Authorization"]


@pytest.mark.parametrize("named", [["prod"], "prod", ["aws-ec2", "prod"]],
                         ids=["list", "string", "both"])
def test_an_endpoint_allowed_for_one_connector_gets_no_other_connectors_credentials(
    service: ServiceProcess, allowed: CaptureServer, named: Any
) -> None:
    """Why: with `connectors` in the body, the URL was checked against the route's
    connector only, so prod's keys and session token went to a URL allowed for another."""
    before = len(allowed.captured)
    response = post(service, "sync", {"action": "describe-instances", "connectors": named,
                                      "endpoint-url": allowed.url})
    assert response.status_code == 400, response.text
    assert response.json()["exitcode"] == 2 and "'prod'" in response.json()["message"]
    assert len(allowed.captured) == before
    assert PROD_KEY.encode() not in allowed.everything()
    assert PROD_TOKEN.encode() not in allowed.everything()
    own = post(service, "sync", {"action": "describe-instances", "connectors": ["aws-ec2"],
                                 "endpoint-url": allowed.url})
    assert own.status_code == 200 and own.json()["exitcode"] == 0, own.text


def test_the_library_keeps_the_per_request_override(
    hostile: CaptureServer, tmp_path: Path
) -> None:
    """In a script the caller owns the credentials: its endpoint-url is obeyed."""
    before = len(hostile.captured)
    config = {"connectors": {"aws-ec2": {
        "access-key": SERVICE_KEY, "security-key": SERVICE_SECRET, "region": "us-east-1",
        "endpoint-url": "http://127.0.0.1:9"}}}
    response = Call(config).execute("aws-ec2", {"action": "describe-instances",
                                                "endpoint-url": hostile.url})
    assert response.exitcode == 0, response.message
    assert len(hostile.captured) == before + 1


@pytest.mark.parametrize("raw", [
    b'{"action": "describe-instances", "region": "\\ud800"}',
    b'{"action": "create-tags", "resource-id": "i-0123456789abcdef0", "tags": {"k": NaN}}',
    b'{"action": "create-instance", "image-id": "ami-0123456789abcdef0", '
    b'"instance-type": "t3.micro", "min-instance": 1' + b"0" * 5000 + b"}",
    b'{"action": "describe-instances", "filters": {"a": [[[[["x"]]]]]}}',
], ids=["lone-surrogate", "nan", "5000-digits", "nested"])
def test_junk_bodies_are_an_exitcode_2_envelope(service: ServiceProcess, raw: bytes) -> None:
    with httpx.Client(base_url=service.url, timeout=30, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}) as client:
        response = client.post("/v1/connectors/aws-ec2/sync", content=raw)
    assert response.status_code in (200, 400), response.text
    assert response.json()["exitcode"] == 2, response.text
