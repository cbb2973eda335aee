"""The HTTP service as a real uvicorn process (`ec2-connector serve`), driven with httpx."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ec2_connector import Call, Response
from ec2_connector.actions import catalog
from ec2_connector.execution import execute_async
from ec2_connector.request import as_request
from tests.conftest import MotoServer, all_instances, free_port, launch
from tests.harness import CannedEC2Server, SilentServer
from tests.harness.calls import config_for
from tests.harness.cli import clean_env
from tests.harness.metrics import key, scrape
from tests.harness.processes import run_cli_without, terminate
from tests.harness.service import wait_healthy

SECRET = "ServiceSecretKeyValue/0123456789ab"
QUERY_SECRET = "QuerySecretValue0123456789"
CALLS_IN_A_ROW = 100


@dataclass
class Service:
    url: str
    token: str
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def service(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("service")
    config = tmp / "connectors.json"
    config.write_text(json.dumps({"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": "test-secret-key-value",
        "region": "us-east-1", "endpoint-url": moto_server.url}}}))
    token, port, log = secrets.token_urlsafe(24), free_port(), tmp / "service.log"
    env = {**clean_env(tmp), "EC2_CONNECTOR_TOKEN": token}
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ec2_connector.cli", "serve", "--port", str(port),
             "--config", str(config)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield Service(f"http://127.0.0.1:{port}", token, log)
    finally:
        terminate(proc)


def assert_refused(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["exitcode"] == 2 and body["data"] == {} and body["meta"] == {}
    return str(body["message"])


def test_healthz_needs_no_token(service: Service) -> None:
    response = httpx.get(service.url + "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_auth(service: Service) -> None:
    missing = httpx.get(service.url + "/v1/actions")
    assert "bearer token" in assert_refused(missing, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    with service.client("wrong-" + service.token) as wrong:
        assert_refused(wrong.get("/v1/actions"), 401)
        assert_refused(wrong.post("/v1/connectors/aws-ec2/sync", json={"action": "x"}), 401)
    basic = httpx.get(service.url + "/v1/actions", headers={"Authorization": "Basic abc"})
    assert_refused(basic, 401)
    with service.client() as right:
        assert right.get("/v1/actions").status_code == 200


def test_catalog_routes(service: Service) -> None:
    with service.client() as client:
        names = [a["name"] for a in client.get("/v1/actions").json()]
        assert "create-instance" in names and "security-group-add-rule" in names
        one = client.get("/v1/actions/create-instance").json()
        assert one["result"] == "instance-info"
        assert "unknown action" in assert_refused(client.get("/v1/actions/nope"), 404)


def test_sync_call_runs_and_answers_200_whatever_its_exitcode(
    service: Service, endpoint: str, image_id: str, ec2: Any
) -> None:
    request = {"action": "create-instance", "image-id": image_id, "instance-type": "t2.micro",
               "min-instance": 2, "timeout": 30000}
    with service.client() as client:
        created = client.post("/v1/connectors/aws-ec2/sync", json=request)
        assert created.status_code == 200 and created.json()["exitcode"] == 0
        ids = sorted(i["instance-id"] for i in created.json()["data"]["instance-info"])
        assert ids == sorted(i["InstanceId"] for i in all_instances(ec2))
        failed = client.post("/v1/connectors/aws-ec2/sync",
                             json={"action": "stop-instances", "instance-id": "i-12345678"})
        assert failed.status_code == 200 and failed.json()["exitcode"] == 6
        invalid = client.post("/v1/connectors/aws-ec2/sync", json={"action": "nope"})
        assert invalid.status_code == 200 and invalid.json()["exitcode"] == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"action": "describe-instances"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'["describe-instances"]', "must be a JSON object"),
        (b'"describe-instances"', "must be a JSON object"),
        (b"42", "must be a JSON object"),
    ],
)
def test_bad_bodies_are_400(service: Service, body: bytes, expected: str) -> None:
    with service.client() as client:
        for mode in ("sync", "async"):
            response = client.post(f"/v1/connectors/aws-ec2/{mode}", content=body)
            assert expected in assert_refused(response, 400)


def test_unknown_connector_is_404(service: Service) -> None:
    with service.client() as client:
        for mode in ("sync", "async"):
            response = client.post(f"/v1/connectors/nope/{mode}",
                                   json={"action": "describe-instances"})
            assert "unknown connector 'nope'" in assert_refused(response, 404)
        assert_refused(client.get("/v1/jobs/no-such-job"), 404)
        assert_refused(client.get("/v1/no-such-route"), 404)


def test_a_body_over_1_mib_is_413(service: Service, endpoint: str, ec2: Any) -> None:
    big = json.dumps({"action": "create-tags", "resource-id": "i-12345678", "tag-key": "k",
                      "tag-value": "v" * (2 * 1024 * 1024)}).encode()
    with service.client() as client:
        assert_refused(client.post("/v1/connectors/aws-ec2/sync", content=big), 413)
        chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))  # no Content-Length
        assert_refused(client.post("/v1/connectors/aws-ec2/sync", content=chunks), 413)
        assert client.get("/healthz").status_code == 200
    assert ec2.describe_tags()["Tags"] == []


def test_odd_values_never_give_a_500(service: Service) -> None:
    bodies: list[Any] = [
        {"action": 5},
        {"action": None},
        {"action": "create-instance", "min-instance": {"a": 1}, "image-id": []},
        {"action": "describe-instances", "timeout": "soon"},
        {"action": "describe-instances", "filters": [1, 2]},
        {"action": "describe-instances", "": 1},
    ]
    with service.client() as client:
        for body in bodies:
            response = client.post("/v1/connectors/aws-ec2/sync", json=body)
            assert response.status_code == 200 and response.json()["exitcode"] == 2, body
        assert_refused(client.get("/v1/jobs", params={"limit": "many"}), 400)


def test_20_concurrent_sync_calls(
    service: Service, endpoint: str, image_id: str, ec2: Any
) -> None:
    ids = launch(ec2, image_id, 2)

    def one(n: int) -> tuple[int, int]:
        request = {"action": "create-tags", "resource-id": ids, "tag-key": f"k{n}",
                   "tag-value": str(n)}
        with service.client() as client:
            response = client.post("/v1/connectors/aws-ec2/sync", json=request)
            return response.status_code, response.json()["exitcode"]

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    assert results == [(200, 0)] * 20
    assert len(ec2.describe_tags()["Tags"]) == 40


def test_slow_calls_do_not_block_each_other_or_the_event_loop(service: Service) -> None:
    with socket.socket() as silent:  # accepts (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        request = {"action": "describe-instances", "timeout": 2000,
                   "endpoint-url": f"http://127.0.0.1:{silent.getsockname()[1]}",
                   "access-key": "AKIASLOWCALLS0000000", "security-key": "slow-calls-key"}

        def one(n: int) -> int:
            with service.client() as client:
                return int(client.post("/v1/connectors/aws-ec2/sync", json=request)
                           .json()["exitcode"])

        started = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            calls = [pool.submit(one, n) for n in range(20)]
            time.sleep(0.5)
            health = httpx.get(service.url + "/healthz", timeout=5)
            assert health.status_code == 200 and not any(c.done() for c in calls)
            codes = [c.result() for c in calls]
    assert codes == [3] * 20
    assert time.monotonic() - started < 15  # one after another would take 40 s


def test_async_job_followed_to_completion(
    service: Service, endpoint: str, image_id: str, ec2: Any
) -> None:
    request = {"action": "create-instance", "image-id": image_id, "instance-type": "t2.micro",
               "wait": True, "wait-interval": 100}
    with service.client() as client:
        accepted = client.post("/v1/connectors/aws-ec2/async", json=request)
        assert accepted.status_code == 202 and set(accepted.json()) == {"job-id", "status"}
        job_id = accepted.json()["job-id"]
        deadline = time.monotonic() + 30
        job = client.get(f"/v1/jobs/{job_id}").json()
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] == "succeeded" and job["response"]["exitcode"] == 0
        [instance] = job["response"]["data"]["instance-info"]
        assert instance["instance-state-name"] == "running"
        assert job_id in [j["job-id"] for j in client.get("/v1/jobs").json()]
    assert [i["InstanceId"] for i in all_instances(ec2)] == [instance["instance-id"]]


def test_async_refuses_an_invalid_request_before_queueing(service: Service) -> None:
    with service.client() as client:
        before = len(client.get("/v1/jobs").json())
        for body in ({"instance-type": "t2.micro"}, {"action": "stop-instances"},
                     {"action": "stop-instances", "instance-id": "bogus"}):
            rejected = client.post("/v1/connectors/aws-ec2/async", json=body)
            assert rejected.status_code == 400
            assert rejected.json()["exitcode"] == 2 and rejected.json()["message"]
        assert len(client.get("/v1/jobs").json()) == before


def test_an_ambiguous_job_id_prefix_is_400_not_500(service: Service) -> None:
    """Why: schemathesis found GET /v1/jobs/1 answering 500 once two jobs' ids began
    with '1'. Of 17 jobs, two share a first hex digit."""
    with service.client() as client:
        ids = [client.post("/v1/connectors/aws-ec2/async",
                           json={"action": "describe-instances"}).json()["job-id"]
               for _ in range(17)]
        prefix = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
        answer = client.get(f"/v1/jobs/{prefix}")
        assert "ambiguous" in assert_refused(answer, 400)
        assert client.get(f"/v1/jobs/{ids[0]}").json()["job-id"] == ids[0]


def test_openapi_describes_the_request_body(service: Service) -> None:
    assert httpx.get(service.url + "/openapi.json").status_code == 401  # needs the token
    with service.client() as client:
        schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/connectors/{name}/sync"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "object" and body["required"] == ["action"]
    assert "create-instance" in body["properties"]["action"]["enum"]
    assert body["additionalProperties"] is True
    assert {"200", "400", "401", "403", "404", "413"} <= set(operation["responses"])
    assert "422" not in json.dumps(schema["paths"])


def test_openapi_examples_are_the_declared_examples(service: Service) -> None:
    with service.client() as client:
        schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/connectors/{name}/sync"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == set(catalog.names())
    for name, example in examples.items():
        assert example["value"] == {"action": name, **catalog.get(name).example}
        assert example["summary"]


def test_secrets_stay_out_of_responses_and_logs(service: Service, endpoint: str) -> None:
    bodies = [
        {"action": "describe-instances", "access-key": "AKIAEXAMPLE", "security-key": SECRET},
        {"action": "describe-instances", "security-key": SECRET, "bogus": 1},
        {"action": "create-instance", "image-id": "ami-12345678", "instance-type": "t2.micro",
         "user-data": SECRET, "session-token": SECRET},
    ]
    seen = []
    with service.client() as client:
        for body in bodies:
            for mode in ("sync", "async"):
                url = f"/v1/connectors/aws-ec2/{mode}?token={QUERY_SECRET}"
                response = client.post(url, json=body)
                seen.append(response.text)
                if mode == "async" and response.status_code == 202:
                    seen.append(client.get(f"/v1/jobs/{response.json()['job-id']}").text)
        seen.append(client.get("/v1/jobs").text)
    time.sleep(0.5)  # let the jobs finish and log
    logged = service.log.read_text()
    assert "/v1/connectors/aws-ec2/sync" in logged and QUERY_SECRET not in logged
    for text in [*seen, logged]:
        assert SECRET not in text and service.token not in text


def test_serve_refuses_a_public_host_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ec2_connector.cli", "serve", "--host", "0.0.0.0", "--port",
         str(free_port())],
        env=clean_env(tmp_path), capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2 and "without a token" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_without_fastapi_serve_says_which_extra_to_install(tmp_path: Path) -> None:
    result = run_cli_without("fastapi", ["serve", "--port", str(free_port())],
                             clean_env(tmp_path))
    assert result.returncode == 2 and "ec2-connector[service]" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_awaited_path_answers_as_the_blocking_one() -> None:
    """The sync route awaits `execute_async`; it must answer what `Call.execute` answers."""
    with CannedEC2Server(instances=2, detail="basic") as canned:
        call = Call(config=config_for(canned.url))
        ids = canned.instance_ids[:2]
        bodies: list[dict[str, Any]] = [
            {"action": "describe-instances"},
            {"action": "stop-instances", "instance-id": ids},
            {"action": "stop-instances", "instance-id": ids, "dry-run": True},
            {"action": "stop-instances"},
            {"action": "nope"},
            {"action": "describe-instances", "timeout": "soon"},
        ]
        for body in bodies:
            blocking = call.execute("aws-ec2", body)
            awaited = asyncio.run(execute_async(as_request("aws-ec2", body), call.connectors))
            assert (awaited.exitcode, awaited.message, awaited.data) == (
                blocking.exitcode, blocking.message, blocking.data), body
            assert awaited.meta.keys() == blocking.meta.keys()


def test_the_awaited_path_returns_at_its_deadline_without_blocking_the_loop() -> None:
    async def timed(url: str) -> tuple[Response, float, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        request = as_request("aws-ec2", {"action": "describe-instances", "timeout": 800})
        response = await execute_async(request, Call(config=config_for(url)).connectors)
        elapsed = time.monotonic() - started
        ticker.cancel()
        return response, elapsed, ticks

    with SilentServer() as silent:
        response, elapsed, ticks = asyncio.run(timed(silent.url))
    assert response.exitcode == 3 and "timed out after 800 ms" in response.message
    assert 0.8 <= elapsed < 0.8 + 2.0  # generous: shared machine
    assert ticks >= 20  # the event loop ran on while the call waited


def test_the_served_process_settles_its_collector(service: Service, endpoint: str) -> None:
    """`serve` is a long-running process: once it has started, what start-up built is kept
    out of the cyclic collector's passes, and the youngest generation is collected at
    SERVER_GC_YOUNG objects, so calls one after another make almost no young collections
    (at Python's 700 a describe made about one every other call)."""
    young = ("python_gc_collections_total", (("generation", "0"),))
    with service.client() as client:
        before = scrape(client)
        assert before[key("gc_frozen_objects")] > 10_000
        for _ in range(CALLS_IN_A_ROW):
            answer = client.post("/v1/connectors/aws-ec2/sync", json={"action": "describe-vpc"})
            assert answer.json()["exitcode"] == 0
        after = scrape(client)
    assert after[young] - before[young] < CALLS_IN_A_ROW / 4
    assert after[("process_cpu_seconds_total", ())] > before[("process_cpu_seconds_total", ())]
