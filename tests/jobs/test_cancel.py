"""Cancelling a job, against each store (SQLite and a real Redis) and real workers.

A queued job ends at once and nothing is ever sent for it; an interrupted one is never
run again; a running one sends nothing after the cancel, at its next fence check, and
ends `cancelled` saying what it had sent; an ended one is refused and left as it was.
What reaches EC2 is counted at a relay in front of moto, and read back with boto3.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.config import Connectors
from ec2_connector.errors import Cancelled, ExitCode, InvalidRequest, NotFound
from ec2_connector.jobs import lifecycle
from ec2_connector.jobs.manager import JobManager
from ec2_connector.jobs.record import JobStatus
from ec2_connector.jobs.store import SQLiteJobStore
from ec2_connector.runtime import Runtime
from tests.conftest import launch
from tests.harness import CaptureServer
from tests.harness.calls import Relay, config_for
from tests.harness.jobs import record
from tests.harness.workers import Worker

MISSING = "i-0123456789abcdef0"  # well formed, on no endpoint


def cancelling(store: Any, job_id: str, by: str) -> Callable[[], None]:
    def cancel() -> None:
        lifecycle.cancel(store, job_id, by)

    return cancel


def manager_for(store: Any, url: str = "http://127.0.0.1:9") -> JobManager:
    """A manager on the same store as `store` (the same file, or the same Redis)."""
    connectors = Connectors(config_for(url))
    if isinstance(store, SQLiteJobStore):
        return JobManager(connectors, home=store.home)
    return JobManager(connectors, broker=store.url)


def state_of(ec2: Any, instance: str) -> str:
    found = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    return str(found["State"]["Name"])


def test_a_queued_job_ends_at_once_and_a_later_claim_sends_nothing(job_store: Any) -> None:
    job_store.add(record("c-queued", action="stop-instances",
                         params={"instance-id": [MISSING]}))
    ended = lifecycle.cancel(job_store, "c-queued", "alice")
    assert ended.status is JobStatus.CANCELLED and ended.cancel_requested_by == "alice"
    assert ended.finished_at is not None and ended.lease_until is None
    assert ended.message == "cancelled by alice before it started; nothing was sent to EC2"
    assert ended.response is not None and ended.response["exitcode"] == ExitCode.CANCELLED
    with CaptureServer() as endpoint:
        leases = lifecycle.Leases(job_store, 30)
        ran = lifecycle.run("c-queued", job_store, Connectors(config_for(endpoint.url)),
                            "worker-a", leases)
        leases.stop()
        assert ran is None and endpoint.requests_received == 0
    assert job_store.get("c-queued").to_dict() == ended.to_dict()


def test_an_ended_job_is_refused_and_left_as_it_was(job_store: Any) -> None:
    job_store.add(record("c-done"))
    claimed = job_store.claim("c-done", "worker-a", 30)
    assert job_store.finish("c-done", "worker-a", JobStatus.SUCCEEDED, "success",
                            {"exitcode": 0}, claimed.fence)
    before = job_store.get("c-done").to_dict()
    with pytest.raises(InvalidRequest) as refused:
        lifecycle.cancel(job_store, "c-done", "alice")
    assert refused.value.message == ("job c-done is succeeded: only a queued, running or "
                                     "interrupted job can be cancelled; nothing changed")
    assert job_store.get("c-done").to_dict() == before
    with pytest.raises(NotFound):
        lifecycle.cancel(job_store, "no-such-job")
    ended = lifecycle.cancel(job_store, _queued(job_store, "c-twice"))
    with pytest.raises(InvalidRequest, match="is cancelled"):  # a second cancel
        lifecycle.cancel(job_store, "c-twice")
    assert job_store.get("c-twice").to_dict() == ended.to_dict()


def _queued(store: Any, job_id: str) -> str:
    store.add(record(job_id))
    return job_id


def test_an_interrupted_job_cancelled_is_never_rerun_nor_resumed(
        job_store: Any, broker: str) -> None:
    from ec2_connector.jobs.worker import make_app, requeue

    # A lost worker's converging job: a sweeper would queue it again.
    job_store.add(record("c-lost", action="stop-instances", executor="celery",
                         params={"instance-id": [MISSING]}))
    job_store.claim("c-lost", "worker-a", 30)
    assert job_store.transition("c-lost", [JobStatus.RUNNING], status=JobStatus.INTERRUPTED,
                                message="interrupted while running")
    seen_by_sweeper = job_store.get("c-lost")
    manager = manager_for(job_store)
    try:
        ended = manager.cancel("c-lo", by="bob")  # a unique prefix, as other commands take
        assert ended.status is JobStatus.CANCELLED
        assert ended.message.startswith("cancelled by bob after it was interrupted: it is "
                                        "never run again nor resumed")
        app = make_app(broker)
        assert not requeue(app, job_store, seen_by_sweeper)  # the sweeper's stale view
        with pytest.raises(InvalidRequest, match="is cancelled, not interrupted"):
            manager.resume("c-lost")
    finally:
        manager.close()
    assert job_store.get("c-lost").status is JobStatus.CANCELLED
    assert job_store.get("c-lost").reruns == 0


def test_a_running_job_is_asked_and_stops_at_its_next_fence_check(job_store: Any) -> None:
    job_store.add(record("c-run", action="stop-instances"))
    claimed = job_store.claim("c-run", "worker-a", 30)
    fence = lifecycle.Fence(job_store, claimed, "worker-a", 30)
    fence("StopInstances")  # before the cancel: sent
    fence("DescribeInstances")  # a read is never fenced
    asked = lifecycle.cancel(job_store, "c-run", "carol")
    assert asked.status is JobStatus.RUNNING and asked.cancel_requested_by == "carol"
    assert asked.fence == claimed.fence + 1 and asked.holder == "worker-a"
    assert lifecycle.cancel(job_store, "c-run", "dave").cancel_requested_by == "carol"
    assert job_store.renew("c-run", "worker-a", 30)  # still its holder's meanwhile
    with pytest.raises(Cancelled) as stopped:
        fence("StartInstances")
    assert stopped.value.message == (
        "cancelled by carol after 1 operation that change things had been sent "
        "(StopInstances); StartInstances and everything after it were not sent")
    assert stopped.value.data == {"operations-sent": ["StopInstances"],
                                  "not-sent": "StartInstances"}
    with pytest.raises(Cancelled):  # and every request after it
        fence("StopInstances")
    assert fence.number == asked.fence and not fence.lost


def test_a_running_job_whose_holder_dies_after_a_cancel_is_not_rerun(job_store: Any) -> None:
    job_store.add(record("c-dead", action="stop-instances", executor="celery"))
    job_store.claim("c-dead", "worker-a", 0.05)
    lifecycle.cancel(job_store, "c-dead", "erin")
    time.sleep(0.1)  # its lease lapses: the holder is gone
    seen = lifecycle.observe(job_store, job_store.get("c-dead"))
    assert seen.status is JobStatus.CANCELLED, seen.message
    assert seen.message.startswith("cancelled by erin while running, and its runner")


def test_a_cancel_racing_a_claim_has_one_consistent_outcome(job_store: Any) -> None:
    outcomes = []
    for n in range(12):
        job_id = f"c-race-{n}"
        job_store.add(record(job_id, action="stop-instances"))
        start = threading.Barrier(2)
        claimed: list[Any] = []

        def claim(job_id: str = job_id, start: threading.Barrier = start,
                  claimed: list[Any] = claimed) -> None:
            start.wait()
            claimed.append(job_store.claim(job_id, "worker-a", 30))

        def cancel(job_id: str = job_id, start: threading.Barrier = start) -> None:
            start.wait()
            lifecycle.cancel(job_store, job_id, "frank")

        threads = [threading.Thread(target=claim), threading.Thread(target=cancel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        now = job_store.get(job_id)
        if claimed[0] is None:  # the cancel won: never claimed, nothing to send
            assert now.status is JobStatus.CANCELLED and now.started_at is None
            outcomes.append("cancelled")
            continue
        # The claim won: the cancel is asked of its holder, whose next change is refused.
        assert now.status is JobStatus.RUNNING and now.cancel_requested_by == "frank"
        # (Or the claim read its record back after the cancel: then it carries the cancel.)
        assert now.fence == claimed[0].fence + (0 if claimed[0].cancel_requested_at else 1)
        with pytest.raises(Cancelled, match="before its first change"):
            lifecycle.Fence(job_store, claimed[0], "worker-a", 30)("StopInstances")
        outcomes.append("asked")
    assert len(outcomes) == 12


def test_a_running_job_cancelled_mid_way_sends_nothing_more_and_ends_cancelled(
    job_store: Any, moto_server: Any, ec2: Any, image_id: str
) -> None:
    # stop-instances over an id that exists and one that does not: StopInstances fails,
    # DescribeInstances finds which exist, StopInstances again with those. The cancel
    # lands as the first StopInstances arrives: the second is never sent.
    [instance] = launch(ec2, image_id, 1)
    job_store.add(record("c-mid", action="stop-instances",
                         params={"instance-id": [MISSING, instance]}))
    runtime = Runtime()
    leases = lifecycle.Leases(job_store, 30)
    try:
        with Relay(moto_server.port, "StopInstances",
                   cancelling(job_store, "c-mid", "grace")) as relay:
            response = lifecycle.run("c-mid", job_store, Connectors(config_for(relay.url)),
                                     "worker-a", leases, runtime=runtime)
        assert response is not None and response.exitcode == ExitCode.CANCELLED
        assert relay.sent.count("StopInstances") == 1, relay.sent
        assert response.message == (
            "cancelled by grace after 1 operation that change things had been sent "
            "(StopInstances); StopInstances and everything after it were not sent")
        assert response.data["operations-sent"] == ["StopInstances"]
        ended = job_store.get("c-mid")
        assert ended.status is JobStatus.CANCELLED and ended.lease_until is None
        assert ended.response["exitcode"] == ExitCode.CANCELLED
        assert runtime.counts.of("jobs_ended") == {"cancelled": 1}
        assert state_of(ec2, instance) == "running"  # the stop that mattered never left
    finally:
        leases.stop()
        runtime.close()


def test_a_read_only_job_asked_to_cancel_simply_finishes(
        job_store: Any, moto_server: Any, ec2: Any, image_id: str) -> None:
    launch(ec2, image_id, 1)
    # list-instances: nothing it sends is fenced
    job_store.add(record("c-read", params={}))
    leases = lifecycle.Leases(job_store, 30)
    try:
        with Relay(moto_server.port, "DescribeInstances",
                   cancelling(job_store, "c-read", "heidi")) as relay:
            response = lifecycle.run("c-read", job_store, Connectors(config_for(relay.url)),
                                     "worker-a", leases)
    finally:
        leases.stop()
    assert response is not None and response.exitcode == 0, response.message
    ended = job_store.get("c-read")
    assert ended.status is JobStatus.SUCCEEDED and ended.cancel_requested_by == "heidi"
    assert ended.response is not None and ended.response["exitcode"] == 0
    assert relay.sent == ["DescribeInstances"]


def test_a_queued_celery_job_cancelled_before_a_worker_takes_it_sends_nothing(
    broker: str, moto_server: Any, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    [instance] = launch(ec2, image_id, 1)
    with Relay(moto_server.port) as relay:
        config = tmp_path / "relay.json"
        config.write_text(json.dumps(config_for(relay.url, region="us-east-1")))
        with Call(config=config_for(relay.url), broker=broker) as call:
            job = call.connector("aws-ec2").set("action", "stop-instances") \
                .set("instance-id", instance).async_()
            assert job.status == "queued"  # no worker yet
            assert call.job(job.id[:12]).cancel(by="ivan").status is JobStatus.CANCELLED
            worker = Worker(broker, config, tmp_path / "worker.log", concurrency=2)
            try:
                worker.wait_ready()
                deadline = time.monotonic() + 30
                while b"was not queued any more" not in worker.log.read_bytes() \
                        and time.monotonic() < deadline:
                    time.sleep(0.05)
                response = job.wait(5000)
            finally:
                worker.stop()
    assert b"was not queued any more" in worker.log.read_bytes()
    assert response.exitcode == ExitCode.CANCELLED
    assert response.message == "cancelled by ivan before it started; nothing was sent to EC2"
    assert relay.sent == [] and state_of(ec2, instance) == "running"


def test_a_cancel_racing_a_celery_worker_is_consistent(
    broker: str, moto_server: Any, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    # A live worker: the cancel lands before the claim, between the claim and the fence
    # check, or after the check. Whichever: a cancelled job sent nothing, and a job that
    # sent its stop ended succeeded with the (late) cancel noted on its record.
    instances = launch(ec2, image_id, 4)
    with Relay(moto_server.port) as relay:
        config = tmp_path / "relay.json"
        config.write_text(json.dumps(config_for(relay.url, region="us-east-1")))
        worker = Worker(broker, config, tmp_path / "worker.log", concurrency=4)
        try:
            worker.wait_ready()
            with Call(config=config_for(relay.url), broker=broker) as call:
                jobs = []
                for instance in instances:
                    job = call.connector("aws-ec2").set("action", "stop-instances") \
                        .set("instance-id", instance).async_()
                    call.jobs.cancel(job.id, by="judy")
                    jobs.append(job)
                ended = [(job.wait(30000), job.record()) for job in jobs]
        finally:
            worker.stop()
    stops = [p for p in relay.sent if p == "StopInstances"]
    sent = 0
    for (response, rec), instance in zip(ended, instances, strict=True):
        assert rec.cancel_requested_by == "judy"
        if rec.status is JobStatus.CANCELLED:
            assert response.exitcode == ExitCode.CANCELLED
            assert state_of(ec2, instance) == "running", rec.message
        else:
            assert rec.status is JobStatus.SUCCEEDED and response.exitcode == 0
            sent += 1
    assert len(stops) == sent


def test_while_nobody_cancels_a_run_reads_nothing_more_from_redis(
        redis_server: Any, moto_server: Any, endpoint: str, ec2: Any, image_id: str) -> None:
    # Counted by Redis itself: claim, the fence check before StopInstances and the finish
    # are one script call each, and nothing is read to see whether a cancel was asked.
    from ec2_connector.jobs.redis import RedisJobStore

    redis_server.flush()
    store = RedisJobStore(redis_server.url)
    [instance] = launch(ec2, image_id, 1)
    store.add(record("c-cost", action="stop-instances", params={"instance-id": [instance]}))
    # Both scripts loaded first, so a first-use reload is not counted.
    store.transition("none", [JobStatus.QUEUED], lease_until=1.0)
    store.transition("none", [JobStatus.QUEUED], status=JobStatus.QUEUED)
    store.client.config_resetstat()
    leases = lifecycle.Leases(store, 30)
    try:
        response = lifecycle.run("c-cost", store, Connectors(config_for(endpoint)),
                                 "worker-a", leases)
        stats = store.client.info("commandstats")
    finally:
        leases.stop()
        store.close()
    assert response is not None and response.exitcode == 0, response.message
    scripts = stats.get("cmdstat_evalsha", {})
    assert scripts.get("calls") == 3 and not scripts.get("failed_calls"), stats
    # The one HGETALL is the claim script's own answer (Redis counts commands that run
    # inside a script too): a cancel check would add one of its own.
    assert stats["cmdstat_hgetall"]["calls"] == 1, stats
    assert "cmdstat_eval" not in stats and "cmdstat_get" not in stats, stats
