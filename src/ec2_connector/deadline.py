"""A call's deadline: every wait, retry and socket timeout is derived from it."""

from __future__ import annotations

import time


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
