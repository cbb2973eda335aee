"""The console's fixtures: a real service process (uvicorn) with principals of each role,
against moto; its sign-in done as a browser does it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ec2_connector.service.principals import hash_token
from tests.conftest import MotoServer
from tests.harness.service import ServiceProcess

TOKENS = {"boss": "console-admin-token-0123456789abcdef",
          "ops": "console-operator-token-0123456789abcdef",
          "viewer": "console-viewer-token-0123456789abcdef"}
ROLES = {"boss": "admin", "ops": "operator", "viewer": "viewer"}
SECRET = "ConsoleTestSecretKey/0123456789abcdef"


@dataclass
class Console:
    url: str
    audit: Path
    service: ServiceProcess

    @contextmanager
    def signed_in(self, who: str) -> Iterator[httpx.Client]:
        """A client holding `who`'s session cookie, as a browser would after sign-in."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            form = client.get("/console/sign-in")
            nonce = csrf_of(form.text)
            done = client.post("/console/sign-in", data={"csrf": nonce, "token": TOKENS[who]})
            assert done.status_code == 303, done.text
            yield client


def states(ec2: Any, ids: list[str]) -> list[str]:
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    by_id = {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}
    return [by_id[i] for i in ids]


def audit_lines(console: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in console.audit.read_text().splitlines()]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def console_config(moto_url: str) -> dict[str, Any]:
    moto = {"access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": SECRET,
            "region": "us-east-1", "endpoint-url": moto_url}
    principals = {name: {"token-hash": hash_token(TOKENS[name]), "role": role}
                  for name, role in ROLES.items()}
    return {"connectors": {"aws-ec2": moto}, "principals": principals}


@pytest.fixture(scope="module")
def console(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    audit = tmp / "audit.jsonl"
    service = ServiceProcess(tmp, console_config(moto_server.url),
                             env={"EC2_CONNECTOR_AUDIT_FILE": str(audit)})
    with service:
        yield Console(service.url, audit, service)
