"""The connector's SigV4 signer gives botocore's signature: the same headers, byte for
byte, on requests of every operation the catalog calls; and an endpoint that checks
signatures the way AWS does accepts every request a call sends."""

from __future__ import annotations

import datetime
import hmac
from typing import Any

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.model import Shape

from ec2_connector import Call
from ec2_connector.actions import catalog
from ec2_connector.transport import signing
from ec2_connector.transport.signing import SigV4Signer
from tests.conftest import launch
from tests.harness.calls import config_for
from tests.harness.faults import HTTPHarnessServer, RequestHandler

OPERATIONS = catalog.operations()
# Values that need escaping in a query body: spaces, unicode, reserved characters.
TEXT = "a value ~/+=&é 東京"


class _Captured(Exception):
    """Stops a request before it is signed: the test signs it itself."""


def sample(shape: Shape, depth: int = 0) -> Any:
    """An input value for `shape`: every member of a structure (to a depth), two items
    of a list, one of a map."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members.items() if depth < 3 else (
            (n, m) for n, m in shape.members.items() if n in shape.required_members)
        return {name: sample(member, depth + 1) for name, member in members}
    if kind == "list":
        return [sample(shape.member, depth + 1) for _ in range(2)]
    if kind == "map":
        return {"key-1": sample(shape.value, depth + 1)}
    if kind in ("integer", "long"):
        return 3
    if kind in ("float", "double"):
        return 1.5
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime.datetime(2026, 12, 7, 12, 30, 5, tzinfo=datetime.UTC)
    if kind == "blob":
        return b"\x00\xffblob"
    if shape.enum:
        return shape.enum[-1]
    return TEXT


def unsigned_requests(token: str | None) -> list[AWSRequest]:
    """One request per catalog operation, as botocore builds it, before signing."""
    session = botocore.session.get_session()
    client = session.create_client(
        "ec2", region_name="eu-west-3", endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret/with+chars",
        aws_session_token=token,
        config=botocore.config.Config(parameter_validation=False))
    captured: list[AWSRequest] = []

    def grab(request: AWSRequest, **_: Any) -> None:
        captured.append(request)
        raise _Captured

    client.meta.events.register_first("before-sign.ec2", grab)
    model = client.meta.service_model
    for operation in OPERATIONS:
        shape = model.operation_model(operation).input_shape
        params = sample(shape) if shape is not None else {}
        with pytest.raises(_Captured):
            getattr(client, botocore.xform_name(operation))(**params)
    return captured


def copied(request: AWSRequest) -> AWSRequest:
    again = AWSRequest(method=request.method, url=request.url, data=request.data,
                       params=dict(request.params), headers=request.headers)
    again.context = dict(request.context)
    return again


@pytest.mark.parametrize("token", [None, "session/token=="], ids=["keys", "session"])
def test_every_catalog_operation_is_signed_as_botocore_signs_it(token: str | None) -> None:
    credentials = ReadOnlyCredentials("AKIAEXAMPLE", "secret/with+chars", token)
    requests = unsigned_requests(token)
    assert len(requests) == len(OPERATIONS) > 40
    for request in requests:
        for _ in range(5):  # both within one second: the timestamp is part of the text
            theirs, ours = copied(request), copied(request)
            SigV4Auth(credentials, "ec2", "eu-west-3").add_auth(theirs)
            SigV4Signer(credentials, "ec2", "eu-west-3").add_auth(ours)
            if theirs.context["timestamp"] == ours.context["timestamp"]:
                break
        assert list(ours.headers.items()) == list(theirs.headers.items()), request.data
        assert ours.body == theirs.body


def test_the_signing_key_is_kept_per_day_region_and_secret_not_the_secret_itself() -> None:
    request = AWSRequest(method="POST", url="http://127.0.0.1:9/",
                         data={"Action": "DescribeRegions", "Version": "2016-11-15"})
    request.context["timestamp"] = "20261207T120000Z"
    first = SigV4Signer(ReadOnlyCredentials("AKIA1", "one", None), "ec2", "us-east-1")
    assert first._signing_key(request) == SigV4Auth(
        ReadOnlyCredentials("AKIA1", "one", None), "ec2", "us-east-1")._sign(
        SigV4Auth(None, "ec2", "us-east-1")._sign(
            SigV4Auth(None, "ec2", "us-east-1")._sign(
                SigV4Auth(None, "ec2", "us-east-1")._sign(b"AWS4one", "20261207"),
                "us-east-1"), "ec2"), "aws4_request")
    other = SigV4Signer(ReadOnlyCredentials("AKIA1", "two", None), "ec2", "us-east-1")
    assert other._signing_key(request) != first._signing_key(request)
    request.context["timestamp"] = "20261208T000001Z"
    assert first._signing_key(request) != other._signing_key(request)
    assert all(b"one" not in key[0] and "one" not in key[1:] for key in signing._keys)


class VerifyingEndpoint(HTTPHarnessServer):
    """Checks each request's SigV4 signature as AWS does (botocore's own canonical
    request and string to sign, at the request's X-Amz-Date), then forwards it to EC2;
    a bad signature gets EC2's 403 and goes no further."""

    def __init__(self, upstream_port: int, secret: str) -> None:
        super().__init__()
        self.upstream_port, self.secret = upstream_port, secret
        self.verified: list[str] = []
        self.refused: list[str] = []

    def respond(self, req: RequestHandler) -> None:
        action = req.params().get("Action", "")
        if not self._valid(req):
            self.refused.append(action)
            req.send_body(403, b"<Response><Errors><Error><Code>SignatureDoesNotMatch"
                               b"</Code><Message>bad</Message></Error></Errors></Response>")
            return
        self.verified.append(action)
        status, body = req.forward(self.upstream_port)
        req.send_body(status, body)

    def _valid(self, req: RequestHandler) -> bool:
        given = req.headers.get("Authorization", "")
        scope = given.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
        signed = given.split("SignedHeaders=", 1)[-1].split(",", 1)[0].split(";")
        token = req.headers.get("X-Amz-Security-Token")
        request = AWSRequest(method=req.command, url=f"http://{req.headers['Host']}{req.path}",
                             data=req.body,
                             headers={k: v for k, v in req.headers.items()
                                      if k.lower() in signed})
        request.context["timestamp"] = req.headers["X-Amz-Date"]
        checker = SigV4Auth(ReadOnlyCredentials(scope[0], self.secret, token), scope[3],
                            scope[2])
        expected = checker.signature(
            checker.string_to_sign(request, checker.canonical_request(request)), request)
        return hmac.compare_digest(given.rsplit("Signature=", 1)[-1], expected)


@pytest.mark.parametrize("extra", [{}, {"session-token": "token/with=chars"}],
                         ids=["keys", "session"])
def test_an_endpoint_that_checks_signatures_accepts_every_request_of_a_call(
    moto_server: Any, ec2: Any, image_id: str, extra: dict[str, str]
) -> None:
    [instance] = launch(ec2, image_id, 1)
    with VerifyingEndpoint(moto_server.port, "secret") as endpoint, \
            Call(config=config_for(endpoint.url, **extra)) as call:
        tagged = call.connector("aws-ec2").set("action", "create-tags").set(
            "resource-id", instance).set("tag-key", "note").set("tag-value", TEXT).sync()
        assert tagged.exitcode == 0, tagged.message
        described = call.connector("aws-ec2").set("action", "describe-instances").set(
            "instance-id", instance).sync()
        assert described.exitcode == 0, described.message
    assert endpoint.refused == []
    assert "CreateTags" in endpoint.verified and "DescribeInstances" in endpoint.verified


def test_a_wrong_secret_is_refused_by_that_endpoint(moto_server: Any) -> None:
    """The check above can fail: signed with another secret, nothing is forwarded."""
    with VerifyingEndpoint(moto_server.port, "not-the-secret") as endpoint, \
            Call(config=config_for(endpoint.url)) as call:
        response = call.connector("aws-ec2").set("action", "describe-instances").sync()
    assert response.exitcode != 0 and "SignatureDoesNotMatch" in response.message
    assert endpoint.verified == [] and endpoint.refused


def _chosen(client: Any, context: dict[str, Any]) -> Any:
    """The signature version a client's choose-signer event gives for DescribeInstances."""
    return client.meta.events.emit_until_response(
        "choose-signer.ec2.DescribeInstances", signing_name="ec2", region_name="us-east-1",
        signature_version="v4", context=context, operation_name="DescribeInstances")[1]


def test_connector_clients_sign_with_it() -> None:
    from ec2_connector.config import Target
    from ec2_connector.transport.clients import ClientCache

    cache = ClientCache(["DescribeInstances"])
    target = Target(access_key="AKIAEXAMPLEEXAMPLE00", security_key="s", session_token=None,
                    profile=None, region="us-east-1", endpoint_url="http://127.0.0.1:9",
                    max_attempts=1, retry_mode="standard")
    for clients in (cache, cache.full()):
        client = clients.client_for(target)
        assert _chosen(client, {}) == signing.NAME
        # botocore's own choice for an operation stands where it is not plain SigV4
        assert _chosen(client, {"auth_type": "none"}) is botocore.UNSIGNED
        assert _chosen(client, {"auth_type": "v4a"}) == "v4a"
        unsigned_body: dict[str, Any] = {"auth_type": "v4-unsigned-body"}
        assert _chosen(client, unsigned_body) == signing.NAME
        assert unsigned_body["payload_signing_enabled"] is False
