"""A request rate shared by every worker: a token bucket in Redis per account and region.

EC2 throttles per account and region; workers on many machines each retrying on their
own would turn a burst of a thousand jobs into exitcode 7. So before each request to
EC2, a worker takes a token from the bucket of that account and region in the broker's
Redis (one Lua script, on the server's clock, so the machines' clocks do not matter),
and waits when there is none: the burst is slowed, never failed, and never past the
call's deadline (then it is exitcode 3, as any wait would be).

Where the rate is high, a worker takes a few tokens in one call (at most what the bucket
refills in `AHEAD_S`, and never more than it holds) and spends the spare ones on its next
requests to the same bucket within `AHEAD_S`; what is left then is dropped, never given
back. Every request still spends a token taken from the shared bucket, so the shared
rate holds over any window longer than `AHEAD_S`; one Redis round trip serves several
requests (at the default 50 a second, two; at most `MAX_AHEAD`).
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runtime import Counts
    from .context import Context

PREFIX = "ec2-connector:throttle:"
AHEAD_S = 0.05  # tokens taken ahead are spent within this long, or dropped
MAX_AHEAD = 16
# KEYS: the bucket. ARGV: tokens per second, bucket size, tokens wanted. Returns {ms to
# wait, tokens taken}: {0, n} with 1 <= n <= wanted, or {wait, 0}.
_TAKE = """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait, got = 0, 0
if tokens >= 1 then
  got = math.min(want, math.floor(tokens))
  tokens = tokens - got
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {wait, got}
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
        self.ahead = max(1, min(MAX_AHEAD, int(rate * AHEAD_S), self.burst))
        self._spare: dict[str, tuple[int, float]] = {}  # bucket → (tokens, spend before)
        self._lock = threading.Lock()

    def _wait_ms(self, key: str) -> int:
        """Take tokens from the shared bucket: 0 when one is ours to spend now (the rest
        kept aside), else the ms to wait before asking again."""
        args = (self.rate, self.burst, self.ahead)
        # EVALSHA straight away: redis-py's Script makes two imports and pipeline checks
        # on every call; its text is sent only if the server has forgotten it.
        try:
            wait_ms, got = self._redis.execute_command("EVALSHA", self._take.sha, 1, key, *args)
        except self._noscript:
            wait_ms, got = self._take(keys=[key], args=list(args))
        if int(got) > 1:
            with self._lock:
                self._spare[key] = (int(got) - 1, time.monotonic() + AHEAD_S)
        return int(wait_ms)

    def _spend_spare(self, key: str) -> bool:
        """Spend a token taken ahead for this bucket, if one is left and still fresh."""
        if self.ahead == 1:
            return False
        with self._lock:
            count, until = self._spare.pop(key, (0, 0.0))
            if count < 1 or time.monotonic() >= until:
                return False
            if count > 1:
                self._spare[key] = (count - 1, until)
            return True

    def __call__(self, ctx: Context) -> None:
        key = bucket_key(ctx.target.access_key or ctx.target.profile or "default",
                         ctx.target.region)
        if self._spend_spare(key):
            return
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
