"""The shared service: principals and roles, their limits, job isolation, the audit trail
and /metrics, on a real uvicorn process against moto, read back with plain boto3."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ec2_connector.actions import catalog
from ec2_connector.service.principals import hash_token
from tests.conftest import MotoServer, free_port, launch
from tests.harness import CannedEC2Server, SilentServer, SlowServer
from tests.harness.cli import clean_env
from tests.harness.metrics import LABELS, grown, key, label_values, parse, scrape
from tests.harness.processes import terminate
from tests.harness.redis import RedisServer
from tests.harness.service import ServiceProcess, wait_healthy

SECRET = "PrincipalsTestSecretKey/0123456789"
LEGACY = "legacy-service-token-0123456789abcdef"


@dataclass
class Shared:
    url: str
    tokens: dict[str, str]
    audit: Path
    config: Path
    env: dict[str, str]
    canned: CannedEC2Server  # counts every request that reaches it

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def sync(self, who: str, body: dict[str, Any], connector: str = "aws-ec2") -> httpx.Response:
        with self.client(who) as client:
            return client.post(f"/v1/connectors/{connector}/sync", json=body)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ec2_connector.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def create(env: dict[str, str], config: Path, name: str, *options: str) -> str:
    done = cli(env, "token", "create", name, *options, "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "shown this once" in done.stderr and done.stdout.count("\n") == 1
    return done.stdout.strip()


def start(tmp: Path, env: dict[str, str], config: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    with (tmp / "service.log").open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ec2_connector.cli", "serve", "--port", str(port),
             "--config", str(config)], env=env, stdout=sink, stderr=subprocess.STDOUT)
    env["URL"] = f"http://127.0.0.1:{port}"
    wait_healthy(env["URL"], proc)
    return proc


@pytest.fixture(scope="module")
def shared(moto_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    tmp = tmp_path_factory.mktemp("shared")
    config = tmp / "service.json"
    moto = {"access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": SECRET,
            "region": "us-east-1", "endpoint-url": moto_server.url}
    canned = CannedEC2Server(instances=3, detail="basic").start()
    counted = {**moto, "endpoint-url": canned.url, "max-attempts": 1,
               "allow-operations": ["StopInstances"]}
    config.write_text(json.dumps({"connectors": {"aws-ec2": moto, "other": moto,
                                                 "counted": counted}}))
    env = clean_env(tmp)
    tokens = {
        "viewer": create(env, config, "viewer", "--role", "viewer"),
        "ops": create(env, config, "ops", "--role", "operator",
                      "--connectors", "aws-ec2", "counted",
                      "--actions", "stop-*", "start-*", "describe-*", "call-operation",
                      "--max-targets", "2"),
        "boss": create(env, config, "boss", "--role", "admin"),
        "token": LEGACY,
    }
    audit = tmp / "audit.jsonl"
    env = {**env, "EC2_CONNECTOR_TOKEN": LEGACY, "EC2_CONNECTOR_AUDIT_FILE": str(audit),
           "EC2_CONNECTOR_CALLBACK_URLS": "http://127.0.0.1:",
           "EC2_CONNECTOR_CALLBACK_ATTEMPTS": "3", "EC2_CONNECTOR_CALLBACK_BACKOFF_MS": "100",
           "EC2_CONNECTOR_CALLBACK_TIMEOUT_MS": "2000"}
    proc = start(tmp, env, config)
    try:
        yield Shared(env.pop("URL"), tokens, audit, config, env, canned)
    finally:
        terminate(proc)
        canned.stop()


def states(ec2: Any, ids: list[str]) -> list[str]:
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    by_id = {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}
    return [by_id[i] for i in ids]


def audit_lines(shared: Shared) -> list[dict[str, Any]]:
    return [json.loads(line) for line in shared.audit.read_text().splitlines()]


def refused(response: httpx.Response, rule_words: str) -> str:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["exitcode"] == 2 and body["data"] == {} and "\n" not in body["message"]
    assert body["message"].startswith("forbidden:") and rule_words in body["message"]
    return str(body["message"])


KINDS = {  # each kind of action, on the counting endpoint
    "read": lambda ids: {"action": "describe-instances"},
    "mutate": lambda ids: {"action": "stop-instances", "instance-id": ids[:1]},
    "mutate-many": lambda ids: {"action": "terminate-instances", "instance-id": ids},
    "call-operation": lambda ids: {"action": "call-operation", "operation": "StopInstances",
                                   "parameters": {"InstanceIds": ids[:1]}},
}
EXPECTED = {  # the rule that refuses it, or None: allowed
    "viewer": {"read": None, "mutate": "role", "mutate-many": "role", "call-operation": "role"},
    "ops": {"read": None, "mutate": None, "mutate-many": "actions",
            "call-operation": "call-operation-mutate"},
    "boss": {"read": None, "mutate": None, "mutate-many": None, "call-operation": None},
}


@pytest.mark.parametrize("who", list(EXPECTED))
def test_each_role_against_each_kind_of_action(shared: Shared, who: str) -> None:
    ids = list(shared.canned.instance_ids)
    for kind, body in KINDS.items():
        before = shared.canned.requests_served
        answer = shared.sync(who, body(ids), "counted")
        rule = EXPECTED[who][kind]
        line = audit_lines(shared)[-1]
        assert (line["principal"], line["action"], line.get("rule")) == (
            who, body(ids)["action"], rule), kind
        if rule is None:
            assert answer.status_code == 200 and answer.json()["exitcode"] == 0, answer.text
            assert shared.canned.requests_served > before and line["request-ids"]
        else:
            refused(answer, "forbidden")
            assert shared.canned.requests_served == before, f"{who} {kind}: sent to EC2"
            assert line["status"] == 403 and line["exitcode"] == 2


def test_viewer_reads_but_is_refused_a_stop(shared: Shared, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id)
    listed = shared.sync("viewer", {"action": "describe-instances"})
    assert listed.status_code == 200 and listed.json()["exitcode"] == 0
    assert [i["instance-id"] for i in listed.json()["data"]["instances-info"]] == ids
    message = refused(shared.sync("viewer", {"action": "stop-instances", "instance-id": ids}),
                      "read-only")
    assert "'viewer' (viewer)" in message
    assert states(ec2, ids) == ["running"]  # nothing was sent to EC2
    line = audit_lines(shared)[-1]
    assert line["principal"] == "viewer" and line["action"] == "stop-instances"
    assert line["status"] == 403 and line["rule"] == "role" and line["targets"] == ids
    assert line["exitcode"] == 2 and line["message"] == message


def test_operator_limits(shared: Shared, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 3)
    refused(shared.sync("ops", {"action": "describe-instances"}, "other"),
            "may not use connector 'other'")
    refused(shared.sync("ops", {"action": "terminate-instances", "instance-id": ids[0]}),
            "may not run 'terminate-instances'")
    refused(shared.sync("ops", {"action": "stop-instances", "instance-id": ",".join(ids)}),
            "at most 2 resources per request, not 3")
    refused(shared.sync("ops", {"action": "call-operation", "operation": "StopInstances",
                                "parameters": {"InstanceIds": ids[:1]}}),
            "may not run 'StopInstances' with call-operation")
    refused(shared.sync("ops", {"action": "describe-instances", "connectors": ["other"]}),
            "connector 'other'")
    assert states(ec2, ids) == ["running"] * 3
    stopped = shared.sync("ops", {"action": "stop-instances", "instance-id": ids[:2]})
    assert stopped.status_code == 200 and stopped.json()["exitcode"] == 0
    assert states(ec2, ids) == ["stopped", "stopped", "running"]
    rules = [line.get("rule") for line in audit_lines(shared)[-6:]]
    assert rules == ["connectors", "actions", "max-targets", "call-operation-mutate",
                     "connectors", None]
    success = audit_lines(shared)[-1]
    assert success["status"] == 200 and success["exitcode"] == 0 and success["request-ids"]
    assert success["targets"] == ids[:2] and success["regions"] == ["us-east-1"]


def test_admin_and_the_legacy_token_may_do_anything(
        shared: Shared, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 3)
    legacy = shared.sync("token", {"action": "stop-instances", "instance-id": ids})
    assert legacy.status_code == 200 and legacy.json()["exitcode"] == 0
    gone = shared.sync("boss", {"action": "terminate-instances", "instance-id": ids})
    assert gone.status_code == 200 and gone.json()["exitcode"] == 0
    assert states(ec2, ids) == ["terminated"] * 3
    assert [line["principal"] for line in audit_lines(shared)[-2:]] == ["token", "boss"]


def test_a_principal_sees_only_its_own_jobs(shared: Shared, ec2: Any) -> None:
    with shared.client("ops") as ops:
        accepted = ops.post("/v1/connectors/aws-ec2/async", json={"action": "describe-vpc"})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job-id"]
        assert ops.get(f"/v1/jobs/{job_id}").json()["submitted-by"] == "ops"
        assert job_id in [j["job-id"] for j in ops.get("/v1/jobs").json()]
    with shared.client("viewer") as viewer:
        hidden = viewer.get(f"/v1/jobs/{job_id}")
        assert hidden.status_code == 404 and job_id in hidden.json()["message"]
        assert viewer.get(f"/v1/jobs/{job_id[:8]}").status_code == 404
        assert job_id not in [j["job-id"] for j in viewer.get("/v1/jobs").json()]
    for admin in ("boss", "token"):
        with shared.client(admin) as client:
            seen = client.get(f"/v1/jobs/{job_id}")
            assert seen.status_code == 200 and seen.json()["submitted-by"] == "ops"
            assert job_id in [j["job-id"] for j in client.get("/v1/jobs").json()]
    line = audit_lines(shared)[-1]
    assert line["job-id"] == job_id and line["status"] == 202 and line["principal"] == "ops"


def test_tokens_are_checked_and_the_schema_needs_one(shared: Shared) -> None:
    assert httpx.get(shared.url + "/openapi.json").status_code == 401
    assert httpx.get(shared.url + "/metrics").status_code == 401
    wrong = httpx.get(shared.url + "/v1/actions", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    with shared.client("viewer") as client:
        schema = client.get("/openapi.json")
        assert schema.status_code == 200 and "/v1/connectors/{name}/sync" in schema.json()["paths"]
    hashed = shared.config.read_text()
    assert all(token not in hashed for token in shared.tokens.values())


def test_metrics_count_a_known_workload(shared: Shared, ec2: Any) -> None:
    with shared.client("viewer") as viewer, shared.client("ops") as ops:
        before = scrape(viewer)
        for _ in range(3):
            assert viewer.post("/v1/connectors/aws-ec2/sync",
                               json={"action": "describe-vpc"}).json()["exitcode"] == 0
        missing = viewer.post("/v1/connectors/aws-ec2/sync", json={
            "action": "describe-instances", "instance-id": "i-0123456789abcdef0"}).json()
        assert missing["exitcode"] not in (0, 2), missing
        assert viewer.post("/v1/connectors/aws-ec2/sync", json={
            "action": "delete-vpc", "vpc-id": "vpc-12345678"}).status_code == 403
        assert ops.post("/v1/connectors/aws-ec2/sync", json={
            "action": "terminate-instances", "instance-id": "i-0123456789abcdef0"}
            ).status_code == 403
        # Jobs are calls when they end, with their own exit code (not their acceptance's).
        jobs = [ops.post("/v1/connectors/aws-ec2/async", json=body).json()["job-id"]
                for body in ({"action": "describe-vpc"}, {
                    "action": "describe-instances", "instance-id": "i-0123456789abcdef0"})]
        ended = [wait_for_job(ops, job_id) for job_id in jobs]
        assert [job["response"]["exitcode"] for job in ended] == [0, missing["exitcode"]], ended
        after = scrape(viewer)
    calls = {("describe-vpc", "0"): 4, ("describe-instances", str(missing["exitcode"])): 2,
             ("delete-vpc", "2"): 1, ("terminate-instances", "2"): 1}
    assert grown(before, after, "calls_total") == calls
    assert grown(before, after, "call_duration_seconds_count") == {
        ("describe-vpc",): 4, ("describe-instances",): 2, ("delete-vpc",): 1,
        ("terminate-instances",): 1}
    assert grown(before, after, "refusals_total") == {("role",): 1, ("actions",): 1}
    assert grown(before, after, "jobs_submitted_total") == {(): 2}
    assert after[key("audit_write_failures_total")] == 0
    assert after[key("throttle_waits_total")] == 0  # the service shares no request rate
    assert key("jobs", status="queued") in after and key("calls_in_flight") in after
    assert_bounded(after, shared)


def wait_for_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job's envelope once it has ended (the service's own threads run it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end")


def assert_bounded(values: dict[Any, float], shared: Shared) -> None:
    """Labels hold names from short fixed lists: never a job id, an instance id or a
    principal, whatever the service has seen."""
    labels = label_values(values)
    assert set(labels) <= LABELS, labels
    with shared.client("boss") as boss:
        job_ids = {job["job-id"] for job in boss.get("/v1/jobs?limit=1000").json()}
    unbounded = {*shared.tokens, *shared.tokens.values(), *job_ids, *shared.canned.instance_ids}
    every = {value for values in labels.values() for value in values}
    assert not every & unbounded and not any(v.startswith(("i-", "vpc-")) for v in every)
    assert labels["action"] <= {*catalog.names(), "unknown"}
    assert all(code.isdigit() for name in ("exitcode", "code") for code in labels[name])


def test_a_burst_from_two_principals_keeps_one_line_per_request(
        shared: Shared, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id)
    before = len(audit_lines(shared))

    def one(n: int) -> int:
        who = ("viewer", "ops")[n % 2]
        body = {"action": "describe-instances"} if n % 3 else {
            "action": "reboot-instances", "instance-id": ids}
        return shared.sync(who, body).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, range(60)))
    text = shared.audit.read_text()
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()][before:]
    lines = [line for line in lines if "event" not in line]  # a late callback's line
    assert len(lines) == 60
    assert sorted(line["principal"] for line in lines) == ["ops"] * 30 + ["viewer"] * 30
    assert sum(line["status"] == 403 for line in lines) == codes.count(403) == 20


def test_audit_command_reads_the_trail_with_filters(shared: Shared, ec2: Any) -> None:
    assert shared.sync("viewer", {"action": "describe-vpc", "region": "us-east-1"}).status_code \
        == 200
    env = shared.env
    read = cli(env, "audit", "--principal", "viewer", "--action", "describe-*", "-o", "json")
    assert read.returncode == 0, read.stderr
    lines = json.loads(read.stdout)
    assert lines and {line["principal"] for line in lines} == {"viewer"}
    assert all(line["action"].startswith("describe-") for line in lines)
    assert lines[-1]["regions"] == ["us-east-1"]
    recent = json.loads(cli(env, "audit", "--since", "10m", "-o", "json").stdout)
    assert len(recent) == len(audit_lines(shared))
    assert json.loads(cli(env, "audit", "--until", "2000-01-01", "-o", "json").stdout) == []
    table = cli(env, "audit", "--principal", "ops", "-o", "table")
    assert table.returncode == 0 and table.stdout.splitlines()[0].split()[:3] == [
        "TIME", "PRINCIPAL", "ACTION"]
    bad = cli(env, "audit", "--since", "yesterday")
    assert bad.returncode == 2 and "--since: not a time" in bad.stderr


def test_no_secret_in_the_audit_trail(shared: Shared, ec2: Any) -> None:
    own_key = "RequestOwnSecretKey/abcdef0123456789"
    shared.sync("boss", {"action": "describe-vpc", "access-key": "AKIAREQUESTKEY000000",
                         "security-key": own_key, "endpoint-url": "http://u:pw0123456@127.0.0.1:9"})
    text = shared.audit.read_bytes()
    for secret in (SECRET, own_key, "pw0123456", *shared.tokens.values()):
        assert secret.encode() not in text


def test_bad_token_commands_change_nothing(shared: Shared, tmp_path: Path) -> None:
    before = shared.config.read_bytes()
    for args in (["create", "token", "--role", "admin"], ["create", "x y", "--role", "admin"],
                 ["create", "x", "--role", "root"], ["revoke", "nobody"],
                 ["create", "x", "--role", "viewer", "--connectors", "missing"]):
        done = cli(shared.env, "token", *args, "--config", str(shared.config))
        assert done.returncode == 2 and done.stdout.count("exitcode") == 1, args
        assert len(done.stderr.strip().splitlines()) == 1
    assert shared.config.read_bytes() == before


def test_settings_open_the_schema_and_metrics_and_a_lost_audit_is_counted(
        moto_server: MotoServer, tmp_path: Path) -> None:
    config = tmp_path / "service.json"
    config.write_text(json.dumps({"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": SECRET, "region": "us-east-1",
        "endpoint-url": moto_server.url}}}))
    env = {**clean_env(tmp_path), "EC2_CONNECTOR_TOKEN": LEGACY,
           "EC2_CONNECTOR_PUBLIC_OPENAPI": "yes", "EC2_CONNECTOR_PUBLIC_METRICS": "1",
           "EC2_CONNECTOR_AUDIT_FILE": str(tmp_path / "no-such-folder" / "audit.jsonl")}
    proc = start(tmp_path, env, config)
    url = env["URL"]
    try:
        assert httpx.get(url + "/openapi.json").status_code == 200
        assert httpx.get(url + "/v1/actions").status_code == 401
        served = httpx.post(url + "/v1/connectors/aws-ec2/sync", json={"action": "describe-vpc"},
                            headers={"Authorization": f"Bearer {LEGACY}"}, timeout=60)
        assert served.status_code == 200 and served.json()["exitcode"] == 0
        with httpx.Client(base_url=url) as anyone:
            assert scrape(anyone)[key("audit_write_failures_total")] == 1
    finally:
        terminate(proc)
    assert "could not write a line" in (tmp_path / "service.log").read_text()


def test_metrics_off_count_nothing_and_serve_no_route(
        moto_server: MotoServer, tmp_path: Path) -> None:
    config = tmp_path / "service.json"
    config.write_text(json.dumps({"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": SECRET, "region": "us-east-1",
        "endpoint-url": moto_server.url}}}))
    env = {**clean_env(tmp_path), "EC2_CONNECTOR_TOKEN": LEGACY, "EC2_CONNECTOR_METRICS": "off"}
    proc = start(tmp_path, env, config)
    try:
        with httpx.Client(base_url=env["URL"], timeout=60,
                          headers={"Authorization": f"Bearer {LEGACY}"}) as client:
            served = client.post("/v1/connectors/aws-ec2/sync", json={"action": "describe-vpc"})
            assert served.status_code == 200 and served.json()["exitcode"] == 0
            off = client.get("/metrics")
            assert off.status_code == 404 and "metrics are off" in off.json()["message"]
    finally:
        terminate(proc)


class Receiver:
    """A loopback webhook receiver: records each POST; answers 500 to the first `fail`."""

    def __init__(self, fail: int = 0) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.fail = fail
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                owner.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(owner.got) <= owner.fail else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ec2?k=v"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def until(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("not within the time allowed")


def callback_line(shared: Shared, job_id: str) -> Any:
    return until(lambda: next((line for line in audit_lines(shared) if line.get("event") ==
                               "callback" and line["job-id"] == job_id), None))


def job_callback(shared: Shared, job_id: str) -> dict[str, Any]:
    """The job's `callback` as GET /v1/jobs/{id} shows it, once its delivery has ended."""
    def shown() -> Any:
        with shared.client("ops") as client:
            job = client.get(f"/v1/jobs/{job_id}")
        assert job.status_code == 200, job.text
        return job.json()["callback"]

    found: dict[str, Any] = until(shown)
    return found


def submit(shared: Shared, who: str, body: dict[str, Any]) -> httpx.Response:
    with shared.client(who) as client:
        return client.post("/v1/connectors/aws-ec2/async", json=body)


def test_a_job_ends_with_one_signed_callback(shared: Shared, ec2: Any) -> None:
    secret = cli(shared.env, "token", "secret", "ops", "--config", str(shared.config))
    key = base64.b64decode(secret.stdout.strip().removeprefix("whsec_"))
    receiver = Receiver(fail=1)  # the first attempt is answered 500: it is tried again
    try:
        accepted = submit(shared, "ops", {"action": "describe-vpc", "notify-url": receiver.url})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job-id"]
        line = callback_line(shared, job_id)
    finally:
        receiver.close()
    assert line["outcome"] == "delivered (204)" and line["attempts"] == 2
    assert line["url"].endswith("/hooks/ec2")  # its query string is not written down
    assert len(receiver.got) == 2 and receiver.got[0][1] == receiver.got[1][1]
    headers, body = receiver.got[-1]
    assert headers["webhook-id"] == job_id
    signed = f"{job_id}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == "v1," + expected
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    sent = json.loads(body)["data"]
    assert sent["job-id"] == job_id and sent["status"] == "succeeded"
    assert sent["submitted-by"] == "ops" and sent["response"]["exitcode"] == 0
    assert not any(s.encode() in body for s in (SECRET, *shared.tokens.values()))
    assert "authorization" not in headers
    said = job_callback(shared, job_id)
    assert said["url"] == receiver.url.split("?")[0]  # not the receiver's own key
    assert (said["outcome"], said["attempts"], said["last-error"]) == (
        "delivered", 2, "answered 500")


@pytest.mark.parametrize("answer", ["refused", "500"])
def test_a_receiver_that_is_down_gets_bounded_retries_and_the_job_says_so(
        shared: Shared, ec2: Any, answer: str) -> None:
    receiver = Receiver(fail=99) if answer == "500" else None
    url = receiver.url if receiver else f"http://127.0.0.1:{free_port()}/hook"
    try:
        job_id = submit(shared, "ops", {"action": "describe-vpc", "notify-url": url}
                        ).json()["job-id"]
        line = callback_line(shared, job_id)
        said = job_callback(shared, job_id)
    finally:
        if receiver:
            receiver.close()
    error = "answered 500" if receiver else "no answer (ConnectionRefusedError)"
    assert line["attempts"] == 3 and line["outcome"] == f"gave up: {error}"
    assert (said["outcome"], said["attempts"], said["last-error"]) == ("failed", 3, error)
    assert said["url"] == url.split("?")[0] and said["at"].endswith("Z")
    if receiver:
        assert len(receiver.got) == 3
    with shared.client("ops") as client:
        scraped = client.get("/metrics").text
        listed = [j for j in client.get("/v1/jobs").json() if j["job-id"] == job_id]
    assert listed[0]["callback"] == said  # the listing shows it too
    assert parse(scraped)[key("callbacks_total", outcome="failed")] >= 1


def test_a_receiver_that_hangs_or_trickles_is_cut_at_each_tries_bound(
        shared: Shared, ec2: Any) -> None:
    with SilentServer() as silent, SlowServer(byte_delay=0.05) as slow:
        started = time.monotonic()
        jobs = [submit(shared, "ops", {"action": "describe-vpc", "notify-url": server.url})
                .json()["job-id"] for server in (silent, slow)]
        lines = [callback_line(shared, job_id) for job_id in jobs]
        took = time.monotonic() - started
    for line, job_id in zip(lines, jobs, strict=True):
        assert line["attempts"] == 3 and line["outcome"].startswith("gave up: no answer"), line
        said = job_callback(shared, job_id)
        assert said["outcome"] == "failed" and said["last-error"] == "no answer within 2 s"
    assert took < 30  # 3 tries of at most 2 s each, and the pauses; generous under load


@pytest.mark.parametrize(("url", "why"), [
    ("http://example.com/hook", "not under a URL the service allows"),
    ("http://user:pw@127.0.0.1:9/hook", "must not carry a user or password"),
    ("ftp://127.0.0.1/x", "http:// or https://"),
])
def test_a_callback_url_not_allowed_is_refused_at_submit(
        shared: Shared, url: str, why: str) -> None:
    with shared.client("token") as admin:
        before = len(admin.get("/v1/jobs").json())
    refused_job = submit(shared, "ops", {"action": "describe-vpc", "notify-url": url})
    assert refused_job.status_code == 400 and why in refused_job.json()["message"]
    with shared.client("token") as admin:
        assert len(admin.get("/v1/jobs").json()) == before  # no job exists
    line = audit_lines(shared)[-1]
    assert line["status"] == 400 and why in line["message"] and "pw" not in json.dumps(line)
    # The legacy token's principal has no callback secret to sign with.
    legacy = submit(shared, "token", {"action": "describe-vpc",
                                      "notify-url": "http://127.0.0.1:9/x"})
    assert legacy.status_code == 400 and "no callback secret" in legacy.json()["message"]


def test_services_sharing_a_broker_keep_one_audit_stream(
        moto_server: MotoServer, redis_server: RedisServer, tmp_path: Path) -> None:
    redis_server.flush()
    ops_token = "shared-stream-operator-token-0123456789"
    config = {"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLEEXAMPLE00", "security-key": SECRET, "region": "us-east-1",
        "endpoint-url": moto_server.url}},
        "principals": {"ops": {"token-hash": hash_token(ops_token), "role": "operator"}}}
    env = {"EC2_CONNECTOR_BROKER": redis_server.url}
    with ServiceProcess(tmp_path / "a", config, env=env, token=LEGACY) as one, \
            ServiceProcess(tmp_path / "b", config, env=env, token=LEGACY) as two:
        for service, who in ((one, ops_token), (two, ops_token), (two, LEGACY)):
            answer = httpx.post(f"{service.url}/v1/connectors/aws-ec2/sync", timeout=60,
                                json={"action": "describe-vpc"},
                                headers={"Authorization": f"Bearer {who}"})
            assert answer.status_code == 200 and answer.json()["exitcode"] == 0
        failed = httpx.post(f"{one.url}/v1/connectors/aws-ec2/sync", timeout=60,
                            json={"action": "delete-vpc", "vpc-id": "vpc-12345678"},
                            headers={"Authorization": f"Bearer {ops_token}"})
        assert failed.status_code == 200  # an operator may; moto answers it is not found
    environ = {**clean_env(tmp_path), "EC2_CONNECTOR_BROKER": redis_server.url}
    read = until(lambda: (lambda lines: lines if len(lines) == 4 else None)(
        json.loads(cli(environ, "audit", "-o", "json").stdout)))
    assert [line["principal"] for line in read] == ["ops", "ops", "token", "ops"]
    assert read[-1]["action"] == "delete-vpc" and read[-1]["exitcode"] != 0
    mine = json.loads(cli(environ, "audit", "--principal", "token", "-o", "json").stdout)
    assert len(mine) == 1 and SECRET not in json.dumps(read)
    down = cli({**environ, "EC2_CONNECTOR_BROKER": f"redis://127.0.0.1:{free_port()}/0"},
               "audit")
    assert down.returncode == 4 and "unreachable" in down.stderr


def test_serve_refuses_a_config_with_a_bad_principal(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"connectors": {}, "principals": {
        "ci": {"token-hash": hash_token("t"), "role": "superuser"}}}))
    done = cli(clean_env(tmp_path), "serve", "--port", str(free_port()), "--config",
               str(config))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "ec2-connector: principal 'ci': role must be one of viewer, operator, admin "
        "(exitcode 2)"]
