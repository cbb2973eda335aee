"""The process state of the connector, owned by one object: `Runtime(settings)`.

A runtime holds what would otherwise be module globals: the I/O threads the service's
calls run on, the watchdog that abandons calls at their deadline, the bulkheads of each
endpoint, the EC2 clients and the botocore session they share, and what the catalog fixes for
every call (the operations the trimmed model must hold, the secret parameter names),
and the counts of what happened (jobs ended, throttle waits) that metrics read.
`Call`, the service and a job worker share the process's runtime (`shared()`) or are
given one; tests build a fresh one. After `fork` every runtime forgets its threads,
locks and clients in the child: they belong to the parent.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from .actions import catalog
from .settings import Settings
from .transport.bulkhead import Bulkheads
from .transport.clients import ClientCache
from .transport.deadline import Watchdog

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from .response import Response
    from .transport.context import Context

_all: weakref.WeakSet[Runtime] = weakref.WeakSet()
_shared: Runtime | None = None
_shared_lock = threading.Lock()


class Counts:
    """What this process saw happen, by kind and label (a job ended `succeeded`, a lease
    seen lapsed, a throttle wait...), counted where it happens and read by the metrics
    when they are scraped (metrics.py), so nothing is counted twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], float] = {}

    def add(self, kind: str, label: str = "", by: float = 1) -> None:
        with self._lock:
            self._counts[kind, label] = self._counts.get((kind, label), 0) + by

    def of(self, kind: str) -> dict[str, float]:
        """The counts of `kind`, by label ("" for a kind without one)."""
        with self._lock:
            return {label: n for (k, label), n in self._counts.items() if k == kind}


class Runtime:
    """The executor, clients and catalog facts of one process (or one test)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.operations = tuple(catalog.operations())
        self.secret_names = catalog.secret_names()
        self.clients = ClientCache(
            self.operations,
            max_clients=self.settings.max_clients,
            full_model=self.settings.full_model,
            compiled_parser=self.settings.compiled_parser,
        )
        self.watchdog = Watchdog()
        self.bulkheads = Bulkheads()
        self.counts = Counts()
        # Told of each job this process ran to its end and recorded, with its time (the
        # service's metrics count it as a call of its action, with its real exit code).
        self.job_observers: list[Callable[[Response, float], None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # A worker's shared request rate (throttle.TokenBucket), consulted before each
        # request to EC2; None: no limit beyond EC2's own.
        self.throttle: Callable[[Context], None] | None = None
        _all.add(self)

    def executor(self) -> ThreadPoolExecutor:
        """The I/O threads calls run on, started on first use."""
        if self._executor is None:
            from concurrent.futures import ThreadPoolExecutor  # a sync call needs none

            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self.settings.io_threads, thread_name_prefix="ec2-connector-io"
                    )
        return self._executor

    def job_ended(self, response: Response, seconds: float) -> None:
        for observe in list(self.job_observers):
            observe(response, seconds)

    def close(self) -> None:
        """Stop taking calls on the I/O threads; those running end at their deadline."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self.clients.clear()

    def _after_fork(self) -> None:
        self._executor = None
        self._lock = threading.Lock()
        self.clients.reset()
        self.watchdog.reset()
        self.bulkheads.reset()
        self.counts = Counts()

    def __repr__(self) -> str:
        return f"<Runtime {self.settings!r}>"


def shared() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Runtime()
    return _shared


def _after_fork_in_child() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for runtime in list(_all):
        runtime._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
