"""Where a process keeps its jobs and where they run, chosen by name from two tables
(celery's `BACKEND_ALIASES` shape): a new store is one module and one line in `STORES`,
a new executor one class (with `open(manager)`) and one line in `EXECUTORS`.

The name is the broker URL's scheme, or `sqlite` when there is no broker: a broker's
jobs are shared by every machine that reaches it, so they live in the broker's own
Redis, and the executor is then Celery (`manager.JobManager`); without one they live in
the SQLite file of the home folder, run by this process's threads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..settings import Settings
from .store import JobStore

if TYPE_CHECKING:
    from .executors import Executor, Parts

# name -> "module:class", imported on first use (a driver is loaded only when used).
STORES = {
    "sqlite": "store:SQLiteJobStore",
    "redis": "redis:RedisJobStore",
    "rediss": "redis:RedisJobStore",
    "unix": "redis:RedisJobStore",
}
# name -> "module:class": where a job runs. A shared store's jobs run on Celery workers,
# the one machine's on threads of the submitting process.
EXECUTORS = {
    "threads": "executors:ThreadExecutor",
    "celery": "executors:CeleryExecutor",
}


def _load(entry: str) -> Any:
    module, _, name = entry.partition(":")
    return getattr(importlib.import_module(f".{module}", __package__), name)


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
    cls = _load(STORES[store_kind(broker)])
    bounds = {"job_ttl_s": settings.job_ttl_s,
              "max_response_bytes": settings.max_response_bytes}
    if broker:
        return cls(broker, **bounds)  # type: ignore[no-any-return]
    return cls(home, busy_ms=settings.store_busy_ms, **bounds)  # type: ignore[no-any-return]


def executor_kind(broker: str | None) -> str:
    """The `EXECUTORS` name for a broker URL (None: no broker)."""
    return "celery" if broker else "threads"


def open_executor(manager: Parts) -> Executor:
    """The executor of a manager's store, built from the manager's parts."""
    return _load(EXECUTORS[executor_kind(manager.broker)]).open(manager)  # type: ignore[no-any-return]
