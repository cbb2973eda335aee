"""One job's life, the same for every executor: claim → execute → finish.

`run(job_id)` is all an executor calls (a thread of this process, the detached CLI
runner, a Celery worker on another machine). The claim is a compare-and-set, so a job
delivered twice runs once; the lease is renewed while the job runs; only the lease
holder may record the end (and erase the job's sealed secrets, which only the
claimer opens: sealing.py); and a lapsed lease is seen as `interrupted` by whoever
reads the job (`observe`) or sweeps the store (`sweep`), on any machine.

Fencing. A holder can be paused (SIGSTOP, a swapped-out VM, a long GC) past its lease
while the job is claimed again and run by another worker; when it wakes it must not act
on the job any more. Every claim adds one to the job's `fence`; right before each
mutating EC2 request, and before each of botocore's retries of it, the runner asks the
store, in one atomic operation that is also a lease renewal (one Redis round trip),
whether the job is still running for this holder with this number (`Fence`); if not it
sends nothing more, logs why at WARNING, and its result is not recorded (`finish` is the
same compare-and-set, with the number).

The window that remains is the pause between that check and the request leaving the
machine (the check runs in botocore's before-send hook, after signing): a holder paused
exactly there sends once more when it wakes. For a create that reruns by its token
(`Rerun.FOUND_BY_TOKEN`) the new holder's rerun looks for the token's tag under the
token's lock first: on one machine the lock, held by the paused process, keeps the rerun
waiting until the late request is answered, and the rerun then finds what it made; on
AWS, EC2's own ClientToken answers the late request with the rerun's resource where
the operation has one. Across machines against an endpoint that ignores ClientToken, a
request sent in that window can still make a second resource, tagged with the same
token, so it can be found.

Cancelling (`cancel`). A queued or interrupted job ends `cancelled` at once, in one
compare-and-set (a claim that comes later finds it not queued and sends nothing; a
sweeper finds it not interrupted and queues nothing). A running job is only asked: the
request is written on the record and adds one to its `fence`, so the fence check the
holder already makes before each mutating request fails, reads why, and stops there
(`Cancelled`, exitcode 10): no extra round trip while nobody cancels. A job that sends
nothing more that mutates (a read, a wait after its last change) runs to its end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from .. import masking
from ..actions import catalog
from ..config import Connectors
from ..errors import (
    Cancelled,
    ConnectorError,
    ExitCode,
    InvalidRequest,
    NotFound,
    StoreError,
    TimedOut,
    translate,
)
from ..execution import execute
from ..request import Request
from ..response import Response
from ..runtime import Counts, Runtime
from ..settings import DEFAULT_LEASE_S, Settings
from ..transport.context import READ_ONLY_PREFIXES, Progress
from . import sealing
from .record import LIVE, JobRecord, JobStatus, interrupted_message
from .store import INCREMENT, JobStore

log = logging.getLogger("ec2_connector.jobs")

_STATUS_BY_EXIT: dict[int, JobStatus] = {
    ExitCode.SUCCESS: JobStatus.SUCCEEDED, ExitCode.TIMED_OUT: JobStatus.TIMED_OUT,
    ExitCode.CANCELLED: JobStatus.CANCELLED}
FINISH_DELAYS = (0.1, 0.3, 1.0, 2.0, 4.0, 8.0)
Sleep = Callable[[float], None]


class Leases:
    """Renews the leases one process holds, from one thread, every third of a lease."""

    def __init__(self, store: JobStore, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.store = store
        self.lease_s = float(lease_s)
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, job_id: str, holder: str) -> None:
        with self._lock:
            self._held[job_id] = holder
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._renew_forever, name="ec2-connector-leases", daemon=True)
                self._thread.start()

    def release(self, job_id: str) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    def _renew_forever(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                held = list(self._held.items())
            if not held:
                continue
            try:
                # One call for all of them: a shared store renews a worker's leases in
                # one round trip, not one per job.
                lost = self.store.renew_many(held, self.lease_s)
            except Exception as exc:  # the store is down: the next round tries again
                log.warning("could not renew the leases of %d job(s): %s", len(held), exc)
                continue
            for job_id in lost:
                self.release(job_id)  # ended, or taken over: nothing to keep

    def stop(self) -> None:
        self._stop.set()


class LeaseLost(StoreError):
    """This process no longer holds the job: its lease lapsed and the job was claimed
    again (or ended); nothing more is sent for it, and its result is not recorded."""


class Fence:
    """The check before each mutating request of a job: do we still hold its latest
    claim, and has nobody asked to cancel it? Called by the job's execution context
    (`Context.fence`) with the operation."""

    def __init__(self, store: JobStore, record: JobRecord, holder: str, lease_s: float) -> None:
        self.store = store
        self.job_id = record.id
        self.number = record.fence
        self.holder = holder
        self.lease_s = lease_s
        self.lost = False
        self.sent: list[str] = []  # the mutating operations that passed: sent, or on the way
        # The record that asked for the cancel. A cancel can land between a claim's write
        # and its read (SQLite): the claimed record then carries it, and its number.
        self.cancelled = record if asked_to_cancel(record, holder) else None

    def __call__(self, operation: str, attempt: int = 1) -> None:
        """Before `attempt` (botocore's count, 2 and on for its retries) of `operation`."""
        if operation.startswith(READ_ONLY_PREFIXES):
            return  # a read changes nothing, whoever holds the job
        if self.cancelled is None and not self.lost:
            if self.store.holds(self.job_id, self.holder, self.number, self.lease_s):
                if attempt == 1:
                    self.sent.append(operation)
                return
            self._why_not()
        what = operation if attempt == 1 else f"a retry of {operation}"
        if self.cancelled is not None:
            log.info("job %s: not sending %s: the job was cancelled", self.job_id, what)
            raise Cancelled(cancelled_message(self.cancelled, self.sent, what),
                            data={"operations-sent": list(self.sent), "not-sent": what})
        self.lost = True
        log.warning("job %s: not sending %s: this worker no longer holds the job (claim %d "
                    "lapsed and the job was claimed again or ended); it is left to its new "
                    "holder", self.job_id, what, self.number)
        raise LeaseLost(f"job {self.job_id} was taken over by another worker before "
                        f"{what} could be sent; nothing more was sent from here")

    def _why_not(self) -> None:
        """The check failed: a cancel asked of our claim (still ours, one number on), or
        the job was taken. Read only on this path, so a check costs one round trip."""
        current = self.store.get(self.job_id)
        if current is not None and asked_to_cancel(current, self.holder):
            self.cancelled, self.number = current, current.fence


def asked_to_cancel(record: JobRecord, holder: str) -> bool:
    """Is this record a job that `holder` still runs, and that someone asked to cancel?"""
    return (record.cancel_requested_at is not None and record.holder == holder
            and record.status in (JobStatus.RUNNING, JobStatus.INTERRUPTED))


def run(
    job_id: str,
    store: JobStore,
    connectors: Connectors,
    holder: str,
    leases: Leases,
    *,
    request: Request | None = None,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    handoff: Callable[[Response], None] | None = None,
) -> Response | None:
    """Run one queued job to its end; None if it was not queued (already taken, ended).

    `handoff` gets the response when the store does not take it at once, so waiters in
    this process have it while the write is retried (or if it never lands).
    """
    started = time.monotonic()
    try:
        record = store.claim(job_id, holder, leases.lease_s)
    except Exception:
        # Nothing was sent; let the lease lapse so the job is seen as interrupted before
        # it started, rather than queued for ever.
        leases.release(job_id)
        log.exception("job %s could not be claimed in the job store %s", job_id,
                      store.location)
        raise
    if record is None:
        log.info("job %s was not queued any more (a second delivery, or taken): dropped",
                 job_id)
        return None
    leases.hold(job_id, holder)
    fence = None
    if runtime is None or runtime.settings.fencing:
        fence = Fence(store, record, holder, leases.lease_s)
    request, refused = _unsealed(record, request, runtime)
    # What was opened is masked in every log line until the job ends, ours included.
    with masking.in_flight(request.secrets() if record.sealed and request else ()):
        try:
            response = refused or _execute(record, connectors, request, runtime, progress,
                                           fence)
        except Exception as exc:  # never leave a claimed job running for ever
            log.exception("job %s failed unexpectedly", job_id)
            error = translate(exc)
            response = Response.from_error(error)
        finally:
            leases.release(job_id)
    response.meta["job-id"] = job_id
    if record.reruns:
        response.meta["reruns"] = record.reruns
        response.meta["rerun-reason"] = record.message
    counts = runtime.counts if runtime is not None else None
    if fence is not None and fence.lost:
        if counts is not None:
            counts.add("fencing_refusals")
        return response  # the job is its new holder's: nothing of ours is recorded
    if fence is not None and fence.number != record.fence:  # a cancel moved it on
        record = replace(record, fence=fence.number)
    if finish(store, record, holder, response, on_retry=handoff,
              fenced=fence is not None) and runtime is not None:
        runtime.counts.add("jobs_ended", ended_status(response).value)
        runtime.job_ended(response, time.monotonic() - started)
    return response


def _unsealed(record: JobRecord, request: Request | None, runtime: Runtime | None
              ) -> tuple[Request | None, Response | None]:
    """The request of a job whose secrets were sealed for workers, with them opened by
    this worker's key; or, if they do not open here, the job's failure (nothing sent)."""
    if record.sealed is None or request is not None:
        return request, None
    try:
        settings = runtime.settings if runtime is not None else Settings.from_env()
        opened = sealing.open_sealed(record.sealed, settings.seal_key)
    except ConnectorError as exc:
        log.warning("job %s: %s", record.id, exc.message)
        return None, Response.from_error(exc, {"connector": record.connector,
                                               "action": record.action})
    base = request_of(record)
    return replace(base, params={**base.params, **opened}), None


def _execute(record: JobRecord, connectors: Connectors, request: Request | None,
             runtime: Runtime | None, progress: Progress | None,
             fence: Fence | None) -> Response:
    left_ms = None
    if record.expires_at is not None:
        left_ms = int((record.expires_at - time.time()) * 1000)
        if left_ms <= 0:
            return Response.from_error(TimedOut(
                "timed out in the queue: the job's deadline passed before a worker could "
                "start it; nothing was sent to EC2"),
                {"connector": record.connector, "action": record.action})
    request = request if request is not None else request_of(record)
    if left_ms is not None:
        # Time spent queued counts: the call gets what is left of the job's deadline.
        left_ms = max(1, left_ms)
        request = replace(request, params={**request.params, "timeout": left_ms},
                          timeout_ms=left_ms)
    return execute(request, connectors, runtime=runtime, progress=progress, fence=fence)


def request_of(record: JobRecord) -> Request:
    """The request a record describes, aimed at the target it was submitted to."""
    params = dict(record.params)
    target = record.target or {}
    if target.get("fan-out"):  # each connector's own target; resume checks every one
        return Request(record.connector, record.action, params, record.timeout_ms)
    if target.get("endpoint-url") and "endpoint-url" not in params:
        params["endpoint-url"] = target["endpoint-url"]
    if target.get("region") and "region" not in params:
        params["region"] = target["region"]
    return Request(record.connector, record.action, params, record.timeout_ms)


def finish(store: JobStore, record: JobRecord, holder: str, response: Response,
           sleep: Sleep = time.sleep,
           on_retry: Callable[[Response], None] | None = None, fenced: bool = True) -> bool:
    """Record the end, retrying with backoff: a store that is briefly locked or full must
    not leave the job `running` for ever with its response lost. Only the holder of the
    job's latest claim records it (in the same compare-and-set)."""
    fence = record.fence if fenced else None
    status = ended_status(response)
    envelope = catalog.storable(record.action, response.to_dict())
    for delay in (*FINISH_DELAYS, None):
        try:
            done = store.finish(record.id, holder, status, response.message, envelope,
                                fence)
        except Exception as exc:
            if delay is None:
                log.error("job %s: its result could not be written to the job store %s "
                          "(%s); it is lost from the store", record.id, store.location, exc)
                return False
            log.error("job %s: writing its result to the job store %s failed (%s); "
                      "retrying in %.1f s", record.id, store.location, exc, delay)
            if on_retry is not None:
                on_retry(response)
                on_retry = None
            sleep(delay)
            continue
        if not done:
            current = store.get(record.id)
            if fenced and current is not None and asked_to_cancel(current, holder) \
                    and current.fence != record.fence:
                # Asked to cancel after its last change was sent: it ended anyway.
                return finish(store, replace(record, fence=current.fence), holder, response,
                              sleep, on_retry, fenced)
            log.warning("job %s ended, but its lease had passed to another holder (now %s): "
                        "this result is not recorded", record.id,
                        current.status.value if current else "gone")
        return done
    return False


def ended_status(response: Response) -> JobStatus:
    """The status a job ends in with this response."""
    return _STATUS_BY_EXIT.get(response.exitcode, JobStatus.FAILED)


def observe(store: JobStore, record: JobRecord, now: float | None = None,
            counts: Counts | None = None) -> JobRecord:
    """The record as it really is: a live job whose lease lapsed is interrupted (counted
    in `counts` when this call is the one that marked it)."""
    now = time.time() if now is None else now
    if not record.lapsed(now):
        return record
    status, message = JobStatus.INTERRUPTED, interrupted_message(record)
    if record.cancel_requested_at is not None:  # never run again: it was to stop anyway
        status = JobStatus.CANCELLED
        message = (f"cancelled by {record.cancel_requested_by or 'a user'} while running, "
                   f"and its runner ({record.holder}) then stopped renewing its lease: its "
                   "last request may or may not have reached EC2; it is not run again")
    try:
        # The fence too: a cancel asked since `record` was read makes this one fail.
        if store.transition(
                record.id, [record.status], held_by=record.holder, lapsed_before=now,
                fenced=record.fence, status=status, message=message, finished_at=now,
                lease_until=None) and counts is not None:
            counts.add("lease_expiries")
        return store.get(record.id) or record
    except StoreError:
        # The store cannot take the change now (locked, full): it is still what we saw.
        record.status, record.message = status, message
        return record


def sweep(store: JobStore, now: float | None = None,
          counts: Counts | None = None) -> list[JobRecord]:
    """Mark every job whose lease lapsed as interrupted; the records as they are now."""
    now = time.time() if now is None else now
    return [observe(store, record, now, counts) for record in store.expired(now)]


def cancel(store: JobStore, job_id: str, by: str | None = None,
           counts: Counts | None = None) -> JobRecord:
    """Cancel a job (see the module's docstring); the record as it is now. A job that
    already ended is refused (InvalidRequest), and nothing changes."""
    for _ in range(8):  # each lap lost a race with a claim, a sweep or an end: read again
        record = store.get(job_id)
        if record is None:
            raise NotFound(f"no job with id '{job_id}'")
        record = observe(store, record, counts=counts)
        now = time.time()
        if record.status is JobStatus.RUNNING:
            if record.cancel_requested_at is not None:
                return record  # asked already: its holder stops at its next change
            if store.transition(
                    job_id, [JobStatus.RUNNING], fenced=record.fence, fence=INCREMENT,
                    cancel_requested_at=now, cancel_requested_by=by,
                    message=f"cancel requested by {by or 'a user'}: it stops before its "
                            "next change to EC2"):
                log.info("job %s: cancel requested by %s", job_id, by or "a user")
                return store.get(job_id) or record
            continue
        if record.status not in (*LIVE, JobStatus.INTERRUPTED):
            raise InvalidRequest(
                f"job {job_id} is {record.status.value}: only a queued, running or "
                "interrupted job can be cancelled; nothing changed")
        response = _cancelled_response(record, by)
        if store.transition(
                job_id, [record.status], fenced=record.fence, status=JobStatus.CANCELLED,
                message=response.message, response=response.to_dict(), finished_at=now,
                lease_until=None, sealed=None, cancel_requested_at=now,
                cancel_requested_by=by):
            log.info("job %s (%s) cancelled by %s", job_id, record.status.value,
                     by or "a user")
            if counts is not None:
                counts.add("jobs_ended", JobStatus.CANCELLED.value)
            return store.get(job_id) or record
    raise StoreError(f"job {job_id} kept changing while it was being cancelled; try again")


def _cancelled_response(record: JobRecord, by: str | None) -> Response:
    who = by or "a user"
    if record.status is JobStatus.QUEUED:
        text = f"cancelled by {who} before it started; nothing was sent to EC2"
    else:
        text = (f"cancelled by {who} after it was interrupted: it is never run again nor "
                f"resumed; before that it was {record.message or 'interrupted'}")
    return Response.from_error(Cancelled(text), {"job-id": record.id,
                                                 "connector": record.connector,
                                                 "action": record.action})


def cancelled_message(record: JobRecord, sent: list[str], next_operation: str) -> str:
    """What a job cancelled mid-way says: who, what was sent, where it stopped."""
    who = record.cancel_requested_by or "a user"
    if not sent:
        return (f"cancelled by {who} before its first change: nothing that changes "
                f"anything was sent to EC2 ({next_operation} was not sent)")
    count = f"{len(sent)} operation{'s' if len(sent) > 1 else ''}"
    return (f"cancelled by {who} after {count} that change things had been sent "
            f"({', '.join(sent)}); {next_operation} and everything after it were not sent")
