"""`ec2-connector worker --metrics-port`: a real worker process, a real Redis, moto behind
a proxy that throttles the first requests; its metrics scraped over HTTP and read with
Prometheus' own client parser after a known workload."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ec2_connector import Call
from ec2_connector.actions import catalog
from ec2_connector.jobs.redis import RedisJobStore
from tests.harness import FaultProxy
from tests.harness.calls import config_for
from tests.harness.cli import assert_one_line_error, clean_env
from tests.harness.faults import free_port
from tests.harness.metrics import LABELS, Values, key, label_values, scrape, series
from tests.harness.workers import Worker

RETRIED = 2  # requests the proxy throttles before it forwards to EC2
MISSING = "i-0123456789abcdef0"


def submit(call: Call, action: str, **params: str) -> Any:
    builder = call.connector("aws-ec2").set("action", action)
    for name, value in params.items():
        builder.set(name, value)
    return builder.timeout(60000).async_()


def reruns(store: RedisJobStore, job_id: str) -> int:
    record = store.get(job_id)  # as stored: reading it so changes nothing
    assert record is not None
    return record.reruns


def scrape_until(url: str, calls: int) -> Values:
    """The worker's metrics once `calls` calls are counted (a job's record is written
    just before its call is counted)."""
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            values = scrape(client)
            if sum(series(values, "calls_total").values()) >= calls:
                return values
            assert time.monotonic() < deadline, values
            time.sleep(0.2)


def test_a_workers_metrics_count_a_known_workload(
        broker: str, endpoint: str, tmp_path: Path) -> None:
    with FaultProxy(endpoint, fail_first=RETRIED) as proxy, \
            Call(config=config_for(proxy.url), broker=broker) as call:
        config = tmp_path / "proxied.json"
        config.write_text(json.dumps(config_for(proxy.url, region="us-east-1")))
        # A job a lost worker held: claimed, then its lease left to lapse; the worker's
        # sweeper sees it, marks it interrupted and queues it again (a rerun).
        lost = submit(call, "describe-vpc")
        store = RedisJobStore(broker)
        try:
            assert store.claim(lost.id, "lost-host:1:gone", 0.5) is not None
            port = free_port()
            worker = Worker(broker, config, tmp_path / "worker.log",
                            flags=("--metrics-port", str(port)),
                            EC2_CONNECTOR_THROTTLE_RATE="2", EC2_CONNECTOR_THROTTLE_BURST="1")
            silent: socket.socket | None = None
            try:
                worker.wait_ready()
                jobs = [submit(call, "describe-vpc") for _ in range(4)]
                failing = submit(call, "describe-instances", **{"instance-id": MISSING})
                assert [job.wait(60000).exitcode for job in jobs] == [0] * 4
                failed = failing.wait(60000).exitcode
                deadline = time.monotonic() + 30
                while not reruns(store, lost.id):  # the worker's own sweep, not a reader's
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
                assert lost.wait(60000).exitcode == 0
                values = scrape_until(f"http://127.0.0.1:{port}", 6)
                # A client that connects and says nothing holds neither the scrapes nor
                # the worker's stop.
                silent = socket.create_connection(("127.0.0.1", port))
                again = scrape_until(f"http://127.0.0.1:{port}", 6)
            finally:
                worker.stop()  # SIGTERM; killed (not 0) if it has not ended in 10 s
                if silent is not None:
                    silent.close()
        finally:
            store.close()
    assert failed not in (0, 2) and worker.proc.returncode == 0
    assert series(values, "calls_total") == {("describe-vpc", "0"): 5,
                                            ("describe-instances", str(failed)): 1}
    assert series(values, "call_duration_seconds_count") == {
        ("describe-vpc",): 5, ("describe-instances",): 1}
    assert series(values, "jobs_ended_total") == {
        ("succeeded",): 5, ("failed",): 1, ("timed-out",): 0, ("cancelled",): 0}
    assert values[key("lease_expiries_total")] == 1
    assert values[key("reruns_total")] == 1
    assert values[key("fencing_refusals_total")] == 0
    assert sum(series(values, "ec2_retries_total").values()) == proxy.failures_sent == RETRIED
    assert values[key("throttle_waits_total")] >= 1  # 2 requests a second, 8 sent
    assert values[key("throttle_wait_seconds_total")] > 0
    assert values[key("queue_depth")] == 0 and values[key("calls_in_flight")] == 0
    assert values[key("jobs", status="queued")] == values[key("jobs", status="running")] == 0
    assert again[key("reruns_total")] == 1
    # A worker settles its collector once Celery is ready (startup.settle).
    assert values[key("gc_frozen_objects")] > 10_000
    assert ("python_gc_collections_total", (("generation", "0"),)) in values
    labels = label_values(values)
    assert set(labels) <= LABELS and labels["action"] <= set(catalog.names())
    ids = {job.id for job in (*jobs, failing, lost)}
    every = {value for values in labels.values() for value in values}
    assert not every & ids and not any(value.startswith(("i-", "vpc-")) for value in every)


def test_a_metrics_port_that_cannot_be_served_stops_the_worker_before_any_job(
        broker: str, config_file: Path, tmp_path: Path) -> None:
    with Call(config=config_for("http://127.0.0.1:9"), broker=broker) as call:
        waiting = submit(call, "describe-vpc")
        env = {**clean_env(tmp_path / "home"), "EC2_CONNECTOR_CONFIG": str(config_file)}
        worker = [sys.executable, "-m", "ec2_connector.cli", "worker", "--broker", broker]
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            used = str(taken.getsockname()[1])
            for flags, said in ((["--metrics-port", used], "Address already in use"),
                                (["--metrics-port", "70000"], "at most 65535"),
                                (["--metrics-port", "0"], "positive"),
                                (["--metrics-host", "127.0.0.1"], "needs --metrics-port"),
                                (["--metrics-port", "9", "--metrics-host", "192.0.2.1"],
                                 "cannot serve metrics on 192.0.2.1:9")):
                refused = subprocess.run([*worker, *flags], env=env, capture_output=True,
                                         text=True, timeout=60)
                assert said in assert_one_line_error(refused, 2), flags
        assert call.job(waiting.id).status == "queued"  # nothing taken from the queue
