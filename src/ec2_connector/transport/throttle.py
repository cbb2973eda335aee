"""A request rate shared by every worker: a token bucket in Redis per account and region.

EC2 throttles per account and region; workers on many machines each retrying on their
own would turn a burst of a thousand jobs into exitcode 7. So before each request to
EC2, a worker takes a token from the bucket of that account and region in the broker's
Redis (one Lua script, on the server's clock, so the machines' clocks do not matter),
and waits when there is none: the burst is slowed, never failed, and never past the
call's deadline (then it is exitcode 3, as any wait would be).
"""

from __future__ import annotations

import functools
import hashlib
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runtime import Counts
    from .context import Context

PREFIX = "ec2-connector:throttle:"
# KEYS: the bucket. ARGV: tokens per second, bucket size. Returns ms to wait (0: go).
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""


class TokenBucket:
    """`rate` requests per second per account and region, bursts up to `burst`."""

    def __init__(self, redis_client: Any, rate: int, burst: int | None = None,
                 counts: Counts | None = None) -> None:
        self.rate = rate
        self.burst = burst or rate
        self.counts = counts  # requests that waited, and how long: the worker's metrics
        from redis.exceptions import NoScriptError

        self._redis, self._noscript = redis_client, NoScriptError
        self._take = redis_client.register_script(_TAKE)

    def _wait_ms(self, key: str) -> int:
        # EVALSHA straight away: redis-py's Script makes two imports and pipeline checks
        # on every call; its text is sent only if the server has forgotten it.
        try:
            return int(self._redis.execute_command("EVALSHA", self._take.sha, 1, key,
                                                   self.rate, self.burst))
        except self._noscript:
            return int(self._take(keys=[key], args=[self.rate, self.burst]))

    def __call__(self, ctx: Context) -> None:
        key = bucket_key(ctx.target.access_key or ctx.target.profile or "default",
                         ctx.target.region)
        waiting_since = None
        try:
            while True:
                wait_ms = self._wait_ms(key)
                if wait_ms <= 0:
                    return
                waiting_since = waiting_since or time.monotonic()
                ctx.sleep(wait_ms / 1000)  # never past the deadline; wakes if abandoned
        finally:
            if waiting_since is not None and self.counts is not None:
                self.counts.add("throttle_waits")
                self.counts.add("throttle_wait_seconds", by=time.monotonic() - waiting_since)


@functools.lru_cache(maxsize=256)
def bucket_key(account: str, region: str) -> str:
    # The access key id is kept out of Redis keys: a digest names the account's bucket.
    digest = hashlib.sha256(account.encode()).hexdigest()[:16]
    return f"{PREFIX}{digest}:{region}"
