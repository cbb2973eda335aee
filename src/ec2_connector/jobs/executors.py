"""Where a submitted job runs: threads of this process, or Celery workers anywhere.

Each is built from the manager by `open(manager)` (backends.EXECUTORS names them) and
calls `lifecycle.run(job_id)` and nothing else. The thread executor also hands the
in-memory request (with any secrets it carries) to the run, and keeps each response in
memory for this process's waiters, in case the store cannot take it. Only the job id
travels through Celery's broker; a worker rebuilds the request from the record.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from ..config import Connectors
from ..request import Request
from ..response import Response
from ..runtime import Runtime
from ..transport import startup
from ..transport.context import Progress
from . import lifecycle
from .record import JobRecord
from .store import JobStore

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger("ec2_connector.jobs")
KEPT_RESULTS = 1000


class Parts(Protocol):
    """What an executor is opened from: a job manager's parts (`manager.JobManager`),
    named here so that executors need not know the manager that holds them."""

    store: JobStore
    connectors: Connectors
    holder: str
    lease_s: float
    workers: int
    runtime: Runtime | None
    broker: str | None


class Executor(Protocol):
    name: str
    # Remote: the job runs in another process, so the request must be rebuilt from its
    # record (and any secrets it carries sealed); this process keeps no response.
    remote: bool

    def hold(self, record: JobRecord) -> None:
        """Before the record is written: take what the executor must hold of it."""

    def submit(self, job_id: str, request: Request, progress: Progress | None) -> None: ...

    def recover(self, record: JobRecord) -> bool:
        """An interrupted job seen by a reader: queue it again if this executor may."""

    def result(self, job_id: str) -> Response | None:
        """A response this process holds in memory for the job, if any."""

    def finished_event(self, job_id: str) -> threading.Event | None: ...

    def close(self, wait: bool = True) -> None: ...


class ThreadExecutor:
    """Jobs on a bounded pool of this process; at interpreter exit, jobs already
    submitted are run to their end first (fire and forget works)."""

    name = "threads"
    remote = False

    @classmethod
    def open(cls, manager: Parts) -> ThreadExecutor:
        leases = lifecycle.Leases(manager.store, manager.lease_s)
        return cls(manager.store, manager.connectors, manager.holder, leases,
                   manager.workers, manager.runtime)

    def __init__(self, store: JobStore, connectors: Connectors, holder: str,
                 leases: lifecycle.Leases, workers: int, runtime: Runtime | None) -> None:
        self.store, self.connectors, self.holder, self.leases = (
            store, connectors, holder, leases)
        self.runtime = runtime
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ec2-connector-job")
        startup.pool_opened()  # its young collections (transport/startup.py)
        self._events: dict[str, threading.Event] = {}
        # Responses for this process's waiters, newest last; bounded, since the store
        # holds every result that it could take.
        self._results: OrderedDict[str, Response] = OrderedDict()
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False
        # Runs before concurrent.futures' own exit hook (they run newest first), while
        # the I/O pool still takes work: a script may end right after `async_()`.
        with contextlib.suppress(RuntimeError):  # already exiting: nothing left to wait for
            threading._register_atexit(_drain_later(weakref.ref(self)))  # type: ignore[attr-defined]

    def hold(self, record: JobRecord) -> None:
        # Until a thread claims it, this process holds the job: if it dies, the lease
        # lapses and the job is seen as interrupted, never left queued for ever.
        record.holder, record.lease_until = self.holder, record.created_at + self.leases.lease_s

    def submit(self, job_id: str, request: Request, progress: Progress | None) -> None:
        self.leases.hold(job_id, self.holder)
        with self._lock:
            self._events[job_id] = threading.Event()
        future = self._pool.submit(self._run, job_id, request, progress)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, job_id: str, request: Request, progress: Progress | None) -> None:
        def handoff(response: Response) -> None:
            with self._lock:
                self._results[job_id] = response
                while len(self._results) > KEPT_RESULTS:
                    self._results.popitem(last=False)
            event = self.finished_event(job_id)
            if event is not None:
                event.set()

        try:
            lifecycle.run(job_id, self.store, self.connectors, self.holder, self.leases,
                          request=request, runtime=self.runtime, progress=progress,
                          handoff=handoff)
        finally:
            with self._lock:
                event = self._events.pop(job_id, None)
            if event is not None:
                event.set()

    def result(self, job_id: str) -> Response | None:
        with self._lock:
            return self._results.get(job_id)

    def finished_event(self, job_id: str) -> threading.Event | None:
        with self._lock:
            return self._events.get(job_id)

    def _drain(self) -> None:
        with self._lock:
            pending = len(self._pending)
        if pending and not self._closed:
            log.warning("waiting for %d submitted job(s) to end before the process exits",
                        pending)
            self._pool.shutdown(wait=True)

    def recover(self, record: JobRecord) -> bool:
        return False  # the process that ran it is gone: `jobs resume` is a person's call

    def close(self, wait: bool = True) -> None:
        if not self._closed:
            startup.pool_closed()
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self.leases.stop()


def _drain_later(ref: weakref.ref[ThreadExecutor]) -> Callable[[], None]:
    def drain() -> None:
        executor = ref()
        if executor is not None:
            executor._drain()

    return drain


class CeleryExecutor:
    """Jobs on Celery workers: the job id is sent to the broker, nothing else."""

    name = "celery"
    remote = True

    @classmethod
    def open(cls, manager: Parts) -> CeleryExecutor:
        from .worker import make_app

        assert manager.broker, "the Celery executor needs a broker"
        return cls(make_app(manager.broker), manager.store)

    def __init__(self, app: Celery, store: JobStore) -> None:
        self.app, self.store = app, store

    def hold(self, record: JobRecord) -> None:
        pass  # a worker claims it from the broker's queue

    def submit(self, job_id: str, request: Request, progress: Progress | None) -> None:
        from .worker import send

        send(self.app, job_id)

    def recover(self, record: JobRecord) -> bool:
        from .worker import requeue

        # A worker was lost: queue it again now rather than at the next sweep.
        return requeue(self.app, self.store, record)  # type: ignore[arg-type]

    def result(self, job_id: str) -> Response | None:
        return None

    def finished_event(self, job_id: str) -> threading.Event | None:
        return None

    def close(self, wait: bool = True) -> None:
        from .worker import close_app

        close_app(self.app)
