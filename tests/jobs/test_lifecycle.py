"""Local jobs you can trust: validated before they exist, leases that show a dead runner,
resume once and only at the target the job was submitted to, fire and forget, secrets
nowhere on disk or in /proc, and store failures with their own exitcode."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.jobs.record import JobRecord, JobStatus
from ec2_connector.jobs.store import SQLiteJobStore
from tests.conftest import all_instances
from tests.harness import SilentServer
from tests.harness.calls import LaunchThenHang, config_for
from tests.harness.cli import assert_one_line_error, clean_env, envelope, run_cli
from tests.harness.faults import HTTPHarnessServer, RequestHandler
from tests.harness.jobs import record

LEASE = "2"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def local_env(home: Path, **extra: str) -> dict[str, str]:
    return {**clean_env(home), "EC2_CONNECTOR_LEASE_S": LEASE, **extra}


def stored_ids(home: Path) -> list[str]:
    if not (home / "jobs.sqlite3").exists():
        return []
    store = SQLiteJobStore(home)
    try:
        return [r.id for r in store.list()]
    finally:
        store.close()


def test_async_validates_before_any_job_exists(home: Path, endpoint: str,
                                               tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps(config_for(endpoint)))
    env = local_env(home, EC2_CONNECTOR_CONFIG=str(config))
    unknown = run_cli(env, "call", "stop-instance", "--async")
    assert "unknown action 'stop-instance'" in assert_one_line_error(unknown, 2)
    missing = run_cli(env, "call", "stop-instances", "--async")
    assert "instance-id" in assert_one_line_error(missing, 2)
    with Call(config=config_for(endpoint), home=home) as call:
        refused = call.connector("aws-ec2").set("action", "stop-instances").async_()
        assert refused.id is None and refused.wait().exitcode == 2
    assert stored_ids(home) == []


SECRET = "SpelledSecret0123456789abcdefghijklmnopq"


def test_no_spelling_of_a_secret_reaches_the_store(endpoint: str, home: Path) -> None:
    spellings = ["Security-Key", "securityKey", "SECURITY_KEY", "UserData", "userData",
                 "User-Data", "Session-Token", "sessionToken"]
    with Call(config=config_for(endpoint), home=home) as call:
        for key in spellings:
            job = (call.connector("aws-ec2").set("action", "create-instance")
                   .set("image-id", "ami-12345678").set(key, SECRET).async_())
            assert job.id is None and job.wait().exitcode == 2, key  # refused, never stored
        accepted = (call.connector("aws-ec2").set("action", "list-instances")
                    .set("security_key", SECRET).set("access-key", "AKIAEXAMPLE")
                    .set("session-token", SECRET[::-1]).async_())
        assert accepted.wait(30000).exitcode == 0
        assert accepted.to_dict()["secrets-held-in-memory"] is True
    assert len(stored_ids(home)) == 1
    for path in home.iterdir():
        if path.name.startswith("jobs.sqlite3"):
            raw = path.read_bytes()
            for needle in (SECRET, SECRET[::-1]):
                assert needle.encode() not in raw, path


def proc_texts() -> list[tuple[str, bytes]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                found.append((f"{entry.name}/{name}", (entry / name).read_bytes()))
            except OSError:
                continue
    return found


def test_the_detached_runner_gets_its_request_through_a_pipe(home: Path) -> None:
    with SilentServer() as silent:
        env = local_env(home)
        submitted = run_cli(env, "call", "describe-instances", f"endpoint-url={silent.url}",
                            "access-key=AKIAEXAMPLE", f"security-key={SECRET}",
                            "--timeout", "20000", "--async")
        assert submitted.returncode == 0, submitted.stderr
        job_id = json.loads(submitted.stdout)["job-id"]
        shown = json.loads(run_cli(env, "jobs", "show", job_id).stdout)
        assert shown["status"] in ("queued", "running")  # the runner lives on
        runner_pid = shown["holder"].split(":")[1]
        assert Path(f"/proc/{runner_pid}/cmdline").exists()
        leaks = [where for where, text in proc_texts() if SECRET.encode() in text]
        assert leaks == []
        os.kill(int(runner_pid), signal.SIGKILL)


def test_a_killed_sandbox_job_is_seen_at_once_and_resumes_only_at_the_sandbox(
    moto_server: Any, endpoint: str, ec2: Any, image_id: str, home: Path, tmp_path: Path
) -> None:
    with LaunchThenHang(moto_server.port) as sandbox:
        config = tmp_path / "sandbox.json"
        config.write_text(json.dumps(config_for(sandbox.url)))
        env = local_env(home)  # no EC2_CONNECTOR_CONFIG: elsewhere is real AWS
        submitted = run_cli(env, "call", "create-instance", f"image-id={image_id}",
                            "instance-type=t2.micro", "--config", str(config),
                            "--timeout", "60000", "--async")
        job_id = json.loads(submitted.stdout)["job-id"]
        deadline = time.monotonic() + 30
        while not all_instances(ec2) and time.monotonic() < deadline:
            time.sleep(0.1)  # launched; the runner waits for an answer that never comes
        holder = json.loads(run_cli(env, "jobs", "show", job_id).stdout)["holder"]
        waiter = subprocess.Popen([sys.executable, "-m", "ec2_connector.cli", "jobs", "wait",
                                   job_id], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        os.kill(int(holder.split(":")[1]), signal.SIGKILL)
        killed = time.monotonic()
        out, err = waiter.communicate(timeout=30)
        assert time.monotonic() - killed < float(LEASE) + 5
        assert waiter.returncode == 3 and "interrupted while running" in err
        assert "may or may not have reached EC2" in json.loads(out)["message"]

        refused = run_cli(env, "jobs", "resume", job_id)
        line = assert_one_line_error(refused, 2)
        assert sandbox.url in line and "https://ec2.us-east-1.amazonaws.com" in line
        resumed = run_cli(env, "jobs", "resume", job_id[:10], "--config", str(config))
        body = envelope(resumed)
    assert body["exitcode"] == 0, body["message"]
    assert body["meta"]["endpoint"] == sandbox.url
    assert [i["instance-id"] for i in body["data"]["instance-info"]] == [
        i["InstanceId"] for i in all_instances(ec2)]  # the one launch, found by its token


def test_two_resumes_at_once_run_once(
    config: dict[str, Any], home: Path, tmp_path: Path, image_id: str, ec2: Any
) -> None:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(config))
    env = local_env(home, EC2_CONNECTOR_CONFIG=str(path))
    store = SQLiteJobStore(home)
    store.add(JobRecord("twice", "aws-ec2", "create-instance",
                        {"image-id": image_id, "instance-type": "t2.micro",
                         "client-token": "resume-race"}, None, status=JobStatus.INTERRUPTED))
    store.close()
    command = [sys.executable, "-m", "ec2_connector.cli", "jobs", "resume", "twice"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = []
    for proc in procs:
        with proc:
            _, err = proc.communicate(timeout=60)
        results.append((proc.returncode, err))
    assert sorted(code for code, _ in results) == [0, 2]
    assert any("resumed by someone else" in err or "not interrupted" in err
               for _, err in results)
    assert len(all_instances(ec2)) == 1


FIRE_AND_FORGET = textwrap.dedent(
    """
    import json, sys
    from ec2_connector import Call
    call = Call(config=json.loads(sys.argv[1]), home=sys.argv[2])
    job = (call.connector("aws-ec2").set("action", "create-instance")
           .set("image-id", sys.argv[3]).set("instance-type", "t2.micro").async_())
    print(job.id, flush=True)
    """
)


def test_fire_and_forget_runs_at_interpreter_exit(
    config: dict[str, Any], home: Path, ec2: Any, image_id: str
) -> None:
    done = subprocess.run([sys.executable, "-c", FIRE_AND_FORGET, json.dumps(config),
                           str(home), image_id], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "waiting for 1 submitted job(s) to end" in done.stderr
    with Call(config=config, home=home) as call:
        job = call.job(done.stdout.strip())
        assert job.status == "succeeded"
    assert len(all_instances(ec2)) == 1


def test_damaged_or_empty_store_is_reported_with_its_path(home: Path) -> None:
    home.mkdir(parents=True)
    db = home / "jobs.sqlite3"
    env = local_env(home)
    for content, words in ((b"", "empty (0-byte)"), (b"garbage" * 100, "damaged")):
        db.write_bytes(content)
        listed = run_cli(env, "jobs", "list")
        line = assert_one_line_error(listed, 9)
        assert str(db) in line and words in line and "move it aside" in line
        submitted = run_cli(env, "call", "list-instances", "--async")
        assert str(db) in assert_one_line_error(submitted, 9)
        assert db.read_bytes() == content  # never silently replaced
        with Call(home=home) as call:
            refused = call.connector("aws-ec2").set("action", "list-instances").async_()
            assert refused.wait().exitcode == 9


@contextlib.contextmanager
def small_filesystem(where: Path) -> Iterator[Path]:
    """A real file system of 400 KiB (tmpfs), to fill or make read-only."""
    where.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_full_or_read_only_store_is_exitcode_9_saying_which(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs") as fs:
        home = fs / "home"
        db = home / "jobs.sqlite3"
        assert run_cli(local_env(home), "jobs", "list").returncode == 0  # the store exists
        with (fs / "filler").open("wb", buffering=0) as filler:
            with contextlib.suppress(OSError):
                while True:
                    filler.write(b"x" * 4096)
            with Call(home=home) as call:
                refused = call.connector("aws-ec2").set("action", "list-instances") \
                    .set("filters", {"tag:Name": "x" * 200}).async_()
                response = refused.wait()
        assert refused.id is None and response.exitcode == 9
        assert f"job store {db} cannot grow: the disk is full" in response.message
        (fs / "filler").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        submitted = run_cli(local_env(home), "call", "list-instances", "--async")
        line = assert_one_line_error(submitted, 9)
        assert str(db) in line and "read-only" in line


def test_a_locked_store_delays_the_final_write_not_the_waiter(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("EC2_CONNECTOR_STORE_BUSY_MS", "200")
    caplog.set_level(logging.ERROR, logger="ec2_connector.jobs")
    with SilentServer() as silent, Call(config=config_for(silent.url), home=home) as call:
        job = call.connector("aws-ec2").set("action", "list-instances").timeout(1500).async_()
        assert job.id is not None
        deadline = time.monotonic() + 10
        while job.status != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        locker = sqlite3.connect(home / "jobs.sqlite3", isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process holding the store
        try:
            started = time.monotonic()
            response = job.wait(timeout_ms=10000)  # handed over from memory
            assert response.exitcode == 3 and time.monotonic() - started < 6
            time.sleep(1)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        deadline = time.monotonic() + 20
        while job.record().status is not JobStatus.TIMED_OUT and time.monotonic() < deadline:
            time.sleep(0.2)  # the retried write lands once the lock is gone
        assert job.record().status is JobStatus.TIMED_OUT
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("writing its result to the job store" in e and "locked" in e for e in errors)


def test_jobs_list_table_status_limit_and_prune(call: Call, home: Path, tmp_path: Path) -> None:
    store = call.jobs.store
    old = time.time() - 6 * 86400  # younger than the kept time (7 days): pruned by hand
    store.add(JobRecord("0ld0000001", "aws-ec2", "stop-instances", {}, None,
                        status=JobStatus.SUCCEEDED, created_at=old, finished_at=old,
                        message="success"))
    store.add(JobRecord("f4i1ed0002", "aws-ec2", "list-instances", {}, None,
                        status=JobStatus.FAILED, message="AuthFailure: nope"))
    env = clean_env(tmp_path / "home")
    table = run_cli(env, "jobs", "list", "--output", "table")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "ACTION", "AGE", "MESSAGE"]
    assert lines[1].split()[:4] == ["f4i1ed0002", "failed", "list-instances", "0s"]
    assert lines[2].split()[:4] == ["0ld0000001", "succeeded", "stop-instances", "6d"]
    only = json.loads(run_cli(env, "jobs", "list", "--status", "failed").stdout)
    assert [j["job-id"] for j in only] == ["f4i1ed0002"]
    assert len(json.loads(run_cli(env, "jobs", "list", "--limit", "1").stdout)) == 1
    bad = run_cli(env, "jobs", "list", "--status", "sleeping")
    assert "unknown job status" in assert_one_line_error(bad, 2)
    assert json.loads(run_cli(env, "jobs", "show", "f4i").stdout)["job-id"] == "f4i1ed0002"
    pruned = run_cli(env, "jobs", "prune", "--older-than", "5d")
    assert json.loads(pruned.stdout) == {"pruned": 1}
    assert [j["job-id"] for j in json.loads(run_cli(env, "jobs", "list").stdout)] == [
        "f4i1ed0002"]


def test_a_prune_setting_prunes_whenever_a_store_is_opened(home: Path) -> None:
    store = SQLiteJobStore(home)
    old = time.time() - 6 * 86400  # younger than the kept time (7 days)
    store.add(JobRecord("0ld0000001", "aws-ec2", "stop-instances", {}, None,
                        status=JobStatus.SUCCEEDED, created_at=old, finished_at=old))
    store.add(JobRecord("0ld0000002", "aws-ec2", "stop-instances", {}, None, created_at=old))
    store.add(JobRecord("new0000003", "aws-ec2", "list-instances", {}, None,
                        status=JobStatus.FAILED, message="AuthFailure: nope"))
    store.close()
    listed = {j["job-id"] for j in json.loads(run_cli(local_env(home), "jobs", "list").stdout)}
    assert listed == {"0ld0000001", "0ld0000002", "new0000003"}
    pruning = local_env(home, EC2_CONNECTOR_PRUNE_AFTER="5d")
    listed = {j["job-id"] for j in json.loads(run_cli(pruning, "jobs", "list").stdout)}
    assert listed == {"0ld0000002", "new0000003"}  # an old job that never ended is kept
    bad = run_cli(local_env(home, EC2_CONNECTOR_PRUNE_AFTER="soon"), "jobs", "list")
    assert "not an age: 'soon'" in assert_one_line_error(bad, 2)


def test_jobs_wait_draws_a_progress_line_on_a_terminal(home: Path) -> None:
    import pty

    from tests.harness.cli import read_all

    with SilentServer() as silent:
        env = local_env(home)
        submitted = run_cli(env, "call", "describe-instances", f"endpoint-url={silent.url}",
                            "--timeout", "1500", "--async")
        job_id = json.loads(submitted.stdout)["job-id"]
        master, slave = pty.openpty()
        try:
            waited = run_cli(env, "jobs", "wait", job_id, stderr=slave)
            os.close(slave)
            drawn = read_all(master)
        finally:
            os.close(master)
    assert waited.returncode == 3
    assert f"job {job_id[:12]}: running" in drawn and "\x1b[K" in drawn


def test_every_claim_grows_the_fence_and_only_the_latest_claim_acts(job_store: Any) -> None:
    store = job_store
    store.add(record("f1"))
    first = store.claim("f1", "worker-a", 30)
    assert first is not None and first.fence == 1
    assert store.holds("f1", "worker-a", 1, 30)
    # Its lease lapsed: the job was interrupted, queued again, and claimed again, by the
    # same holder name even (a worker process takes its own job back).
    assert store.transition("f1", [JobStatus.RUNNING], status=JobStatus.INTERRUPTED)
    assert store.transition("f1", [JobStatus.INTERRUPTED], status=JobStatus.QUEUED,
                            holder=None, lease_until=None)
    second = store.claim("f1", "worker-a", 30)
    assert second is not None and second.fence == 2
    assert not store.holds("f1", "worker-a", 1, 30)  # the first claim is fenced off
    assert not store.finish("f1", "worker-a", JobStatus.SUCCEEDED, "late", {}, 1)
    assert store.get("f1").status is JobStatus.RUNNING
    assert store.holds("f1", "worker-a", 2, 30)
    assert not store.holds("f1", "worker-b", 2, 30)
    assert store.finish("f1", "worker-a", JobStatus.SUCCEEDED, "ok", {}, 2)
    assert not store.holds("f1", "worker-a", 2, 30)  # ended: nothing more is sent
    assert store.get("f1").fence == 2 and store.get("f1").message == "ok"


def test_an_interrupted_jobs_message_says_what_protects_a_rerun_or_what_may_be_done() -> None:
    from ec2_connector.jobs.record import interrupted_message, rerun_safe

    def lost(action: str, **params: Any) -> JobRecord:
        return JobRecord("j1", "aws-ec2", action, params, None, status=JobStatus.RUNNING,
                         holder="host:1:abc", started_at=time.time())

    vpc = lost("create-vpc", **{"cidr-block": "10.0.0.0/16", "client-token": "t-1"})
    assert rerun_safe(vpc)
    assert "a rerun (client-token 't-1') is safe: a create first looks for what its " \
        "client token made" in interrupted_message(vpc)
    stop = lost("stop-instances", **{"instance-id": ["i-0123456789abcdef0"]})
    assert rerun_safe(stop) and "its change converges" in interrupted_message(stop)
    key = lost("create-key-pair", **{"key-name": "deploy", "key-file": "/k/deploy.pem"})
    assert not rerun_safe(key)
    text = interrupted_message(key)
    assert "not run again on its own" in text and "key-name 'deploy'" in text
    assert "key-file '/k/deploy.pem'" in text and "`jobs resume j1`" in text
    assert not rerun_safe(lost("no-such-action"))  # unknown: a person decides


def taken_over(store: SQLiteJobStore, job_id: str) -> None:
    """What a holder paused past its lease comes back to: its job interrupted, queued
    again and claimed by another holder."""
    store.transition(job_id, [JobStatus.RUNNING], status=JobStatus.INTERRUPTED)
    store.transition(job_id, [JobStatus.INTERRUPTED], status=JobStatus.QUEUED, holder=None)
    assert store.claim(job_id, "new-holder", 30) is not None


def test_a_holder_whose_claim_was_taken_sends_no_mutating_request(
    config: dict[str, Any], ec2: Any, image_id: str, tmp_path: Path
) -> None:
    from ec2_connector.config import Connectors
    from ec2_connector.execution import execute
    from ec2_connector.jobs import lifecycle
    from ec2_connector.request import Request
    from tests.conftest import launch

    [instance] = launch(ec2, image_id, 1)
    store = SQLiteJobStore(tmp_path)
    store.add(record("f2", action="create-tags"))
    old = store.claim("f2", "old-holder", 30)
    assert old is not None
    taken_over(store, "f2")  # its lease lapsed while it was paused
    fence = lifecycle.Fence(store, old, "old-holder", 30)
    request = Request("aws-ec2", "create-tags", {
        "resource-id": instance, "tag-key": "env", "tag-value": "late"}, None)
    response = execute(request, Connectors(config), fence=fence)
    assert response.exitcode == 9, response.message
    assert "taken over by another worker before CreateTags" in response.message
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])["Tags"]
    assert tags == []  # nothing was sent
    assert store.get("f2").holder == "new-holder"
    store.close()


class TakenOverOnFirstRequest(HTTPHarnessServer):
    """Forwards every request to EC2; before the first, another holder takes the job (as
    after this holder's lease lapsed), so this holder's next mutating request is fenced."""

    def __init__(self, upstream_port: int, store: SQLiteJobStore, job_id: str) -> None:
        super().__init__()
        self.upstream_port, self.store, self.job_id = upstream_port, store, job_id
        self.taken = False

    def respond(self, req: RequestHandler) -> None:
        if not self.taken:
            self.taken = True
            taken_over(self.store, self.job_id)
        status, body = req.forward(self.upstream_port)
        req.send_body(status, body)


class TakenOverDuringARetry(HTTPHarnessServer):
    """Forwards requests to EC2, except the first mutating one: that is answered 503 (a
    retryable answer), and meanwhile another holder takes the job (as after this holder
    was paused past its lease), so botocore's retry of it is what the fence must stop."""

    def __init__(self, upstream_port: int, store: SQLiteJobStore, job_id: str) -> None:
        super().__init__()
        self.upstream_port, self.store, self.job_id = upstream_port, store, job_id
        self.actions: list[str] = []

    def respond(self, req: RequestHandler) -> None:
        action = req.params().get("Action", "")
        self.actions.append(action)
        if action == "CreateTags" and self.actions.count("CreateTags") == 1:
            taken_over(self.store, self.job_id)
            req.send_body(503, b"<Response><Errors><Error><Code>ServiceUnavailable</Code>"
                               b"<Message>busy</Message></Error></Errors></Response>")
            return
        status, body = req.forward(self.upstream_port)
        req.send_body(status, body)


def test_a_retry_of_a_mutating_request_is_fenced_too(
    moto_server: Any, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    """botocore retries a request answered 503 by itself; the job's holder changed in
    between, so the retry is not sent: the fence is checked before every attempt."""
    from ec2_connector.config import Connectors
    from ec2_connector.jobs import lifecycle
    from ec2_connector.runtime import Runtime
    from tests.conftest import launch

    [instance] = launch(ec2, image_id, 1)
    store = SQLiteJobStore(tmp_path)
    store.add(record("f4", action="create-tags", params={
        "resource-id": instance, "tag-key": "env", "tag-value": "late"}))
    runtime = Runtime()
    try:
        with TakenOverDuringARetry(moto_server.port, store, "f4") as proxy:
            response = lifecycle.run("f4", store, Connectors(config_for(proxy.url)),
                                     "old-holder", lifecycle.Leases(store, 30),
                                     runtime=runtime)
        assert proxy.actions == ["CreateTags"]  # the retry never left
        assert response is not None and response.exitcode == 9, response
        assert "before a retry of CreateTags could be sent" in response.message
        assert runtime.counts.of("fencing_refusals") == {"": 1}
        tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])
        assert tags["Tags"] == []
        assert store.get("f4").holder == "new-holder"
    finally:
        runtime.close()
        store.close()


def test_a_run_fenced_off_mid_job_is_counted_and_not_recorded(
    moto_server: Any, endpoint: str, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    from ec2_connector.config import Connectors
    from ec2_connector.jobs import lifecycle
    from ec2_connector.runtime import Runtime

    store = SQLiteJobStore(tmp_path)
    # A create with its own client token looks for what the token made (a read) first.
    store.add(record("f3", action="create-instance", params={
        "image-id": image_id, "instance-type": "t2.micro", "client-token": "fence-f3"}))
    runtime = Runtime()
    try:
        with TakenOverOnFirstRequest(moto_server.port, store, "f3") as proxy:
            response = lifecycle.run("f3", store, Connectors(config_for(proxy.url)),
                                     "old-holder", lifecycle.Leases(store, 30),
                                     runtime=runtime)
        assert response is not None and response.exitcode == 9, response
        assert "taken over by another worker before RunInstances" in response.message
        assert runtime.counts.of("fencing_refusals") == {"": 1}
        assert runtime.counts.of("jobs_ended") == {}  # its end is not this holder's
        assert store.get("f3").holder == "new-holder" and all_instances(ec2) == []
    finally:
        runtime.close()
        store.close()
