"""The shared request rate (transport/throttle.py) against a real Redis: tokens taken
ahead serve several requests per round trip, are spent only while fresh, and the rate
shared by several workers' buckets still holds."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from ec2_connector.transport.throttle import AHEAD_S, TokenBucket
from tests.harness.redis import RedisServer


@dataclass
class _Target:
    region: str = "us-east-1"
    access_key: str | None = "AKIDTHROTTLETEST"
    profile: str | None = None


@dataclass
class _Sent:
    """What the bucket reads of a request's context: its target and its sleep."""

    target: _Target = field(default_factory=_Target)
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Any:
    import redis

    redis_server.flush()
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


def _script_calls(client: Any) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
               for name in ("evalsha", "eval"))


def test_a_high_rate_takes_several_tokens_per_round_trip(redis_client: Any) -> None:
    bucket = TokenBucket(redis_client, rate=100_000)
    assert bucket.ahead == 16
    bucket(_Sent())  # type: ignore[arg-type]  # the server learns the script
    time.sleep(AHEAD_S * 2)  # what it took ahead goes stale
    before = _script_calls(redis_client)
    for _ in range(32):
        bucket(_Sent())  # type: ignore[arg-type]
    # 2 round trips for 32 requests (16 a call); a loaded machine that pauses this thread
    # past AHEAD_S between two of them lets its spare tokens go stale: one call more.
    assert 2 <= _script_calls(redis_client) - before <= 8


def test_tokens_taken_ahead_are_dropped_once_stale(redis_client: Any) -> None:
    bucket = TokenBucket(redis_client, rate=100_000)
    bucket(_Sent())  # type: ignore[arg-type]
    bucket(_Sent())  # type: ignore[arg-type]  # one of the 15 spare
    time.sleep(AHEAD_S * 2)
    before = _script_calls(redis_client)
    bucket(_Sent())  # type: ignore[arg-type]
    assert _script_calls(redis_client) - before == 1


def test_a_low_rate_takes_one_token_at_a_time(redis_client: Any) -> None:
    bucket = TokenBucket(redis_client, rate=5, burst=1)
    assert bucket.ahead == 1
    sent = _Sent()
    started = time.monotonic()
    for _ in range(3):
        bucket(sent)  # type: ignore[arg-type]
    assert time.monotonic() - started >= 0.35  # 3 at 5 a second from a bucket of 1
    assert sent.slept


def test_workers_taking_ahead_keep_to_the_shared_rate(redis_client: Any) -> None:
    rate, burst, window = 200, 20, 1.0
    buckets = [TokenBucket(redis_client, rate=rate, burst=burst) for _ in range(3)]
    assert buckets[0].ahead == 10
    sent = [0] * 6
    stop = time.monotonic() + window

    def send(n: int) -> None:
        bucket = buckets[n % 3]
        while True:
            bucket(_Sent())  # type: ignore[arg-type]
            if time.monotonic() >= stop:
                return
            sent[n] += 1

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every request spent a token from the one bucket: the burst plus what it refilled.
    assert sum(sent) <= burst + rate * (window + AHEAD_S) + 1
    assert sum(sent) >= rate * window * 0.5  # slowed to the rate, not stopped
