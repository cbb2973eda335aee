"""Query strings on the service: /v1/jobs filtered by status, and a query parameter a
route does not declare refused (400, exitcode 2) instead of silently ignored; the routes
`serve --help` names exist."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MotoServer
from tests.harness.cli import clean_env
from tests.harness.faults import free_port
from tests.harness.processes import terminate
from tests.harness.service import wait_healthy

ADMIN = "queries-admin-token-0123456789abcdef"


@dataclass
class Service:
    url: str
    tokens: dict[str, str]

    def client(self, who: str = "admin") -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.tokens[who]}"})


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ec2_connector.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def service(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("queries")
    config = tmp / "service.json"
    config.write_text(json.dumps({"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": "queries-secret-key-value",
        "region": "us-east-1", "endpoint-url": moto_server.url}}}))
    env = clean_env(tmp)
    made = cli(env, "token", "create", "viewer", "--role", "viewer", "--config", str(config))
    assert made.returncode == 0, made.stderr
    env["EC2_CONNECTOR_TOKEN"] = ADMIN
    port = free_port()
    with (tmp / "service.log").open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ec2_connector.cli", "serve", "--port", str(port),
             "--config", str(config)], env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield Service(f"http://127.0.0.1:{port}",
                      {"admin": ADMIN, "viewer": made.stdout.strip()})
    finally:
        terminate(proc)


def refused(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["exitcode"] == 2 and body["data"] == {}
    return str(body["message"])


def finished(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    accepted = client.post("/v1/connectors/aws-ec2/async", json=body)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job-id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def ids(client: httpx.Client, **params: str) -> set[str]:
    answer = client.get("/v1/jobs", params=params)
    assert answer.status_code == 200, answer.text
    return {job["job-id"] for job in answer.json()}


def test_jobs_are_filtered_by_status_for_admins_and_principals(service: Service) -> None:
    with service.client("viewer") as viewer, service.client() as admin:
        ok = finished(viewer, {"action": "describe-regions"})
        bad = finished(viewer, {"action": "describe-instances",
                                "instance-id": "i-0123456789abcdef0"})
        theirs = finished(admin, {"action": "describe-regions"})
        assert (ok["status"], bad["status"], theirs["status"]) == (
            "succeeded", "failed", "succeeded")
        everyone = {ok["job-id"], bad["job-id"], theirs["job-id"]}
        assert everyone <= ids(admin)
        assert ids(admin, status="succeeded") & everyone == {ok["job-id"], theirs["job-id"]}
        assert ids(admin, status="failed") & everyone == {bad["job-id"]}
        assert not ids(admin, status="running") & everyone
        assert ids(viewer, status="succeeded") == {ok["job-id"]}
        assert ids(viewer, status="failed") == {bad["job-id"]}
        assert ids(viewer) == {ok["job-id"], bad["job-id"]}
        for client in (admin, viewer):
            message = refused(client.get("/v1/jobs", params={"status": "runing"}))
            assert "'runing'" in message and "running" in message and "succeeded" in message


def test_an_undeclared_query_parameter_is_refused_on_every_route(service: Service) -> None:
    with service.client() as client:
        message = refused(client.get("/v1/jobs", params={"stauts": "running"}))
        assert "'stauts'" in message and "limit, status" in message
        paths = client.get("/openapi.json").json()["paths"]
        assert len([p for p in paths if p.startswith("/v1/")]) >= 5
        for path, methods in paths.items():
            if not path.startswith("/v1/"):
                continue
            url = re.sub(r"\{[^}]+\}", "aws-ec2", path)
            for method in methods:
                answer = client.request(method.upper(), url, params={"bogus": "1"},
                                        json={"action": "describe-regions"})
                assert "'bogus'" in refused(answer), (method, path)


def test_a_refused_call_sends_nothing(service: Service, ec2: Any) -> None:
    with service.client() as client:
        before = {j["job-id"] for j in client.get("/v1/jobs", params={"limit": "1000"}).json()}
        body = {"action": "create-security-group", "group-name": "queries-refused",
                "description": "must not exist"}
        for route in ("sync", "async"):
            refused(client.post(f"/v1/connectors/aws-ec2/{route}", params={"dry": "1"},
                                json=body))
        after = {j["job-id"] for j in client.get("/v1/jobs", params={"limit": "1000"}).json()}
    assert after == before
    names = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert "queries-refused" not in names


def test_the_token_is_checked_before_the_query(service: Service) -> None:
    answer = httpx.get(service.url + "/v1/jobs", params={"bogus": "1"})
    assert answer.status_code == 401


def test_every_route_serve_help_names_exists(service: Service, tmp_path: Path) -> None:
    shown = cli(clean_env(tmp_path), "serve", "--help")
    assert shown.returncode == 0, shown.stderr
    routes = set(re.findall(r"(?<![\w/])(/[a-z][\w./{}-]*[\w}])", " ".join(shown.stdout.split())))
    assert "/openapi.json" in routes, routes
    with service.client() as client:
        for route in routes:
            url = re.sub(r"/(NAME|\{[^}]+\})(?=/|$)", "/aws-ec2", route)
            assert client.get(url).status_code != 404, route
