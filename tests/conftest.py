"""Shared fixtures: a real EC2-compatible endpoint (moto's server) on a free loopback port."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ec2_connector import Call
from ec2_connector.jobs.store import SQLiteJobStore
from tests.harness.faults import free_port
from tests.harness.processes import terminate
from tests.harness.redis import RedisServer

# Nothing in the suite may reach AWS: fake credentials, no instance metadata lookups.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"):
    os.environ.pop(_name, None)

# The files that take longest (summed test times of a full run, slowest first). The
# suite runs a file per process at a time (./dev test): starting these first keeps one
# of them from running alone at the end while the other processes sit idle.
SLOW_FIRST = (
    "tests/jobs/test_workers.py", "tests/test_fanout.py", "tests/test_secrets_sweep.py",
    "tests/test_fuzz.py", "tests/transport/test_deadlines.py", "tests/test_call.py",
    "tests/service/test_sharing.py", "tests/transport/test_xmlparser.py",
    "tests/jobs/test_lifecycle.py", "tests/service/console/test_browser.py",
    "tests/cli/test_cli.py", "tests/transport/test_faults.py", "tests/test_exit.py",
    "tests/service/test_admission.py", "tests/actions/test_instances.py",
    "tests/sandbox/test_server.py", "tests/sandbox/test_demo.py",
)
ROOT = Path(__file__).resolve().parents[1]

# A suite started as a script's background job (`./dev test &`) has SIGINT ignored, and
# every command it starts would inherit that (and, rightly, keep ignoring Ctrl-C): the
# Ctrl-C tests would then test nothing. With a handler here instead, the commands start
# with SIGINT as a terminal's foreground process has it (exec resets handled signals).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(ROOT).as_posix(), len(rank)))


MOTO_ENV = {
    "MOTO_ENABLE_AMI_VALIDATION": "true",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
}



class MotoServer:
    """moto's server mode in a child process: EC2 over HTTP with SigV4, as AWS would be."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **MOTO_ENV, **(extra_env or {})}
        # moto's server, its requests taking turns (tests/harness/moto_serial.py).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.moto_serial", "-H", "127.0.0.1",
             "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto server exited at start") from None
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self) -> None:
        # It waits for the threads of idle keep-alive connections that clients still hold
        # (10 s at the end of every run): nothing it holds needs a clean exit.
        terminate(self.proc, grace=1)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port (the broker and shared job store)."""
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def endpoint(moto_server: MotoServer) -> str:
    """The endpoint URL, with the server reset to a clean account for this test."""
    moto_server.reset()
    return moto_server.url


@pytest.fixture
def config(endpoint: str) -> dict[str, Any]:
    return {
        "connectors": {
            "aws-ec2": {
                "type": "aws-ec2",
                "access-key": "AKIAEXAMPLEEXAMPLE00",
                "security-key": "test-secret-key-value",
                "region": "us-east-1",
                "endpoint-url": endpoint,
            }
        }
    }


@pytest.fixture
def call(config: dict[str, Any], tmp_path: Any) -> Iterator[Call]:
    with Call(config=config, home=tmp_path / "home") as c:
        yield c


@pytest.fixture
def ec2(endpoint: str) -> Any:
    """A plain boto3 client, to read back what the endpoint really holds."""
    return boto3.client(
        "ec2", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


_IMAGE: dict[str, str] = {}


@pytest.fixture
def image_id(ec2: Any) -> str:
    if "id" not in _IMAGE:
        images = ec2.describe_images(Owners=["amazon"])["Images"]
        _IMAGE["id"] = sorted(i["ImageId"] for i in images)[0]
    return _IMAGE["id"]


def all_instances(ec2: Any) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_instances").paginate()
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def launch(ec2: Any, image_id: str, count: int = 1) -> list[str]:
    result = ec2.run_instances(ImageId=image_id, MinCount=count, MaxCount=count,
                               InstanceType="t2.micro")
    return [i["InstanceId"] for i in result["Instances"]]


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """ec2_connector, botocore and urllib3 at DEBUG into a file."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    ours, botocore, root = (logging.getLogger(n) for n in ("ec2_connector", "botocore", ""))
    saved = (ours.level, botocore.level, root.level)
    ours.setLevel(logging.DEBUG)
    botocore.setLevel(logging.DEBUG)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield path
    root.removeHandler(handler)
    handler.close()
    ours.setLevel(saved[0])
    botocore.setLevel(saved[1])
    root.setLevel(saved[2])


@pytest.fixture(params=["sqlite", "redis"])
def job_store(request: Any, tmp_path: Path) -> Iterator[Any]:
    """Each store, empty: SQLite in a fresh folder, Redis flushed."""
    if request.param == "sqlite":
        made: Any = SQLiteJobStore(tmp_path)
    else:
        from ec2_connector.jobs.redis import RedisJobStore

        server = request.getfixturevalue("redis_server")
        server.flush()
        made = RedisJobStore(server.url)
    yield made
    made.close()
