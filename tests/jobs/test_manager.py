"""Async jobs: on disk before async_() returns, found from any process, and honest
about what a crash may have left behind."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call, InvalidRequest, NotFound, TimedOut
from ec2_connector.jobs import lifecycle
from ec2_connector.jobs.record import JobRecord, JobStatus
from ec2_connector.jobs.store import SQLiteJobStore
from tests.conftest import all_instances
from tests.harness import CannedEC2Server, RequestHandler, SilentServer
from tests.harness.calls import LaunchThenHang, config_for


def test_async_job_runs_and_is_found_again(
    config: dict[str, Any], tmp_path: Path, ec2: Any, image_id: str
) -> None:
    home = tmp_path / "jobs"
    with Call(config=config, home=home) as call:
        job = (call.connector("aws-ec2").set("action", "create-instance")
               .set("image-id", image_id).set("instance-type", "t2.micro").async_())
        assert SQLiteJobStore(home).get(job.id) is not None  # on disk before async_() returned
        response = job.wait(timeout_ms=30000)
        assert response.exitcode == 0 and job.status == "succeeded" and job.done
        assert response.meta["job-id"] == job.id
        ids = [i["instance-id"] for i in response.get("instance-info")]
        assert [i["InstanceId"] for i in all_instances(ec2)] == ids
    with Call(config=config, home=home) as other:
        again = other.job(job.id)
        assert again.status == "succeeded"
        assert again.response is not None and again.response.get("instance-info")[0][
            "instance-id"] == ids[0]
        assert [j.id for j in other.jobs.list()] == [job.id]
        record = again.to_dict()
        assert record["params"]["client-token"] == response.get("client-token")
    script = (
        f"from ec2_connector import Call; print(Call(home={str(home)!r}).job({job.id!r}).status)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "succeeded"


def test_sync_and_async_agree(call: Call, ec2: Any, image_id: str) -> None:
    builder = call.connector("aws-ec2").set("action", "stop-instances").set(
        "instance-id", ["i-0123456789abcdef0"])
    sync, job = builder.sync(), builder.async_()
    via_job = job.wait(30000)
    assert (sync.exitcode, sync.message, sync.data) == (via_job.exitcode, via_job.message,
                                                        via_job.data)
    assert job.status == "failed"


def test_unknown_job_and_wait_timeout(tmp_path: Path) -> None:
    with SilentServer() as silent, Call(config=config_for(silent.url),
                                        home=tmp_path) as call:
        with pytest.raises(NotFound):
            call.job("nope")
        job = call.connector("aws-ec2").set("action", "list-instances").timeout(1500).async_()
        with pytest.raises(TimedOut):
            job.wait(timeout_ms=100)
        assert job.status in ("queued", "running")
        assert job.wait(timeout_ms=10000).exitcode == 3
        assert job.status == "timed-out"


def test_secrets_are_kept_out_of_job_records(call: Call, endpoint: str, tmp_path: Path) -> None:
    secret = "JobSecretKey0123456789abcdefghijklmnopqr"
    job = (call.connector("aws-ec2").set("action", "list-instances")
           .set("access-key", "AKIAEXAMPLE").set("security-key", secret)
           .set("session-token", "TokenForJobs123456").set("endpoint-url", endpoint).async_())
    assert job.wait(30000).exitcode == 0
    record = job.to_dict()
    assert record["secrets-held-in-memory"] is True
    dumped = json.dumps(record)
    assert secret not in dumped and "TokenForJobs123456" not in dumped
    db = Path(call.jobs.store.path)
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            raw = path.read_bytes()
            assert secret.encode() not in raw and b"TokenForJobs123456" not in raw


CHILD = textwrap.dedent(
    """
    import sys, time
    from ec2_connector import Call
    call = Call(config={"connectors": {"aws-ec2": {"access-key": "AKIAEXAMPLE",
        "security-key": "secret", "endpoint-url": sys.argv[1]}}}, home=sys.argv[2])
    job = (call.connector("aws-ec2").set("action", "create-instance")
           .set("image-id", sys.argv[3]).set("instance-type", "t2.micro")
           .timeout(120000).async_())
    print(job.id, flush=True)
    time.sleep(120)
    """
)


def test_killed_process_leaves_an_interrupted_job_that_resumes_safely(
    moto_server: Any, endpoint: str, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with LaunchThenHang(moto_server.port) as hang:
        child = subprocess.Popen([sys.executable, "-c", CHILD, hang.url, str(home), image_id],
                                 stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "EC2_CONNECTOR_LEASE_S": "2"})
        try:
            assert child.stdout is not None
            job_id = child.stdout.readline().strip()
            deadline = time.monotonic() + 30
            while not all_instances(ec2) and time.monotonic() < deadline:
                time.sleep(0.1)  # EC2 has launched; the child waits for an answer
            assert _status(home, job_id) == "running"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            if child.stdout is not None:
                child.stdout.close()
    launched = [i["InstanceId"] for i in all_instances(ec2)]
    assert len(launched) == 1

    with Call(config=config_for(endpoint), home=home) as call:
        job = call.job(job_id)
        deadline = time.monotonic() + 10
        while job.status != "interrupted" and time.monotonic() < deadline:
            time.sleep(0.2)  # until its 2 s lease lapses
        assert job.status == "interrupted"
        message = job.to_dict()["message"]
        assert "may or may not have reached EC2" in message and "client-token" in message
        with pytest.raises(InvalidRequest, match=r"was submitted to http://127\.0\.0\.1"):
            call.jobs.resume(job_id)  # the config now points elsewhere
        resumed = call.jobs.resume(job_id, force=True)
        response = resumed.wait(30000)
    assert response.exitcode == 0, response.message
    assert [i["instance-id"] for i in response.get("instance-info")] == launched
    assert len(all_instances(ec2)) == 1  # nothing new launched


def _status(home: Path, job_id: str) -> str:
    with sqlite3.connect(home / "jobs.sqlite3") as db:
        row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return str(row[0]) if row else "missing"


class StatusOnArrival(CannedEC2Server):
    """Reads every job's status from the job database as each request arrives."""

    def __init__(self, db: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.seen: list[list[str]] = []

    def respond(self, req: RequestHandler) -> None:
        with closing(sqlite3.connect(self.db)) as db:
            self.seen.append([str(row[0]) for row in db.execute("SELECT status FROM jobs")])
        super().respond(req)


def test_a_job_is_running_on_disk_before_it_sends_anything(tmp_path: Path) -> None:
    with StatusOnArrival(tmp_path / "jobs.sqlite3", instances=1, detail="basic") as canned, \
            Call(config=config_for(canned.url), home=tmp_path) as call:
        job = call.connector("aws-ec2").set("action", "describe-instances").async_()
        assert job.wait(30000).exitcode == 0
    assert canned.seen == [["running"]]


def test_many_jobs_at_once_each_read_back_finished(tmp_path: Path) -> None:
    with CannedEC2Server(instances=2, detail="basic") as canned, \
            Call(config=config_for(canned.url), home=tmp_path, workers=8) as call:
        builder = call.connector("aws-ec2").set("action", "describe-instances")
        jobs = [builder.async_() for _ in range(200)]
        responses = [job.wait(60000) for job in jobs]
        assert [r.exitcode for r in responses] == [0] * 200
        assert {r.meta["job-id"] for r in responses} == {job.id for job in jobs}
        assert {job.status for job in jobs} == {"succeeded"}
    reopened = SQLiteJobStore(tmp_path)
    records = [reopened.get(job.id) for job in jobs]
    reopened.close()
    assert all(r is not None and r.status is JobStatus.SUCCEEDED and r.response for r in records)


def test_a_job_runs_from_its_record_alone(call: Call, ec2: Any, image_id: str) -> None:
    # The shape a queue-backed worker uses: only the job id travels.
    store = call.jobs.store
    store.add(JobRecord(
        "from-record", "aws-ec2", "create-instance",
        {"image-id": image_id, "instance-type": "t2.micro", "client-token": "rec-1"}, 30000))
    leases = lifecycle.Leases(store)
    response = lifecycle.run("from-record", store, call.connectors, "worker-1", leases)
    assert response is not None and response.exitcode == 0
    # A second delivery of the same id is dropped: the claim is a compare-and-set.
    assert lifecycle.run("from-record", store, call.connectors, "worker-2", leases) is None
    leases.stop()
    job = call.job("from-record")
    assert job.status == "succeeded"
    assert [i["instance-id"] for i in job.wait(1000).get("instance-info")] == [
        i["InstanceId"] for i in all_instances(ec2)]


def test_every_create_job_carries_a_client_token_from_submit(call: Call, ec2: Any) -> None:
    volume = (call.connector("aws-ec2").set("action", "create-volume")
              .set("availability-zone", "us-east-1a").set("size", 1).async_())
    token = volume.to_dict()["params"]["client-token"]  # stored before the job runs
    response = volume.wait(timeout_ms=30000)
    assert response.exitcode == 0, response.message
    volume_id = response.get("volume-details")["volume-id"]
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [volume_id]
    assert isinstance(token, str) and 1 <= len(token) <= 64
    given = (call.connector("aws-ec2").set("action", "create-volume")
             .set("availability-zone", "us-east-1a").set("size", 1)
             .set("client-token", "mine-1").async_())
    assert given.to_dict()["params"]["client-token"] == "mine-1"
    assert given.wait(timeout_ms=30000).exitcode == 0
    tagging = (call.connector("aws-ec2").set("action", "create-tags")
               .set("resource-id", volume_id).set("tag-key", "a").set("tag-value", "b")
               .async_())
    assert "client-token" not in tagging.to_dict()["params"]
    assert tagging.wait(timeout_ms=30000).exitcode == 0


def test_executors_are_chosen_by_name_from_one_table(tmp_path: Path) -> None:
    """Each `EXECUTORS` entry is a class with the protocol, named as in the table, and a
    manager runs its jobs on the one its broker names (none: this process's threads)."""
    from ec2_connector.jobs import backends
    from ec2_connector.jobs.executors import Executor

    wanted = [name for name in vars(Executor) if not name.startswith("_")] + ["open"]
    for name, entry in backends.EXECUTORS.items():
        cls = backends._load(entry)
        assert cls.name == name
        assert all(callable(getattr(cls, method, None)) for method in wanted
                   if method not in ("name", "remote")), (name, wanted)
    assert backends.executor_kind(None) == "threads"
    assert backends.executor_kind("redis://127.0.0.1:1/0") == "celery"
    with Call(home=tmp_path) as call:
        assert call.jobs.executor.name == "threads"


@pytest.mark.parametrize("value", [{(1, 2): "x"}, 10**5000], ids=["tuple-keys", "huge-int"])
def test_parameters_a_record_cannot_hold_are_refused_in_one_line(value: Any) -> None:
    """What the fuzzer once got past validation: refused at submit, not raised by the store."""
    from ec2_connector.jobs.manager import _storable
    from ec2_connector.request import Request

    with pytest.raises(InvalidRequest) as refused:
        _storable(Request("aws-ec2", "describe-instances", {"x": value}))
    assert str(refused.value).startswith("the parameters cannot be kept in a job record: ")
    assert "\n" not in str(refused.value)


POOL_GC = textwrap.dedent("""
    import gc, json, sys
    from ec2_connector import Call

    if sys.argv[2] == "own":
        gc.set_threshold(900, 10, 10)
    seen = {"before": gc.get_threshold()}
    with Call(home=sys.argv[1]) as call:
        call.jobs  # opens this process's job pool
        seen["open"] = gc.get_threshold()
        with Call(home=sys.argv[1]) as other:
            other.jobs
            seen["two open"] = gc.get_threshold()
        seen["one left"] = gc.get_threshold()
    seen["closed"] = gc.get_threshold()
    print(json.dumps(seen))
""")


@pytest.mark.parametrize("thresholds", ["python's", "own"])
def test_a_job_pool_raises_python_s_young_threshold_while_it_is_open(
        tmp_path: Path, thresholds: str) -> None:
    from ec2_connector.settings import SERVER_GC_YOUNG

    done = subprocess.run([sys.executable, "-c", POOL_GC, str(tmp_path), thresholds],
                          capture_output=True, text=True, timeout=60, check=True)
    seen = {k: tuple(v) for k, v in json.loads(done.stdout).items()}
    if thresholds == "own":  # a process that chose its thresholds keeps them
        assert set(seen.values()) == {(900, 10, 10)}
    else:
        raised = (SERVER_GC_YOUNG, 10, 10)
        assert seen == {"before": (700, 10, 10), "open": raised, "two open": raised,
                        "one left": raised, "closed": (700, 10, 10)}
