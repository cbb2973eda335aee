"""Execution: deadlines, waits, progress, and many callers at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ec2_connector import Call, Response
from ec2_connector.runtime import Runtime
from ec2_connector.settings import Settings
from tests.conftest import all_instances, launch
from tests.harness import (
    CannedEC2Server,
    RefusingEndpoint,
    SilentServer,
)
from tests.harness.calls import LaunchThenHang, call_for, config_for


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.mark.parametrize("form", ["builder", "parameter"])
def test_timeout_bounds_the_call(silent: SilentServer, form: str) -> None:
    builder = call_for(silent.url).connector("aws-ec2").set("action", "describe-instances")
    builder = builder.timeout(800) if form == "builder" else builder.set("timeout", "800")
    started = time.monotonic()
    response = builder.sync()
    elapsed = time.monotonic() - started
    assert response.exitcode == 3, response.message
    assert "timed out after 800 ms" in response.message
    assert elapsed < 0.8 + 2.0  # generous: shared machine


def test_timed_out_launch_tells_how_to_retry_safely(
    moto_server: Any, endpoint: str, ec2: Any, image_id: str
) -> None:
    with LaunchThenHang(moto_server.port) as hang:
        lost = (call_for(hang.url).connector("aws-ec2").set("action", "create-instance")
                .set("image-id", image_id).set("instance-type", "t2.micro").timeout(3000).sync())
    assert lost.exitcode == 3
    token = lost.get("client-token")
    assert token and f"client-token '{token}'" in lost.message
    launched = [i["InstanceId"] for i in all_instances(ec2)]
    assert len(launched) == 1  # EC2 did launch; the answer was lost
    retry = (call_for(endpoint).connector("aws-ec2").set("action", "create-instance")
             .set("image-id", image_id).set("instance-type", "t2.micro")
             .set("client-token", token).sync())
    assert retry.exitcode == 0
    assert [i["instance-id"] for i in retry.get("instance-info")] == launched
    assert len(all_instances(ec2)) == 1


def test_waits_reach_the_target_state(call: Call, ec2: Any, image_id: str) -> None:
    events: list[dict[str, Any]] = []
    created = (call.connector("aws-ec2").set("action", "create-instance")
               .set("image-id", image_id).set("instance-type", "t2.micro")
               .set("min-instance", 2).set("wait", True).set("wait-interval", 100)
               .on_progress(events.append).sync())
    assert created.exitcode == 0
    assert {i["instance-state-name"] for i in created.get("instance-info")} == {"running"}
    assert events and events[-1]["event"] == "wait" and events[-1]["done"] == 2
    ids = [i["instance-id"] for i in created.get("instance-info")]
    stopped = (call.connector("aws-ec2").set("action", "stop-instances").set("instance-id", ids)
               .set("wait", "true").sync())
    assert stopped.exitcode == 0
    assert stopped.get("last-states") == {i: "stopped" for i in ids}


def test_wait_that_runs_out_of_time_fails_with_last_states() -> None:
    # The canned endpoint always describes its instances as running: a stop never ends.
    with CannedEC2Server(instances=2, detail="basic") as canned:
        ids = canned.instance_ids[:2]
        started = time.monotonic()
        response = (call_for(canned.url).connector("aws-ec2").set("action", "stop-instances")
                    .set("instance-id", ids).set("wait", True).set("wait-interval", 200)
                    .timeout(1500).sync())
    assert response.exitcode == 3, response.message
    assert response.get("last-states") == {i: "running" for i in ids}
    assert "running" in response.message
    assert time.monotonic() - started < 1.5 + 2.0


class TerminatedEC2(CannedEC2Server):
    """Describes every instance as terminated, whatever was asked of it."""

    def answer(self, params: dict[str, str]) -> tuple[int, bytes]:
        status, body = super().answer(params)
        if params.get("Action") == "DescribeInstances":
            body = body.replace(b"<code>16</code>", b"<code>48</code>")
            body = body.replace(b"<name>running</name>", b"<name>terminated</name>")
        return status, body


def test_wait_stops_at_a_dead_end() -> None:
    with TerminatedEC2(instances=1, detail="basic") as canned:
        ids = list(canned.instance_ids[:1])
        response = (call_for(canned.url).connector("aws-ec2").set("action", "stop-instances")
                    .set("instance-id", ids).set("wait", True).timeout(20000).sync())
    assert response.exitcode == 1, response.message
    assert "can no longer reach 'stopped'" in response.message
    assert response.get("last-states") == {ids[0]: "terminated"}
    assert response.meta["duration-ms"] < 10000


def test_32_concurrent_calls_share_clients(
    config: dict[str, Any], ec2: Any, image_id: str
) -> None:
    ids = launch(ec2, image_id, 4)
    runtime = Runtime()
    call = Call(config=config, runtime=runtime)

    def one(n: int) -> Response:
        action = "describe-instances" if n % 2 else "reboot-instances"
        return call.connector("aws-ec2").set("action", action).set("instance-id", ids).sync()

    barrier = threading.Barrier(32)

    def synced(n: int) -> Response:
        barrier.wait()
        return one(n)

    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(synced, range(32)))
    assert [r.exitcode for r in responses] == [0] * 32
    assert len(runtime.clients) == 1  # shared, not one client per call


def test_listing_streams_items_in_pages() -> None:
    with CannedEC2Server(instances=2500, page_size=1000, detail="basic") as canned:
        seen: list[str] = []
        response = (call_for(canned.url).connector("aws-ec2").set("action", "describe-instances")
                    .on_item(lambda item: seen.append(item["instance-id"])).sync())
    assert response.exitcode == 0
    assert response.get("instances-info") == []
    assert response.meta["streamed-items"] == 2500 == len(set(seen))


def test_client_cache_is_bounded() -> None:
    runtime = Runtime(Settings(max_clients=8))
    call = Call(config=config_for("http://127.0.0.1:9", **{"max-attempts": 1}), runtime=runtime)
    with RefusingEndpoint() as refusing:
        for n in range(8 + 5):
            response = (call.connector("aws-ec2").set("action", "list-instances")
                        .set("endpoint-url", refusing.url).set("access-key", f"AKIA{n:016d}")
                        .sync())
            assert response.exitcode == 4
    assert len(runtime.clients) == 8
