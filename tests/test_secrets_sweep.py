"""Secrets sweep: the secret key, session token and user data never leave the request.

Every action runs sync and as a job, through the library, the CLI (a subprocess) and the
HTTP service (a subprocess), with recognisable secret values on the request and in the
connector config, and `ec2_connector` logging at DEBUG to a file. Then every stdout,
stderr, log file, response envelope, repr and the raw bytes of the job database (and its
WAL) are searched for those values and their base64 forms: none may appear.

botocore and urllib3 log at DEBUG too: their records (request bodies with the user data,
headers with the session token) pass the connector's masking filter like its own.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call, Response
from tests.conftest import launch
from tests.harness import RefusingEndpoint, SilentServer
from tests.harness.service import ServiceProcess

ACCESS_KEY = "AKIASWEEPACCESSKEY00"
SECRET_KEY = "SWEEPSECRETKEY0123456789abcdefghijklmnop"
SESSION_TOKEN = "SWEEPSESSIONTOKEN/IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"
USER_DATA = "#!/bin/sh\necho SWEEPUSERDATA-7f3a9c > /etc/motd\n"
CREDENTIALS = {
    "access-key": ACCESS_KEY, "security-key": SECRET_KEY, "session-token": SESSION_TOKEN,
}


def needles() -> dict[str, bytes]:
    """What must never appear, in the clear or base64-encoded (once or twice)."""
    plain = {"security-key": SECRET_KEY, "session-token": SESSION_TOKEN,
             "user-data": "SWEEPUSERDATA-7f3a9c"}
    found = {name: value.encode() for name, value in plain.items()}
    once = base64.b64encode(USER_DATA.encode())
    found["user-data (base64)"] = once
    found["user-data (base64 twice)"] = base64.b64encode(once)
    found["security-key (base64)"] = base64.b64encode(SECRET_KEY.encode())
    return found


class Evidence:
    """Everything that left a call: texts by where they came from."""

    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def add(self, where: str, content: str | bytes) -> None:
        data = content.encode("utf-8", "replace") if isinstance(content, str) else content
        self.items[f"{len(self.items):03d} {where}"] = data

    def add_response(self, where: str, response: Response) -> None:
        self.add(f"{where} envelope", json.dumps(response.to_dict(), default=str))
        self.add(f"{where} repr", repr(response))
        self.add(f"{where} message", response.message)

    def add_files(self, where: str, folder: Path) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.add(f"{where} {path.name}", path.read_bytes())

    def assert_clean(self) -> None:
        leaks = [
            f"{name} in {where}"
            for where, data in self.items.items()
            for name, needle in needles().items()
            if needle in data
        ]
        assert not leaks, leaks
        assert len(self.items) > 10


def requests(mode: str, ids: list[str], group_id: str) -> list[dict[str, Any]]:
    """One request per action (and some twice), each valid against the endpoint."""
    port = {"sync": 22, "async": 23, "service": 24, "cli": 25}[mode]
    rule = {"security-group-id": group_id, "from-port": port, "cidr-block": "10.0.0.0/8"}
    calls: list[dict[str, Any]] = [
        {"action": "create-instance", "image-id": "", "instance-type": "t2.micro",
         "user-data": USER_DATA, "tags": {"Name": f"sweep-{mode}"}},
        {"action": "describe-instances", "instance-id": ids, "include-raw-body": True},
        {"action": "list-instances"},
        {"action": "modify-instance-attribute", "instance-id": ids[0],
         "attribute": "user-data", "attribute-value": USER_DATA, "include-raw-body": True},
        {"action": "stop-instances", "instance-id": ids[0]},
        {"action": "start-instances", "instance-id": ids[0]},
        {"action": "reboot-instances", "instance-id": ids[0]},
        {"action": "create-security-group", "group-name": f"sweep-{mode}",
         "group-description": "secrets sweep"},
        {"action": "describe-security-group", "group-id": group_id},
        {"action": "list-security-group"},
        {"action": "security-group-add-rule", **rule},
        {"action": "revoke-security-group-rule", **rule},
        {"action": "delete-security-group", "group-name": f"sweep-{mode}"},
        {"action": "create-tags", "resource-id": ids[0], "tag-key": mode, "tag-value": "1"},
        {"action": "describe-tags", "resource-id": ids[0]},
        {"action": "delete-tags", "resource-id": ids[0], "tag-key": mode},
        {"action": "terminate-instances", "instance-id": ids[1]},
    ]
    return [{**c, **CREDENTIALS} for c in calls]


def failing_requests(refused: str, silent: str) -> list[dict[str, Any]]:
    """Requests that fail in each way a message is built: the secrets ride along."""
    calls: list[dict[str, Any]] = [
        {"action": "no-such-action"},
        {"action": "describe-instances", "instance-idd": "i-0123456789abcdef0"},
        {"action": "stop-instances", "instance-id": "i-0123456789abcdef0"},
        {"action": "create-instance", "image-id": "ami-00000000", "instance-type": "t2.micro",
         "user-data": USER_DATA},
        {"action": "describe-instances", "endpoint-url": refused},
        {"action": "describe-instances", "endpoint-url": silent, "timeout": 300},
        {"action": "create-instance", "image-id": "ami-0123456789abcdef0",
         "instance-type": "t2.micro", "user-data": USER_DATA, "endpoint-url": silent,
         "timeout": 300},
    ]
    return [{**c, **CREDENTIALS} for c in calls]


@pytest.fixture
def world(ec2: Any, image_id: str) -> dict[str, Any]:
    """Instances and a group on the endpoint for the requests to act on."""
    ids = launch(ec2, image_id, 2)
    group = ec2.create_security_group(GroupName="sweep-base", Description="sweep")["GroupId"]
    return {"ids": ids, "group": group, "image": image_id}


@pytest.fixture
def hostile() -> Iterator[tuple[str, str]]:
    with RefusingEndpoint() as refused, SilentServer() as silent:
        yield refused.url, silent.url


def secret_config(endpoint: str) -> dict[str, Any]:
    connector = {"endpoint-url": endpoint, "region": "us-east-1", **CREDENTIALS}
    return {"connectors": {"aws-ec2": connector}}


def with_image(request: dict[str, Any], image: str) -> dict[str, Any]:
    return {**request, "image-id": request["image-id"] or image} if "image-id" in request \
        else request


def test_library_sync_and_async(
    endpoint: str, world: dict[str, Any], hostile: tuple[str, str], debug_log: Path,
    tmp_path: Path,
) -> None:
    evidence = Evidence()
    home = tmp_path / "home"
    call = Call(config=secret_config(endpoint), home=home, workers=4)
    for mode in ("sync", "async"):
        for request in requests(mode, world["ids"], world["group"]):
            run_one(call, with_image(request, world["image"]), mode, evidence)
    for request in failing_requests(*hostile):
        run_one(call, request, "sync", evidence)
        run_one(call, request, "async", evidence)
    evidence.add_files("home (open)", home)
    evidence.add("connector repr", repr(call.connectors.get("aws-ec2")))
    call.close()
    evidence.add_files("home (closed)", home)
    evidence.add("debug log", debug_log.read_bytes())
    # The log holds botocore's wire-level lines: headers with the token, bodies with data.
    assert b"DEBUG botocore.endpoint" in debug_log.read_bytes()
    assert b"X-Amz-Security-Token" in debug_log.read_bytes()
    evidence.assert_clean()


def run_one(call: Call, request: dict[str, Any], mode: str, evidence: Evidence) -> None:
    builder = call.connector("aws-ec2")
    for key, value in request.items():
        builder.set(key, value)
    evidence.add("builder repr", repr(builder))
    evidence.add("request repr", repr(builder.request()))
    where = f"{mode} {request['action']}"
    if mode == "sync":
        response = builder.sync()
    else:
        job = builder.async_()
        response = job.wait(30_000)
        evidence.add(f"{where} job", json.dumps(job.to_dict(), default=str) + repr(job))
    if "endpoint-url" not in request and request["action"] != "no-such-action" \
            and "instance-idd" not in request and "ami-00000000" not in str(request):
        assert response.exitcode in (0, 6), (where, response.message)
    evidence.add_response(where, response)


# --------------------------------------------------------------------------- CLI


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "ec2_connector.cli", *args], input=stdin, env=env,
        capture_output=True, text=True, timeout=60,
    )
    return result.stdout, result.stderr


def cli_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    config = tmp_path / "connectors.json"
    config.write_text(json.dumps(secret_config(endpoint)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EC2_CONNECTOR_")}
    return {**env, "EC2_CONNECTOR_HOME": str(tmp_path / "cli-home"),
            "EC2_CONNECTOR_CONFIG": str(config)}


def cli_runs(world: dict[str, Any], silent: str) -> list[tuple[list[str], str | None]]:
    """Command lines (and stdin) covering pairs, JSON pairs, stdin requests, jobs, errors."""
    creds = [f"{k}={v}" for k, v in CREDENTIALS.items()]
    create = {"action": "create-instance", "image-id": world["image"],
              "instance-type": "t2.micro", "user-data": USER_DATA, **CREDENTIALS}
    return [
        (["call", "describe-instances", *creds], None),
        (["call", "describe-instances", "--output", "table", *creds], None),
        (["call", "list-instances", "--output", "ndjson", *creds], None),
        (["call", "--request", "-"], json.dumps(create)),
        (["call", "--request", "-", "--wait-job"], json.dumps(create)),
        (["call", "create-instance", f"image-id={world['image']}", "instance-type=t2.micro",
          f"user-data={USER_DATA}", "--wait-job", *creds], None),
        (["call", "modify-instance-attribute", f"instance-id={world['ids'][0]}",
          "attribute=user-data", f"attribute-value={USER_DATA}", *creds], None),
        (["call", "describe-instances", f"security-key:={SECRET_KEY}"], None),
        (["call", "describe-instances", f"session-token:=[{SESSION_TOKEN}"], None),
        (["call", "describe-instances", f"endpoint-url={silent}", "--timeout", "300",
          *creds], None),
        (["call", "create-instance", f"image-id={world['image']}", "instance-type=t2.micro",
          f"user-data={USER_DATA}", f"endpoint-url={silent}", "--timeout", "300"], None),
        (["jobs", "list"], None),
    ]


def test_cli(endpoint: str, world: dict[str, Any], tmp_path: Path) -> None:
    evidence = Evidence()
    env = cli_env(tmp_path, endpoint)
    with SilentServer() as silent:
        for args, stdin in cli_runs(world, silent.url):
            out, err = run_cli(env, *args, stdin=stdin)
            evidence.add(f"cli {args[:2]} stdout", out)
            evidence.add(f"cli {args[:2]} stderr", err)
    assert '"exitcode": 0' in evidence.items[min(evidence.items)].decode()
    job_ids = [json.loads(line)["job-id"] for line in [
        run_cli(env, "call", "--request", "-", "--async",
                stdin=json.dumps({"action": "describe-instances", **CREDENTIALS}))[0]
    ]]
    for job_id in job_ids:
        out, err = run_cli(env, "jobs", "wait", job_id)
        evidence.add("cli jobs wait", out + err)
        out, err = run_cli(env, "jobs", "show", job_id)
        evidence.add("cli jobs show", out + err)
    evidence.add_files("cli home", tmp_path / "cli-home")
    evidence.assert_clean()


# --------------------------------------------------------------------------- service


def post(url: str, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return bytes(answer.read())


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return bytes(answer.read())


def test_service(endpoint: str, world: dict[str, Any], tmp_path: Path) -> None:
    evidence = Evidence()
    with ServiceProcess(tmp_path / "svc", secret_config(endpoint), log_level="DEBUG") as svc:
        base = f"{svc.url}/v1/connectors/aws-ec2"
        for request in requests("service", world["ids"], world["group"]):
            body = post(f"{base}/sync", with_image(request, world["image"]))
            assert json.loads(body)["exitcode"] in (0, 6), body
            evidence.add(f"service sync {request['action']}", body)
        job_ids = []
        for request in requests("service", world["ids"], world["group"])[:4]:
            accepted = json.loads(post(f"{base}/async", with_image(request, world["image"])))
            job_ids.append(accepted["job-id"])
        for job_id in job_ids:
            evidence.add("service job", wait_job(svc.url, job_id))
        evidence.add("service job list", get(f"{svc.url}/v1/jobs"))
        evidence.add_files("service home (open)", svc.home)
    for name, content in svc.outputs().items():
        evidence.add(f"service {name}", content)
    assert b"DEBUG" in svc.log_path.read_bytes() or svc.log_path.stat().st_size > 0
    assert b"X-Amz-Security-Token" in svc.log_path.read_bytes()  # botocore's DEBUG lines
    evidence.add_files("service home (closed)", svc.home)
    evidence.assert_clean()


def wait_job(url: str, job_id: str) -> bytes:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = get(f"{url}/v1/jobs/{job_id}")
        if json.loads(body)["status"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


# --------------------------------------------------------------------------- the model's secrets

# Why: GetPasswordData (allowed through call-operation, its name starts with Get) put
# `passwordData` in clear in the library's and the service's DEBUG logs: masking knew
# only user data, key material and console output. What botocore's model marks sensitive
# is masked now: a Windows password, a VPN connection's configuration and its keys.
WINDOWS_IMAGE = "ami-03cf127a"  # one of moto's Windows images: it answers GetPasswordData
MOTO_PSK = b"Iw2IAN9XUsQeYUrkMGP3kP59ugFDkfHg"  # in every VPN configuration moto makes
# A password element or member holding anything but the mask (a worker's is unknown).
PASSWORD = re.compile(rb'<passwordData>(?!\*\*\*<)|"PasswordData": "(?!\*\*\*")')


@pytest.fixture
def model_secrets(ec2: Any) -> list[dict[str, Any]]:
    """Two call-operation requests whose answers hold what the model marks sensitive."""
    instance = ec2.run_instances(ImageId=WINDOWS_IMAGE, MinCount=1, MaxCount=1,
                                 InstanceType="t2.micro")["Instances"][0]["InstanceId"]
    assert len(ec2.get_password_data(InstanceId=instance)["PasswordData"]) > 50
    gateway = ec2.create_customer_gateway(BgpAsn=65000, PublicIp="203.0.113.9",
                                          Type="ipsec.1")["CustomerGateway"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    vpn = ec2.create_vpn_connection(CustomerGatewayId=gateway["CustomerGatewayId"],
                                    VpnGatewayId=vgw, Type="ipsec.1")["VpnConnection"]
    assert MOTO_PSK.decode() in vpn["CustomerGatewayConfiguration"]
    return [
        {"action": "call-operation", "operation": "GetPasswordData",
         "parameters": {"InstanceId": instance}, "include-raw-body": True},
        {"action": "call-operation", "operation": "DescribeVpnConnections",
         "parameters": {"VpnConnectionIds": [vpn["VpnConnectionId"]]},
         "include-raw-body": True},
    ]


def model_needles(evidence: Evidence, passwords: list[str]) -> None:
    """The model's secrets (and the usual ones) appear nowhere in the evidence."""
    leaks = [f"{name} in {where}" for where, data in evidence.items.items()
             for name, needle in [*needles().items(), ("vpn pre-shared key", MOTO_PSK),
                                  *((f"password {n}", p.encode())
                                    for n, p in enumerate(passwords))]
             if needle in data]
    leaks += [f"a password element in {w}" for w, d in evidence.items.items()
              if PASSWORD.search(d)]
    assert not leaks, leaks


def test_the_models_secrets_at_debug_in_the_library_and_its_jobs(
    endpoint: str, model_secrets: list[dict[str, Any]], debug_log: Path, tmp_path: Path
) -> None:
    evidence, passwords = Evidence(), []
    home = tmp_path / "home"
    with Call(config=secret_config(endpoint), home=home) as call:
        for request in model_secrets:
            builder = call.connector("aws-ec2")
            for key, value in {**request, **CREDENTIALS}.items():
                builder.set(key, value)
            response = builder.sync()
            assert response.exitcode == 0, response.message
            result = response.get("result")
            if "PasswordData" in result:
                passwords.append(result["PasswordData"])  # a sync caller gets its secret
            else:
                assert MOTO_PSK.decode() in result["VpnConnections"][0][
                    "CustomerGatewayConfiguration"]
            # Its data is the caller's; the rest of it holds no secret (raw-body included).
            evidence.add(f"{request['operation']} message and meta",
                         response.message + json.dumps(response.meta, default=str))
            evidence.add(f"{request['operation']} repr", repr(response))
            job = builder.async_()
            done = job.wait(30_000)
            assert done.exitcode == 0, done.message
            evidence.add_response(f"{request['operation']} job", done)
            evidence.add("job record", json.dumps(job.to_dict(), default=str) + repr(job))
            evidence.add("builder repr", repr(builder) + repr(builder.request()))
        evidence.add_files("home (open)", home)
    log = debug_log.read_bytes()
    evidence.add("debug log", log)
    # The bodies really were logged, masked: botocore's DEBUG lines for both operations.
    assert log.count(b"<passwordData>***</passwordData>") >= 2, log[-3000:]
    assert b"<customerGatewayConfiguration>***</customerGatewayConfiguration>" in log
    assert len(passwords) == 1 and len(passwords[0]) > 50
    model_needles(evidence, passwords)


def test_the_models_secrets_at_debug_in_the_service(
    endpoint: str, model_secrets: list[dict[str, Any]], tmp_path: Path
) -> None:
    evidence, passwords = Evidence(), []
    with ServiceProcess(tmp_path / "svc", secret_config(endpoint), log_level="DEBUG") as svc:
        base = f"{svc.url}/v1/connectors/aws-ec2"
        for request in model_secrets:
            body = json.loads(post(f"{base}/sync", {**request, **CREDENTIALS}))
            assert body["exitcode"] == 0, body
            passwords += [body["data"]["result"].get("PasswordData")] * (
                request["operation"] == "GetPasswordData")
            accepted = json.loads(post(f"{base}/async", {**request, **CREDENTIALS}))
            evidence.add("service job", wait_job(svc.url, accepted["job-id"]))
        evidence.add_files("service home", svc.home)
    outputs = svc.outputs()
    for name, content in outputs.items():
        evidence.add(f"service {name}", content)
    assert b"<passwordData>***</passwordData>" in svc.log_path.read_bytes()
    assert len(passwords) == 1 and len(passwords[0]) > 50
    model_needles(evidence, passwords)


def redis_contents(url: str) -> bytes:
    """Every key of the job store and broker, with its whole value."""
    import redis

    client = redis.Redis.from_url(url)
    readers = {b"string": client.get, b"hash": client.hgetall, b"set": client.smembers,
               b"list": lambda k: client.lrange(k, 0, -1),
               b"zset": lambda k: client.zrange(k, 0, -1, withscores=True),
               b"stream": lambda k: client.xrange(k)}
    try:
        found = []
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"none":  # gone since it was listed (the worker still runs)
                continue
            found.append(key + b" " + repr(readers[kind](key)).encode())
        return b"\n".join(found)
    finally:
        client.close()


def test_the_models_secrets_at_debug_in_a_worker_and_redis(
    redis_server: Any, endpoint: str, model_secrets: list[dict[str, Any]], tmp_path: Path
) -> None:
    from tests.harness.cli import clean_env
    from tests.harness.processes import terminate

    redis_server.flush()
    config = tmp_path / "workers.json"
    config.write_text(json.dumps(secret_config(endpoint)))
    log = tmp_path / "worker.log"
    env = {**clean_env(tmp_path / "worker-home"), "EC2_CONNECTOR_CONFIG": str(config)}
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "ec2_connector.cli", "worker", "--broker", redis_server.url,
             "--concurrency", "2", "--loglevel", "DEBUG"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    evidence = Evidence()
    try:
        with Call(config=secret_config(endpoint), broker=redis_server.url) as call:
            for request in model_secrets:
                builder = call.connector("aws-ec2")
                for key, value in request.items():
                    builder.set(key, value)
                job = builder.async_()
                done = job.wait(60_000)
                assert done.exitcode == 0, done.message
                evidence.add("worker job", json.dumps(job.to_dict(), default=str))
        stored = redis_contents(redis_server.url)
    finally:
        terminate(worker)
    evidence.add("redis", stored)
    evidence.add("worker log", log.read_bytes())
    assert b"<passwordData>***</passwordData>" in log.read_bytes(), log.read_bytes()[-2000:]
    assert b'"PasswordData": "***"' in stored  # the records are there, masked
    model_needles(evidence, [])
