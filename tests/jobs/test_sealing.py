"""A request's secret parameters through remote workers, sealed with a shared key.

Real parts only: a real redis-server as broker and store, moto's server as EC2, a real
`ec2-connector worker` process and the real command for the end-to-end run; the
in-process runs call `lifecycle.run` as a worker does, against a capture endpoint that
records anything sent.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ec2_connector import Call
from ec2_connector.config import Connectors
from ec2_connector.errors import AuthError, InvalidRequest
from ec2_connector.jobs import lifecycle, sealing
from ec2_connector.jobs.manager import JobManager
from ec2_connector.jobs.record import JobStatus, new_holder
from ec2_connector.request import Request
from ec2_connector.runtime import Runtime
from ec2_connector.settings import Settings
from tests.harness import CaptureServer
from tests.harness.calls import config_for
from tests.harness.cli import clean_env
from tests.harness.workers import Worker

KEY = sealing.new_key()
OTHER_KEY = sealing.new_key()
CLOUD_INIT = b"#cloud-config\nruncmd:\n  - echo SealedMarker7f3a > /etc/motd\n"
USER_DATA = gzip.compress(CLOUD_INIT, mtime=0)


def forms(value: bytes) -> list[bytes]:
    """The ways a secret could sit in Redis: as is, base64 once and twice, as text."""
    once = base64.b64encode(value)
    return [value, once, base64.b64encode(once), b"SealedMarker7f3a", CLOUD_INIT]


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def manager(broker: str, endpoint: str, key: str | None) -> JobManager:
    return JobManager(Connectors(config_for(endpoint, region="us-east-1")), broker=broker,
                      settings=Settings(seal_key=key))


def create(image_id: str = "ami-12345678", **extra: Any) -> Request:
    params = {"image-id": image_id, "instance-type": "t2.micro", "user-data": USER_DATA,
              **extra}
    return Request("aws-ec2", "create-instance", params)


def redis_bytes(broker: str) -> bytes:
    """Every key of the Redis and every value under it, whatever its type."""
    import redis

    client = redis.Redis.from_url(broker)
    out: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"hash":
            out += [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == b"list":
            out += client.lrange(key, 0, -1)
        elif kind == b"set":
            out += list(client.smembers(key))
        elif kind == b"zset":
            out += client.zrange(key, 0, -1)
        elif kind == b"stream":
            out += [repr(e).encode() for e in client.xrange(key)]
        out.append(key)
    client.close()
    return b"\n".join(out)


# ------------------------------------------------------------------ seal and open

def test_sealed_values_open_with_the_key_only_bytes_and_text_alike() -> None:
    values = {"user-data": USER_DATA, "security-key": "RequestSecret123"}
    token = sealing.seal(values, KEY)
    assert sealing.open_sealed(token, KEY) == values
    assert isinstance(sealing.open_sealed(token, KEY)["user-data"], bytes)
    for form in [*forms(USER_DATA), b"RequestSecret123"]:
        assert form not in token.encode()
    with pytest.raises(AuthError) as wrong:
        sealing.open_sealed(token, OTHER_KEY)
    assert wrong.value.exit_code == 5 and sealing.SETTING in wrong.value.message
    assert OTHER_KEY not in wrong.value.message and "\n" not in wrong.value.message
    with pytest.raises(InvalidRequest, match=sealing.SETTING):
        sealing.open_sealed(token, None)
    altered = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    with pytest.raises(AuthError):
        sealing.open_sealed(altered, KEY)


def test_keys_rotate_the_first_seals_and_any_opens() -> None:
    old = sealing.seal({"user-data": "x" * 8}, OTHER_KEY)
    rotated = f"{KEY}, {OTHER_KEY}"
    assert sealing.open_sealed(old, rotated) == {"user-data": "x" * 8}
    new = sealing.seal({"user-data": "y" * 8}, rotated)
    assert sealing.open_sealed(new, KEY) == {"user-data": "y" * 8}
    with pytest.raises(AuthError):
        sealing.open_sealed(new, OTHER_KEY)


def test_a_key_that_is_not_a_fernet_key_is_refused_without_being_echoed() -> None:
    bad = "NotAKeyButASecretAnyway1234"
    with pytest.raises(InvalidRequest) as refused:
        sealing.seal({"user-data": "x"}, bad)
    assert sealing.SETTING in refused.value.message and bad not in refused.value.message
    assert refused.value.exit_code == 2


def test_the_key_is_a_setting_and_never_in_a_repr() -> None:
    settings = Settings.from_env({"EC2_CONNECTOR_SEAL_KEY": KEY})
    assert settings.seal_key == KEY
    assert KEY not in repr(settings)


# ------------------------------------------------------------------ submission

def test_without_the_key_the_refusal_names_the_parameters_and_the_setting(
    broker: str, endpoint: str
) -> None:
    with Call(config=config_for(endpoint), broker=broker) as call:
        job = (call.connector("aws-ec2").set("action", "create-instance")
               .set("image-id", "ami-12345678").set("instance-type", "t2.micro")
               .set("user-data", USER_DATA).async_())
        response = job.wait()
        assert response.exitcode == 2
        assert "'user-data'" in response.message and sealing.SETTING in response.message
        assert "credentials" not in response.message  # no advice that fits no cloud-init
        creds = (call.connector("aws-ec2").set("action", "list-instances")
                 .set("access-key", "AKIAEXAMPLE").set("security-key", "RequestSecret123")
                 .async_().wait())
        assert creds.exitcode == 2
        assert "'access-key', 'security-key'" in creds.message
        assert "workers' connector config" in creds.message
        assert "RequestSecret123" not in creds.message
        assert call.jobs.list() == []
    held = redis_bytes(broker)
    assert all(form not in held for form in [*forms(USER_DATA), b"RequestSecret123"])


def test_a_bad_key_refuses_the_job_before_anything_is_stored(broker: str,
                                                            endpoint: str) -> None:
    jobs = manager(broker, endpoint, "too-short")
    try:
        with pytest.raises(InvalidRequest, match=sealing.SETTING):
            jobs.submit(create())
        assert jobs.list() == []
    finally:
        jobs.close()


def test_the_record_holds_ciphertext_only_and_shows_none_of_it(broker: str,
                                                             endpoint: str) -> None:
    jobs = manager(broker, endpoint, KEY)
    try:
        job = jobs.submit(create(**{"security-key": "RequestSecret123",
                                    "access-key": "AKIAEXAMPLE"}))
        record = job.record()
        assert record.sealed and not record.secrets_held
        assert set(sealing.open_sealed(record.sealed, KEY)) == {
            "user-data", "security-key", "access-key"}
        assert {"user-data", "security-key", "access-key"}.isdisjoint(record.params)
        shown = json.dumps(job.to_dict())
        assert job.to_dict()["secrets-sealed"] is True and record.sealed not in shown
        assert record.sealed not in repr(record)
    finally:
        jobs.close()
    import redis

    client = redis.Redis.from_url(broker)
    assert client.llen("ec2-connector") == 1  # the broker's message is in the scan too
    client.close()
    held = redis_bytes(broker)
    for form in [*forms(USER_DATA), b"RequestSecret123", b"AKIAEXAMPLE"]:
        assert form not in held


# ------------------------------------------------------------------ the worker's side

def run_as_worker(broker: str, config: dict[str, Any], job_id: str,
                  key: str | None) -> Any:
    from ec2_connector.jobs.redis import RedisJobStore

    store = RedisJobStore(broker)
    leases = lifecycle.Leases(store, 30)
    runtime = Runtime(Settings(seal_key=key))
    try:
        return lifecycle.run(job_id, store, Connectors(config), new_holder(), leases,
                             runtime=runtime), store.get(job_id)
    finally:
        leases.stop()
        store.close()


@pytest.mark.parametrize(("key", "exitcode"), [(None, 2), (OTHER_KEY, 5)],
                         ids=["no-key", "other-key"])
def test_a_worker_without_the_key_fails_the_job_and_sends_nothing(
    broker: str, capture: CaptureServer, key: str | None, exitcode: int
) -> None:
    config = config_for(capture.url, region="us-east-1")
    jobs = JobManager(Connectors(config), broker=broker, settings=Settings(seal_key=KEY))
    try:
        job = jobs.submit(create())
    finally:
        jobs.close()
    response, record = run_as_worker(broker, config, job.id, key)
    assert response.exitcode == exitcode and sealing.SETTING in response.message
    assert "\n" not in response.message and OTHER_KEY not in response.message
    assert capture.captured == []  # nothing sent
    assert record.status is JobStatus.FAILED and record.sealed is None  # erased


def test_the_claiming_worker_opens_the_secrets_and_erases_them_at_the_end(
    broker: str, capture: CaptureServer
) -> None:
    config = config_for(capture.url, region="us-east-1")
    jobs = JobManager(Connectors(config), broker=broker, settings=Settings(seal_key=KEY))
    try:
        job = jobs.submit(create())
    finally:
        jobs.close()
    response, record = run_as_worker(broker, config, job.id, KEY)
    assert record.sealed is None and record.status.done
    # What reached the endpoint carries the user data as EC2 takes it (base64, in a form).
    sent = quote(base64.b64encode(USER_DATA).decode(), safe="-_.~").encode()
    assert sent in capture.everything(), response.message


def test_an_interrupted_sealed_job_resumes_with_its_secrets_sealed_again(
    broker: str, endpoint: str
) -> None:
    jobs = manager(broker, endpoint, KEY)
    try:
        job = jobs.submit(create())
        token = job.record().sealed
        # A worker claims it and vanishes, three times: twice the create is queued again
        # (a rerun by its client token), its secrets still sealed; then it stays
        # interrupted, for a person to resume.
        for reruns in (1, 2, 2):
            assert jobs.store.claim(job.id, new_holder(), 0.05) is not None
            time.sleep(0.1)
            record = job.record()
            assert record.reruns == reruns and record.sealed == token
        assert record.status is JobStatus.INTERRUPTED
        resumed = jobs.resume(job.id)
        again = resumed.record()
        assert again.sealed and again.sealed != job.record().sealed
        assert sealing.open_sealed(again.sealed, KEY) == {"user-data": USER_DATA}
        assert job.record().sealed is None  # the old job's token went with it
    finally:
        jobs.close()


# ------------------------------------------------------------------ end to end

def test_sealed_user_data_through_a_real_worker_and_redis(
    broker: str, config_file: Path, endpoint: str, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    from tests.harness.service import ServiceProcess

    # At DEBUG, botocore logs the request it sends: the user data must be masked there.
    worker = Worker(broker, config_file, tmp_path / "worker.log", concurrency=2,
                    flags=("--loglevel", "DEBUG"), EC2_CONNECTOR_SEAL_KEY=KEY)
    service = ServiceProcess(tmp_path / "svc", config_for(endpoint, region="us-east-1"),
                             env={"EC2_CONNECTOR_BROKER": broker,
                                  "EC2_CONNECTOR_SEAL_KEY": KEY})
    try:
        service.start()
        worker.wait_ready()
        by_cli, cli_record = _through_the_command(broker, config_file, image_id, tmp_path)
        by_service, service_record = _through_the_service(service.url, image_id)
    finally:
        service.stop()
        worker.stop()
    everything = redis_bytes(broker)
    for record in (cli_record, service_record):  # the scan does see the jobs' keys
        assert record["job-id"].encode() in everything
    log = worker.log.read_bytes()
    assert b"RunInstances" in log  # the DEBUG lines about the launch are there
    seen = [*by_cli, *by_service, log, *service.outputs().values(), everything]
    for form in [*forms(USER_DATA), *forms(SERVICE_USER_DATA)]:
        assert all(form not in out for out in seen), form[:20]
    for record, sent in ((cli_record, USER_DATA), (service_record, SERVICE_USER_DATA)):
        assert record["status"] == "succeeded" and record["secrets-sealed"] is False
        instance = record["response"]["data"]["instance-info"][0]["instance-id"]
        held = ec2.describe_instance_attribute(InstanceId=instance, Attribute="userData")
        assert base64.b64decode(held["UserData"]["Value"]) == sent  # byte for byte


SERVICE_USER_DATA = b"#!/bin/sh\necho ServiceMarker9c1d > /tmp/ready\n"


def _through_the_command(broker: str, config_file: Path, image_id: str,
                         tmp_path: Path) -> tuple[list[bytes], dict[str, Any]]:
    """Gzip'd cloud-init from a file, `call --async --broker`, `jobs wait`, `jobs show`."""
    cloud_init = tmp_path / "cloud-init.gz"
    cloud_init.write_bytes(USER_DATA)
    env = {**clean_env(tmp_path / "cli"), "EC2_CONNECTOR_CONFIG": str(config_file),
           "EC2_CONNECTOR_SEAL_KEY": KEY}
    cli = [sys.executable, "-m", "ec2_connector.cli"]
    submitted = subprocess.run(
        [*cli, "call", "create-instance", f"image-id={image_id}", "instance-type=t2.micro",
         f"user-data=@{cloud_init}", "--async", "--broker", broker], env=env,
        capture_output=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["job-id"]
    waited = subprocess.run([*cli, "jobs", "wait", job_id, "--broker", broker], env=env,
                            capture_output=True, timeout=60)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    shown = subprocess.run([*cli, "jobs", "show", job_id, "--broker", broker], env=env,
                           capture_output=True, timeout=60)
    return [submitted.stdout, submitted.stderr, waited.stdout, waited.stderr,
            shown.stderr, shown.stdout], json.loads(shown.stdout)


def _through_the_service(url: str, image_id: str) -> tuple[list[bytes], dict[str, Any]]:
    """The same through `POST /v1/connectors/{name}/async`, read back by `GET /v1/jobs`."""
    import httpx

    accepted = httpx.post(f"{url}/v1/connectors/aws-ec2/async", timeout=30, json={
        "action": "create-instance", "image-id": image_id, "instance-type": "t2.micro",
        "user-data": SERVICE_USER_DATA.decode()})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job-id"]
    bodies = [accepted.content]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30)
        bodies.append(shown.content)
        if shown.json()["status"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    listed = httpx.get(f"{url}/v1/jobs", timeout=30)
    return [*bodies, listed.content], shown.json()
