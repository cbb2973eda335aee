"""The call this thread is making, as botocore's hooks and our connections see it.

botocore calls the hooks (clients.py, backoff.py) and opens connections (connections.py)
without saying for which call; they find it here. They see it as `Call`, the part of
`Context` they use, so that they need not import `Context`, which uses them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from .deadline import Deadline


class Call(Protocol):
    """What the hooks and connections use of a call's context."""

    deadline: Deadline
    abandoned: bool
    attempts: int
    endpoint: str | None
    throttle: Callable[[Any], None] | None
    fence: Callable[[str, int], None] | None

    def hold(self, conn: Any) -> bool: ...

    def sleep(self, seconds: float) -> None: ...

    def record_http(self, response_dict: dict[str, Any]) -> None: ...


_active = threading.local()


def activate(ctx: Call | None) -> Call | None:
    """Bind the calling thread's EC2 traffic to `ctx`; returns the context it replaces."""
    previous = current()
    _active.ctx = ctx
    return previous


def current() -> Call | None:
    return getattr(_active, "ctx", None)
