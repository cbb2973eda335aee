"""Where a process keeps its jobs, chosen by name from one table (celery's
`BACKEND_ALIASES` shape): a new store is one module and one line in `STORES`.

The name is the broker URL's scheme, or `sqlite` when there is no broker: a broker's
jobs are shared by every machine that reaches it, so they live in the broker's own
Redis, and the executor is then Celery (`manager.JobManager`); without one they live in
the SQLite file of the home folder, run by this process's threads.
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

from ..settings import Settings
from .store import JobStore

# name -> "module:class", imported on first use (a driver is loaded only when used).
STORES = {
    "sqlite": "store:SQLiteJobStore",
    "redis": "redis:RedisJobStore",
    "rediss": "redis:RedisJobStore",
    "unix": "redis:RedisJobStore",
}


def store_kind(broker: str | None) -> str:
    """The `STORES` name for a broker URL (None: no broker)."""
    if not broker:
        return "sqlite"
    scheme = urlsplit(broker).scheme.lower()
    # Redis is the one broker: any other URL is left to its store to refuse, naming it
    # with the password masked.
    return scheme if scheme in STORES and scheme != "sqlite" else "redis"


def open_store(broker: str | None, *, home: Any = None,
               settings: Settings | None = None) -> JobStore:
    """The job store for a broker URL, or the home folder's SQLite store, with the
    settings' bounds (how long ended jobs are kept, how much of a response)."""
    settings = settings or Settings.from_env()
    module, _, name = STORES[store_kind(broker)].partition(":")
    cls = getattr(importlib.import_module(f".{module}", __package__), name)
    bounds = {"job_ttl_s": settings.job_ttl_s,
              "max_response_bytes": settings.max_response_bytes}
    if broker:
        return cls(broker, **bounds)  # type: ignore[no-any-return]
    return cls(home, busy_ms=settings.store_busy_ms, **bounds)  # type: ignore[no-any-return]
