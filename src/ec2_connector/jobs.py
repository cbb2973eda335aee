"""Async jobs: submitted to disk first, run on a bounded pool through the sync path.

The executor is a seam: the default runs jobs on threads in this process; a queue
backed executor (Celery) only has to send the record's id and call `run_job(job_id)` in
the worker, which rebuilds the request from the record and takes ownership of the job.
Secret values never travel that way: they are not in the record.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .actions import catalog
from .config import Connectors
from .context import Progress
from .errors import InvalidRequest, NotFound, TimedOut
from .execution import Request, execute
from .params import canonical
from .response import Response
from .runtime import Runtime
from .settings import DEFAULT_WORKERS
from .store import JobRecord, JobStatus, JobStore, process_identity

_STATUS_BY_EXIT = {0: JobStatus.SUCCEEDED, 3: JobStatus.TIMED_OUT}


class Job:
    """A handle on one job; its state is read from the store, so any process can hold one."""

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self._manager = manager
        self.id = job_id

    def record(self) -> JobRecord:
        record = self._manager.store.get(self.id)
        if record is None:
            raise NotFound(f"no job with id '{self.id}'")
        return record

    @property
    def status(self) -> str:
        return self.record().status.value

    @property
    def done(self) -> bool:
        return self.record().status.done

    @property
    def response(self) -> Response | None:
        envelope = self.record().response
        return Response.from_dict(envelope) if envelope else None

    def wait(self, timeout_ms: int | None = None) -> Response:
        """Block until the job ends; TimedOut if it has not ended within `timeout_ms`."""
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        event = self._manager.finished_event(self.id)
        delay = 0.02
        while True:
            record = self.record()
            if record.status.done:
                return _final_response(record)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimedOut(f"job {self.id} is still {record.status.value}")
            wait = delay if left is None else min(delay, left)
            if event is not None:
                event.wait(wait)
            else:
                time.sleep(wait)
            delay = min(delay * 2, 0.25)

    def to_dict(self) -> dict[str, Any]:
        return self.record().to_dict()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status}>"


def _final_response(record: JobRecord) -> Response:
    if record.response:
        return Response.from_dict(record.response)
    # Interrupted jobs never produced a response: describe what may have happened.
    return Response(3, record.message or record.status.value, {}, {"job-id": record.id})


class JobManager:
    """Submits, runs and finds the jobs of one home folder."""

    def __init__(
        self,
        connectors: Connectors,
        *,
        home: Any = None,
        workers: int | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.connectors = connectors
        self.runtime = runtime
        self.store = JobStore(home)
        size = workers or DEFAULT_WORKERS
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="ec2-connector-job")
        self._events: dict[str, threading.Event] = {}
        self._events_lock = threading.Lock()
        self._owner = process_identity()

    def submit(self, request: Request, *, progress: Progress | None = None) -> Job:
        """Write the job to disk, then queue it; the job exists before this returns."""
        request = _with_client_token(request)
        record = JobRecord(
            id=uuid.uuid4().hex,
            connector=request.connector,
            action=request.action,
            params=_storable(request.params),
            timeout_ms=request.timeout_ms,
            owner=self._owner,
            secrets_held=_holds_secrets(request.params),
        )
        self.store.add(record)
        with self._events_lock:
            self._events[record.id] = threading.Event()
        self._pool.submit(self.run_job, record.id, request, progress)
        return Job(self, record.id)

    def run_job(
        self, job_id: str, request: Request | None = None, progress: Progress | None = None
    ) -> None:
        """Run one job through the same path as `sync()`, recording each status change.

        Without `request`, it is rebuilt from the stored record (a worker in another
        process); the process running the job becomes its owner, for crash detection.
        """
        try:
            if request is None:
                request = _request_of(self.get(job_id).record())
            self.store.update(
                job_id, status=JobStatus.RUNNING, started_at=time.time(), owner=self._owner
            )
            response = execute(
                request, self.connectors, runtime=self.runtime, progress=progress
            )
            status = _STATUS_BY_EXIT.get(response.exitcode, JobStatus.FAILED)
            response.meta["job-id"] = job_id
            self.store.update(
                job_id, status=status, finished_at=time.time(), message=response.message,
                response=response.to_dict(),
            )
        finally:
            with self._events_lock:
                event = self._events.pop(job_id, None)
            if event is not None:
                event.set()

    def resume(self, job_id: str) -> Job:
        """Run an interrupted job again; a create keeps its client token, so never twice."""
        record = self.get(job_id).record()
        if record.status is not JobStatus.INTERRUPTED:
            raise InvalidRequest(f"job {job_id} is {record.status.value}, not interrupted")
        if record.secrets_held:
            raise InvalidRequest(
                f"job {job_id} needed secret values that were never stored; submit it again "
                "with them"
            )
        return self.submit(_request_of(record))

    def get(self, job_id: str) -> Job:
        job = Job(self, job_id)
        job.record()
        return job

    def list(self, limit: int = 50, status: str | None = None) -> list[Job]:
        return [Job(self, r.id) for r in self.store.list(limit, status)]

    def finished_event(self, job_id: str) -> threading.Event | None:
        with self._events_lock:
            return self._events.get(job_id)

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self.store.close()


def _request_of(record: JobRecord) -> Request:
    return Request(record.connector, record.action, dict(record.params), record.timeout_ms)


def _with_client_token(request: Request) -> Request:
    # A create job carries its token from the moment it is stored, so a job resumed
    # after a crash finds what the first run launched instead of launching again.
    names = {canonical(k) for k in request.params}
    if request.action is None or "client-token" in names:
        return request
    try:
        action = catalog.get(request.action)
    except InvalidRequest:
        return request
    if action.name != "create-instance":
        return request
    params = {**request.params, "client-token": uuid.uuid4().hex}
    return Request(request.connector, request.action, params, request.timeout_ms)


def _storable(params: dict[str, Any]) -> dict[str, Any]:
    unstored = _unstored()
    return {canonical(k): v for k, v in params.items() if canonical(k) not in unstored}


@functools.cache
def _unstored() -> frozenset[str]:
    # Values a job record must never hold: the declared secrets and the access key
    # that goes with them; kept in memory with the running request only.
    return catalog.secret_names() | {"access-key"}


def _holds_secrets(params: dict[str, Any]) -> bool:
    unstored = _unstored()
    return any(canonical(k) in unstored for k in params)
