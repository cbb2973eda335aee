"""The workers' broker transport (jobs/broker.py): kombu's bookkeeping of the messages a
worker has taken but not acknowledged, written by our scripts, in kombu's own layout, on a
real worker and a real redis-server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import redis

from ec2_connector import Call
from ec2_connector.jobs.worker import QUEUE, TASK
from tests.harness import SilentServer
from tests.harness.calls import config_for
from tests.harness.workers import Worker


def test_a_running_jobs_message_is_kept_unacked_in_kombus_layout_until_its_end(
    broker: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(broker, decode_responses=True)
    with SilentServer() as silent:  # EC2 never answers: the job runs until its timeout
        config = tmp_path / "silent.json"
        config.write_text(json.dumps(config_for(silent.url, region="us-east-1")))
        worker = Worker(broker, config, tmp_path / "worker.log").wait_ready()
        try:
            with Call(config=config_for(silent.url), broker=broker) as call:
                job = call.connector("aws-ec2").set("action", "describe-instances") \
                    .timeout(3000).async_()
                deadline = time.monotonic() + 20
                while not client.hlen("unacked") and time.monotonic() < deadline:
                    time.sleep(0.05)
                taken = client.hgetall("unacked")
                index = client.zrange("unacked_index", 0, -1, withscores=True)
                response = job.wait(30000)
                # The ack is sent once the task returns, a moment after the job's end.
                deadline = time.monotonic() + 10
                while client.hlen("unacked") and time.monotonic() < deadline:
                    time.sleep(0.05)
                left = (client.hlen("unacked"), client.zcard("unacked_index"))
        finally:
            worker.stop()
    assert len(taken) == 1, taken
    [(tag, raw)] = taken.items()
    payload, exchange, routing_key = json.loads(raw)  # what kombu's restore reads back
    assert (exchange, routing_key) == ("", QUEUE)
    assert payload["properties"]["delivery_tag"] == tag
    assert payload["headers"]["task"] == TASK and payload["body"]
    assert [name for name, _ in index] == [tag]
    assert abs(index[0][1] - time.time()) < 60  # when it was taken, as kombu scores it
    assert response.exitcode != 0  # it timed out, as it should have
    assert left == (0, 0)  # acknowledged: no trace left for a restore to deliver again
