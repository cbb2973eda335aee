"""A retry's backoff, bounded by the call's deadline.

botocore decides whether a failed attempt is retried and how long to wait before the
next one (its `needs-retry` handler: jittered exponential backoff, up to a second on a
throttling answer's first retry and doubling after, and up to 5 s more when the answer
carries `x-amz-retry-after`), then sleeps that long in `Endpoint._needs_retry`, where
nothing of ours can wake it. A call whose deadline passed during that sleep returned up
to a second late (issue 16), since the before-send hook only runs after it.

So the handler botocore builds, from its public `register_retry_handler`, is wrapped:
its decision stands (which failures are retried, the retry quota, the delay), but the
sleep is the call's own (`Context.sleep`: it ends at the deadline, or the moment the
call is abandoned), and a retry that could not leave time for an attempt is not made at
all: the last attempt's failure is then the answer. Outside a call (a client used by
itself), the handler is botocore's, unchanged.

Adaptive mode adds a rate limiter whose wait for a token blocked the same way; it is
built here as botocore builds it, around a bucket whose wait is the call's too.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.retries import bucket

from .current import current

log = logging.getLogger("ec2_connector")

# What the next attempt needs at least, once the backoff is over: a round trip on a
# healthy endpoint. A retry that would leave less is not made.
MIN_ATTEMPT_S = 0.05
TOKEN_POLL_S = 0.005  # the shortest wait for a rate limiter's token
MIN_FILL_RATE = 0.5  # tokens a second: botocore's bucket never fills slower
_EVENT = "needs-retry.ec2"
_UNIQUE_ID = "retry-config-ec2"  # the id botocore registers its retry handler under


def install(client: Any, *, adaptive: bool = False) -> None:
    """Replace `client`'s retry handler (built in standard mode) with botocore's own,
    bounded by each call's deadline; with `adaptive`, add adaptive mode's rate limiter,
    whose wait for a token ends with the call too."""
    from botocore.retries import standard

    events = client.meta.events
    max_attempts = client.meta.config.retries.get("total_max_attempts")
    # botocore's handler is registered under a unique id and cannot be read back, so it
    # is dropped and built again, the same way, where we can hold it. (The quota release
    # of the dropped one stays registered; it releases a quota nothing draws from.)
    events.unregister(_EVENT, unique_id=_UNIQUE_ID)
    handler = standard.register_retry_handler(client, max_attempts=max_attempts)
    events.unregister(_EVENT, unique_id=_UNIQUE_ID)
    events.register(_EVENT, BoundedRetry(handler.needs_retry), unique_id=_UNIQUE_ID)
    if adaptive:
        _add_rate_limiter(events)


def _add_rate_limiter(events: Any) -> None:
    """What botocore's `adaptive.register_retry_handler` does, with a `DeadlineBucket`.

    Its limiter waits for a token before each request, in a blocking `acquire` that knows
    no deadline (20 calls at once on a throttled endpoint returned up to 4.7 s late). Its
    send hook goes first, so that the before-send hook gives the request what the wait
    left, not what there was before it.
    """
    from botocore.retries import adaptive, standard, throttling

    clock = bucket.Clock()
    limiter = adaptive.ClientRateLimiter(
        rate_adjustor=throttling.CubicCalculator(
            starting_max_rate=0, start_time=clock.current_time()),
        rate_clocker=adaptive.RateClocker(clock),
        token_bucket=DeadlineBucket(max_rate=1, clock=clock),
        throttling_detector=standard.ThrottlingErrorDetector(
            retry_event_adapter=standard.RetryEventAdapter()),
        clock=clock,
    )
    events.register_first("before-send.ec2", limiter.on_sending_request)
    events.register("needs-retry.ec2", limiter.on_receiving_response)


class DeadlineBucket(bucket.TokenBucket):
    """botocore's token bucket, whose blocking wait is the calling call's own sleep."""

    def acquire(self, amount: int = 1, block: bool = True) -> bool:
        ctx = current()
        if ctx is None or not block:
            return bool(super().acquire(amount, block))
        while True:
            try:
                return bool(super().acquire(amount, block=False))
            except bucket.CapacityNotAvailableError:
                # About until the next token (botocore never fills slower than 0.5 a
                # second); tried again then, TimedOut at the deadline.
                missing = amount - float(self.available_capacity)
                wait = missing / max(float(self.max_rate), MIN_FILL_RATE)
                ctx.sleep(min(max(TOKEN_POLL_S, wait), 1.0))


class BoundedRetry:
    """A `needs-retry` handler: botocore's decision, with the wait done by the call."""

    def __init__(self, decide: Any) -> None:
        self._decide = decide

    def __call__(self, **kwargs: Any) -> float | bool | None:
        ctx = current()
        if ctx is not None and (ctx.abandoned or ctx.deadline.remaining() < MIN_ATTEMPT_S):
            return False  # not even asked: botocore would take from its retry quota
        delay = self._decide(**kwargs)
        if ctx is None or delay is None or delay is False:
            return delay  # type: ignore[no-any-return]
        left = ctx.deadline.remaining()
        if ctx.abandoned or left - float(delay) < MIN_ATTEMPT_S:
            log.debug("not retrying: %.3f s left, backoff %.3f s", left, delay)
            return False  # no retry: the last attempt's failure stands
        ctx.sleep(float(delay))  # TimedOut if the call is abandoned meanwhile
        return 0  # retry now: botocore's own sleep is then sleep(0)
