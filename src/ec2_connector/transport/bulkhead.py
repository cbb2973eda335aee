"""Bulkheads: a bound on the calls in flight to one endpoint, so one bad endpoint cannot
take every thread and connection of the process from the calls to the others.

A call waits for a place up to its deadline; a call that never got one was not sent,
and says so (`NotSent`, exitcode 3, naming the endpoint and how many were in flight).
A place is given back when the call's work has really ended, not when its caller gave
up, so abandoned calls still count until their connection has been cut.
"""

from __future__ import annotations

import threading
import time

from ..errors import TimedOut


class NotSent(TimedOut):
    """The call's deadline passed while its endpoint had no place for it."""


class Bulkhead:
    """At most `limit` calls in flight to `endpoint`."""

    def __init__(self, endpoint: str, limit: int) -> None:
        self.endpoint = endpoint
        self.limit = limit
        self.in_flight = 0
        # The lock is taken bare on the way in and out (a Condition's own `with` costs
        # more than a short call's place is worth); the condition only for waiting.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = 0

    def try_enter(self) -> bool:
        with self._lock:
            if self.in_flight >= self.limit:
                return False
            self.in_flight += 1
            return True

    def enter(self, timeout: float) -> None:
        """Take a place, waiting up to `timeout` seconds; NotSent if none came free."""
        with self._lock:
            if self.in_flight < self.limit and timeout > 0:
                self.in_flight += 1
                return
            ends = time.monotonic() + timeout
            self._waiting += 1
            try:
                while self.in_flight >= self.limit:
                    left = ends - time.monotonic()
                    if left <= 0:
                        raise self.refusal()
                    self._cond.wait(left)
                if time.monotonic() >= ends:  # a place, but too late to use it: pass it on
                    self._cond.notify()
                    raise self.refusal()
                self.in_flight += 1
            finally:
                self._waiting -= 1

    async def enter_async(self, timeout: float) -> None:
        """`enter` for an event loop: polls (every place given back is a thread's doing,
        and waking a loop from a thread costs more than a short poll)."""
        import asyncio  # only where an event loop runs: a one-shot command never needs it

        ends = time.monotonic() + timeout
        delay = 0.002
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                raise self.refusal()
            if self.try_enter():
                return
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)

    @property
    def waiting(self) -> int:
        """Calls waiting for a place."""
        return self._waiting

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1
            if self._waiting:
                self._cond.notify()

    def refusal(self) -> NotSent:
        return NotSent(f"not sent: {self.in_flight} calls to {self.endpoint} already in flight")


class Bulkheads:
    """The bulkheads of one runtime, one per (endpoint, bound)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, int], Bulkhead] = {}

    def get(self, endpoint: str, limit: int) -> Bulkhead:
        key = (endpoint, limit)
        with self._lock:
            bulkhead = self._by_key.get(key)
            if bulkhead is None:
                bulkhead = self._by_key[key] = Bulkhead(endpoint, limit)
            return bulkhead

    def in_flight(self) -> int:
        """Calls in flight to every endpoint (a measure for tests and benchmarks)."""
        with self._lock:
            return sum(b.in_flight for b in self._by_key.values())

    def waiting(self) -> int:
        """Calls waiting for a place, to every endpoint (a measure, as `in_flight`)."""
        with self._lock:
            return sum(b.waiting for b in self._by_key.values())

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._by_key = {}
