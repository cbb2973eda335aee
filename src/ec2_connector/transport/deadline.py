"""A call's deadline: every wait, retry and socket timeout is derived from it; and the
watchdog that abandons a call the moment its deadline passes."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable


class Deadline:
    """Wall-clock bound of one call, measured on the monotonic clock."""

    __slots__ = ("expires_at", "started_at", "timeout_ms")

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.started_at = time.monotonic()
        self.expires_at = self.started_at + timeout_ms / 1000.0

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.expires_at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.expires_at

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started_at) * 1000)


COMPACT_AT = 1024  # alarms in the heap before cancelled ones are swept out


class Watchdog:
    """Runs each armed callback once, when its deadline passes, on one daemon thread.

    One thread serves every call of a runtime (a timer thread per call would cost more
    than a short call); it is daemonic, so it never holds the interpreter's exit.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Alarm]] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._compact_at = COMPACT_AT

    def arm(self, deadline: Deadline, callback: Callable[[], object]) -> Alarm:
        alarm = Alarm(callback)
        with self._lock:  # bare: the condition's own `with` costs more
            if len(self._heap) >= self._compact_at:
                self._compact()
            entry = (deadline.expires_at, next(self._count), alarm)
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ec2-connector-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()  # earlier than what the thread sleeps towards
        return alarm

    def __len__(self) -> int:
        """Alarms held, cancelled ones included until swept (a measure for tests)."""
        with self._lock:
            return len(self._heap)

    def pending(self) -> int:
        """Armed alarms not yet fired nor cancelled (a measure for tests and benchmarks)."""
        with self._cond:
            return sum(1 for _, _, alarm in self._heap if not alarm.cancelled)

    def reset(self) -> None:
        """After a fork: the thread is gone, and the alarms were the parent's."""
        self._heap = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._thread = None
        self._compact_at = COMPACT_AT

    def _compact(self) -> None:
        # Cancelled alarms are otherwise dropped only as their deadline comes: a process
        # making a thousand short calls a second under a 5-minute timeout would hold
        # 300,000 of them. Compacting whenever the heap has doubled costs O(1) a call.
        # (The sleeping thread wakes for an entry dropped here, finds nothing due, and
        # sleeps on towards the next one.)
        self._heap = [entry for entry in self._heap if not entry[2].cancelled]
        heapq.heapify(self._heap)
        self._compact_at = max(COMPACT_AT, 2 * len(self._heap))

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._next_due()
            for alarm in due:
                alarm.fire()

    def _next_due(self) -> list[Alarm]:
        while True:
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)  # cancelled ones are dropped lazily, here
            now = time.monotonic()
            due = []
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap)[2])
            if due:
                return due
            self._cond.wait(self._heap[0][0] - now if self._heap else None)


class Alarm:
    """One armed callback; `cancel()` when the call ended before its deadline."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            try:
                self.callback()
            except Exception:  # the watchdog must outlive a failing callback
                logging.getLogger("ec2_connector").exception("deadline callback failed")
