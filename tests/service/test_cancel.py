"""POST /v1/jobs/{id}/cancel on a real service process, against moto behind a relay that
holds the answer of a stop until the test lets it go: an operator cancels its own
running job (nothing more is sent), an admin another's queued job (nothing at all is
sent); a viewer is refused by the role rule, another principal's job is not found, an
ended job is refused as it was; each audited, counted, and in the schema."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ec2_connector.service.principals import hash_token
from tests.conftest import MotoServer, launch
from tests.harness.calls import Relay
from tests.harness.metrics import key, scrape
from tests.harness.service import ServiceProcess

TOKENS = {name: f"cancel-{name}-token-0123456789abcdef" for name in
          ("boss", "ops", "ops2", "viewer")}
ROLES = {"boss": "admin", "ops": "operator", "ops2": "operator", "viewer": "viewer"}
MISSING = "i-0123456789abcdef0"


@dataclass
class Service:
    url: str
    audit: Path
    relay: Relay

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {TOKENS[who]}"})


@pytest.fixture
def service(moto_server: MotoServer, tmp_path: Path) -> Iterator[Service]:
    with Relay(moto_server.port, "StopInstances", hold=True) as relay:
        config = {
            "connectors": {"aws-ec2": {
                "access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": "CancelTestSecret/0123",
                "region": "us-east-1", "endpoint-url": relay.url}},
            "principals": {name: {"token-hash": hash_token(TOKENS[name]), "role": role}
                           for name, role in ROLES.items()}}
        audit = tmp_path / "audit.jsonl"
        # One job thread: a second job stays queued behind the first, held at the relay.
        with ServiceProcess(tmp_path / "service", config, env={
                "EC2_CONNECTOR_AUDIT_FILE": str(audit), "EC2_CONNECTOR_WORKERS": "1"}) as proc:
            try:
                yield Service(proc.url, audit, relay)
            finally:
                relay.release.set()


def submit(service: Service, who: str, body: dict[str, Any]) -> str:
    with service.client(who) as client:
        accepted = client.post("/v1/connectors/aws-ec2/async", json=body)
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["job-id"])


def until(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
    return found


def audit_lines(service: Service) -> list[dict[str, Any]]:
    return [json.loads(line) for line in service.audit.read_text().splitlines()]


def test_cancel_as_each_role_allows(service: Service, ec2: Any, image_id: str) -> None:
    first, second = launch(ec2, image_id, 2)
    # ops's first job runs and its first StopInstances is held (one id is missing, so
    # it would stop the other with a second StopInstances); its second job is queued.
    running = submit(service, "ops", {"action": "stop-instances",
                                      "instance-id": [MISSING, first]})
    until(lambda: "StopInstances" in service.relay.sent)
    queued = submit(service, "ops", {"action": "stop-instances", "instance-id": [second]})
    with service.client("viewer") as viewer:
        hidden = viewer.post(f"/v1/jobs/{running}/cancel")
        assert hidden.status_code == 404 and running in hidden.json()["message"]
        mine = submit(service, "viewer", {"action": "describe-regions"})
        refused = viewer.post(f"/v1/jobs/{mine}/cancel")
        assert refused.status_code == 403, refused.text
        assert refused.json()["message"] == ("forbidden: principal 'viewer' (viewer) may not "
                                             "cancel jobs: cancelling is for the operator "
                                             "and admin roles")
        assert refused.json()["exitcode"] == 2
    line = audit_lines(service)[-1]
    assert (line["principal"], line["status"], line["rule"]) == ("viewer", 403, "role")
    with service.client("ops2") as other:  # another operator: not found, prefix or not
        assert other.post(f"/v1/jobs/{running}/cancel").status_code == 404
        assert other.post(f"/v1/jobs/{running[:10]}/cancel").status_code == 404
    with service.client("ops") as ops:
        asked = ops.post(f"/v1/jobs/{running[:12]}/cancel")
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "running"
        assert asked.json()["cancel-requested-by"] == "ops"
    with service.client("boss") as boss:
        ended = boss.post(f"/v1/jobs/{queued}/cancel")
        assert ended.status_code == 200, ended.text
        assert ended.json()["status"] == "cancelled"
        assert ended.json()["message"] == ("cancelled by boss before it started; nothing "
                                           "was sent to EC2")
    service.relay.release.set()
    with service.client("ops") as ops:
        done = until(lambda: (j := ops.get(f"/v1/jobs/{running}").json())["status"]
                     != "running" and j)
        assert done["status"] == "cancelled", done
        assert done["response"]["exitcode"] == 10
        assert done["response"]["data"]["operations-sent"] == ["StopInstances"]
        again = ops.post(f"/v1/jobs/{running}/cancel")
        assert again.status_code == 409 and again.json()["exitcode"] == 2
        assert again.json()["message"].startswith(f"job {running} is cancelled")
        assert ops.get(f"/v1/jobs/{running}").json() == done  # nothing changed
    assert service.relay.sent.count("StopInstances") == 1  # nothing after the cancel
    found = ec2.describe_instances(InstanceIds=[first, second])["Reservations"]
    assert {i["State"]["Name"] for r in found for i in r["Instances"]} == {"running"}
    lines = [a for a in audit_lines(service) if a.get("job-id") in (running, queued)]
    said = [(a["principal"], a["status"], a["message"]) for a in lines]
    assert ("ops", 200, f"asked to cancel job {running} (running)") in said
    assert ("boss", 200, f"cancelled job {queued} (cancelled)") in said
    assert ("ops", 409, f"job {running} is cancelled: only a queued, running or "
            "interrupted job can be cancelled; nothing changed") in said
    with service.client("boss") as boss:
        values = scrape(boss)
        assert values[key("jobs_ended_total", status="cancelled")] == 2
        assert values[key("jobs_submitted_total")] == 3  # a cancel is not a submission
        schema = boss.get("/openapi.json").json()
        route = schema["paths"]["/v1/jobs/{job_id}/cancel"]["post"]
        assert {"200", "403", "404", "409"} <= set(route["responses"])
