"""botocore sessions: the one a region lookup reads is the one the client cache then builds on.

A session costs ~5 ms to make (it registers ~120 handlers), and a one-shot command needs
two things of it: the region the profile in effect names (config.Target.resolve, before
anything is sent), then a client. The lookup's session is kept as the spare, and the
client cache takes it instead of making another: one session per process.

The spare is handed over only for the same profile (and $AWS_PROFILE) and only while the
AWS config file is the one it read (same path and mtime): a session reads both once, and
the client cache must not build on anything older than a fresh session would read. It
is handed over once; the client cache then prepares it (its model, its parser) and owns it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
# (profile, $AWS_PROFILE, config file, its mtime) and a session no client cache has taken.
_spare: tuple[tuple[Any, ...], Any] | None = None


def config_stamp() -> tuple[str, int | None]:
    """The AWS config file a session would read now, and its mtime (None: absent)."""
    path = os.path.expanduser(os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"))
    try:
        return path, os.stat(path).st_mtime_ns
    except OSError:
        return path, None


def read(profile: str | None, query: Callable[[Any], T]) -> T:
    """`query(session)` on the spare session for `profile` (made if there is none), under
    the lock: botocore sessions are not thread-safe, and a client cache may take it next."""
    global _spare
    key = _key(profile)
    with _lock:
        if _spare is None or _spare[0] != key:
            _spare = (key, _new(profile))
        return query(_spare[1])


def take(profile: str | None) -> Any:
    """A session for `profile` that is the caller's alone: the spare if it fits, else new."""
    global _spare
    key = _key(profile)
    with _lock:
        spare, _spare = _spare, None
    if spare is not None and spare[0] == key:
        return spare[1]
    return _new(profile)


def _key(profile: str | None) -> tuple[Any, ...]:
    return (profile, os.environ.get("AWS_PROFILE"), *config_stamp())


def _new(profile: str | None) -> Any:
    import botocore.session

    return botocore.session.Session(profile=profile)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
