"""The sync call's hot path (hotpath.py) answers exactly as the FastAPI route it stands in for.

The app is driven in-process through httpx's ASGI transport, twice per request: as it
comes, which the hot path answers, and under a root path, which it passes on to the
route. Both answers must be the same, refusals included.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi.security import HTTPBearer
from starlette.requests import Request

from ec2_connector import Call
from ec2_connector.service.app import create_app
from ec2_connector.service.hotpath import bearer, connector_of
from ec2_connector.service.principals import hash_token
from tests.harness import CannedEC2Server
from tests.harness.calls import config_for

TOKEN = "hot-path-token-0123456789"
VIEWER = "hot-path-viewer-0123456789"
SYNC = "/v1/connectors/{}/sync"
# The answers' parts that differ from one call to the next.
VARYING = ("request-id", "duration-ms", "started", "finished")


def plain_scope(**changes: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": SYNC.format("aws-ec2"),
                             "query_string": b"", "root_path": "", "headers": []}
    return {**scope, **changes}


def test_only_a_plain_sync_call_takes_the_hot_path() -> None:
    assert connector_of(plain_scope()) == "aws-ec2"
    assert connector_of(plain_scope(path=SYNC.format("a b%2F"))) == "a b%2F"
    for changes in ({"method": "GET"}, {"type": "websocket"}, {"query_string": b"a=1"},
                    {"root_path": "/under"}, {"fastapi.telemetry": object()},
                    {"path": SYNC.format("")}, {"path": SYNC.format("a/b")},
                    {"path": "/v1/connectors/aws-ec2/async"}, {"path": "/v1/connectors/sync"},
                    {"path": SYNC.format("aws-ec2") + "/"}):
        assert connector_of(plain_scope(**changes)) is None, changes


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Bearer abc", "bearer abc", "BEARER  abc  ", "Basic abc",
    "Bearer a b", "Token abc", " Bearer abc", "Bearerabc",
])
def test_the_token_is_read_as_httpbearer_reads_it(header: str | None) -> None:
    headers = [] if header is None else [(b"authorization", header.encode())]
    request = Request(plain_scope(headers=headers))
    read = asyncio.run(HTTPBearer(auto_error=False)(request))
    assert bearer(request) == (read.credentials if read is not None else "")


def requests(instance_ids: list[str]) -> list[tuple[str, dict[str, str], bytes]]:
    """(connector, headers, body): answered, refused at each step, and failing in EC2."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    describe = json.dumps({"action": "describe-instances"}).encode()
    stop = json.dumps({"action": "stop-instances", "instance-id": instance_ids}).encode()
    return [
        ("aws-ec2", auth, describe),
        ("aws-ec2", {"Authorization": f"bearer   {TOKEN}  "}, describe),
        ("aws-ec2", {}, describe),
        ("aws-ec2", {"Authorization": "Bearer wrong"}, describe),
        ("aws-ec2", {"Authorization": f"Basic {TOKEN}"}, describe),
        ("nope", auth, describe),
        ("aws-ec2", auth, b"{not json"),
        ("aws-ec2", auth, b"[1, 2]"),
        ("aws-ec2", auth, b'"text"'),
        ("aws-ec2", auth, b"x" * (1024 * 1024 + 1)),
        ("aws-ec2", auth, json.dumps({"action": "nope"}).encode()),
        ("aws-ec2", auth, json.dumps({"action": "stop-instances"}).encode()),
        ("aws-ec2", auth, json.dumps({"action": "describe-instances",
                                      "endpoint-url": "http://127.0.0.1:9"}).encode()),
        ("aws-ec2", {"Authorization": f"Bearer {VIEWER}"}, stop),
        ("aws-ec2", auth, json.dumps({"action": "describe-instances",
                                      "instance-id": ["i-0000000000000dead"]}).encode()),
    ]


def comparable(answer: httpx.Response) -> tuple[int, dict[str, str], Any]:
    body = answer.json()
    for key in VARYING:
        body.get("meta", {}).pop(key, None)
    headers = {k: v for k, v in answer.headers.items() if k != "content-length"}
    return answer.status_code, headers, body


async def both_ways(app: Any, connector: str, headers: dict[str, str], body: bytes,
                    ) -> tuple[httpx.Response, httpx.Response]:
    hot = httpx.ASGITransport(app=app)
    routed = httpx.ASGITransport(app=app, root_path="/under")
    async with httpx.AsyncClient(transport=hot, base_url="http://svc") as client:
        first = await client.post(SYNC.format(connector), content=body, headers=headers)
    async with httpx.AsyncClient(transport=routed, base_url="http://svc") as client:
        second = await client.post("/under" + SYNC.format(connector), content=body,
                                   headers=headers)
    return first, second


def test_the_hot_path_answers_as_the_route() -> None:
    with CannedEC2Server(instances=2, detail="basic") as canned:
        config = config_for(canned.url)
        config["principals"] = {"look": {"token-hash": hash_token(VIEWER), "role": "viewer"},
                                "ops": {"token-hash": hash_token(TOKEN), "role": "operator"}}
        with Call(config=config) as call:
            app = create_app(call)
            statuses = set()
            for connector, headers, body in requests(canned.instance_ids[:2]):
                hot, routed = asyncio.run(both_ways(app, connector, headers, body))
                assert comparable(hot) == comparable(routed), (connector, headers, body[:60])
                statuses.add(hot.status_code)
    assert statuses == {200, 400, 401, 403, 404, 413}  # every kind of answer was compared
