"""A job's audit lines, as its console page shows them: from the trail's file, or from
the shared stream in a real Redis when jobs are shared."""

from __future__ import annotations

from pathlib import Path

import redis

from ec2_connector.service.audit import STREAM, AuditTrail
from tests.harness.redis import RedisServer


def test_a_job_s_lines_from_the_file_and_from_the_shared_stream(
        redis_server: RedisServer, tmp_path: Path) -> None:
    client = redis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + "/6")
    client.delete(STREAM)
    file_trail = AuditTrail(tmp_path / "audit.jsonl")
    assert file_trail.of_job("a") == []  # nothing written yet: no lines, no error
    stream_trail = AuditTrail(None, client)
    for n, job in enumerate(["a", "b", "a", None]):
        for trail in (file_trail, stream_trail):
            trail.write({"n": n, "job-id": job, "message": "<b>as written</b>"})
    file_trail.close()
    stream_trail.close()  # its writer thread has sent every line
    try:
        assert [line["n"] for line in file_trail.of_job("a")] == [0, 2]
        reader = AuditTrail(None, client)
        assert [line["n"] for line in reader.of_job("a")] == [0, 2]
        assert [line["n"] for line in reader.of_job("b", window=2)] == []  # beyond the window
        reader.close()
        assert AuditTrail(None).of_job("a") is None  # no trail at all
    finally:
        client.delete(STREAM)
        client.close()
