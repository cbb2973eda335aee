"""Async jobs: validated, written to a store, then run by an executor through `lifecycle`.

Without a broker, jobs are stored in SQLite under the home folder and run on threads of
the submitting process (one machine). With `EC2_CONNECTOR_BROKER` (or `Call(broker=)`),
they are stored in that Redis and run by `ec2-connector worker` processes on any
machine; only the job id travels through the broker. A request that carries its own
secrets (user data, credentials) goes to workers only sealed with the key submitters and
workers share (`EC2_CONNECTOR_SEAL_KEY`, sealing.py); without it, it is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import replace
from typing import Any

from .. import fanout
from ..config import Connectors, Target
from ..errors import ConnectorError, InvalidRequest, NotFound, StoreError, TimedOut
from ..execution import prepare
from ..masking import without_userinfo
from ..request import Prepared, Request
from ..response import Response
from ..runtime import Runtime
from ..settings import Settings
from ..spec.action import Action
from ..spec.params import canonical
from ..transport.context import Progress
from ..transport.deadline import Deadline
from . import lifecycle, sealing
from .backends import open_executor, open_store
from .executors import Executor
from .record import JobRecord, JobStatus, new_holder, new_job_id
from .store import JobStore, parse_age

log = logging.getLogger("ec2_connector.jobs")
# Secret parameters that are user data, not credentials (`attribute-value` is secret
# only when it is user data).
_USER_DATA = frozenset({"user-data", "attribute-value"})


class Job:
    """A handle on one job; its state is read from the store, so any process can hold one."""

    def __init__(self, manager: JobManager, job_id: str) -> None:
        self._manager = manager
        self.id = job_id

    def record(self) -> JobRecord:
        return self._manager.read(self.id)

    @property
    def status(self) -> str:
        return self.record().status.value

    @property
    def done(self) -> bool:
        return self.record().status.done

    @property
    def response(self) -> Response | None:
        envelope = self.record().response
        return Response.from_dict(envelope) if envelope else self._manager.executor.result(
            self.id)

    def wait(self, timeout_ms: int | None = None,
             on_poll: Any = None) -> Response:
        """Block until the job ends; TimedOut if it has not ended within `timeout_ms`.

        Every poll reads the job afresh, so a runner that died is seen (its lease
        lapses) and a job past its own deadline with nobody finishing it ends the wait.
        """
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        executor = self._manager.executor
        event = executor.finished_event(self.id)
        delay = 0.02
        while True:
            held = executor.result(self.id)
            if held is not None:
                return held
            record = self.record()
            if on_poll is not None:
                on_poll(record)
            if record.status.done:
                return final_response(record)
            overdue = _overdue(record, self._manager.lease_s)
            if overdue is not None:
                return overdue
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimedOut(f"job {self.id} is still {record.status.value}")
            pause = delay if left is None else min(delay, left)
            if event is not None:
                event.wait(pause)
            else:
                time.sleep(pause)
            delay = min(delay * 2, 0.25)

    def cancel(self, by: str | None = None) -> JobRecord:
        """Cancel this job: queued or interrupted, it ends `cancelled` now; running, it
        stops before its next change to EC2 (see `JobManager.cancel`)."""
        return self._manager.cancel(self.id, by=by)

    def to_dict(self) -> dict[str, Any]:
        return self.record().public()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.status}>"


class RefusedJob:
    """What `async_()` gives for a request refused at submission: no job was stored, and
    `wait()` returns the refusal (exitcode 2 for an invalid request, 4 or 9 when the
    broker or the store is out of reach)."""

    id = None
    status = "refused"
    done = True

    def __init__(self, error: ConnectorError, connector: str) -> None:
        self.response = Response.from_error(error, {"connector": connector})

    def wait(self, timeout_ms: int | None = None, on_poll: Any = None) -> Response:
        return self.response

    def to_dict(self) -> dict[str, Any]:
        return {"job-id": None, "status": self.status, "response": self.response.to_dict()}

    def __repr__(self) -> str:
        return f"<RefusedJob exitcode={self.response.exitcode}>"


def _overdue(record: JobRecord, lease_s: float) -> Response | None:
    # Past its own deadline (plus a lease, for a runner finishing its last write) and
    # still not ended: nobody will end it. Say so instead of waiting for ever.
    if record.expires_at is None or time.time() < record.expires_at + lease_s:
        return None
    return Response.from_error(TimedOut(
        f"job {record.id} passed its deadline and is still {record.status.value}: the "
        "process that was to run it is gone or stuck"), {"job-id": record.id})


def final_response(record: JobRecord) -> Response:
    if record.response:
        return Response.from_dict(record.response)
    # Interrupted jobs never produced a response: describe what may have happened.
    return Response.from_error(TimedOut(record.message or record.status.value),
                               {"job-id": record.id})


class JobManager:
    """Submits, runs and finds jobs in one store with one executor."""

    def __init__(self, connectors: Connectors, *, home: Any = None, workers: int | None = None,
                 runtime: Runtime | None = None, broker: str | None = None,
                 settings: Settings | None = None) -> None:
        self.connectors = connectors
        self.runtime = runtime
        # What the process's metrics read: lapsed leases seen here, reruns queued here.
        self.counts = runtime.counts if runtime is not None else None
        if settings is None:
            settings = runtime.settings if runtime is not None else Settings.from_env()
        self.settings = settings
        self.broker = broker or settings.broker
        self.lease_s = float(settings.lease_s)
        self.holder = new_holder()
        self.workers = workers or settings.workers
        self.store: JobStore = open_store(self.broker, home=home, settings=settings)
        self.executor: Executor = open_executor(self)
        if settings.prune_after:
            self.prune(parse_age(settings.prune_after))
        if not self.executor.remote:
            # One sweep on opening, as a worker's sweeper does for the shared store: jobs
            # whose holder died show as interrupted in any listing or query of them.
            with contextlib.suppress(StoreError):
                lifecycle.sweep(self.store, counts=self.counts)

    def submit(self, request: Request, *, progress: Progress | None = None,
               resumed_from: str | None = None, job_id: str | None = None,
               submitted_by: str | None = None) -> Job:
        """Validate, write the job to the store, then hand it to the executor; an invalid
        request is refused (InvalidRequest) before anything is written."""
        prepared, target = self._prepared(request)
        prepared.action.check_async(prepared.params)
        held = _secrets_held(request)
        sealed = self._sealed(request, held) if held and self.executor.remote else None
        request = _with_client_token(request, prepared.action)
        now = time.time()
        # Validation folds a timeout given apart into the parameters (request.py).
        timeout_ms = int(prepared.params.get("timeout") or self.settings.timeout_ms)
        record = JobRecord(
            id=job_id or new_job_id(), connector=request.connector, action=prepared.action.name,
            params=_storable(request), timeout_ms=request.timeout_ms,
            target=target, executor=self.executor.name,
            created_at=now, expires_at=now + timeout_ms / 1000,
            secrets_held=bool(held) and sealed is None, sealed=sealed,
            resumed_from=resumed_from, submitted_by=submitted_by)
        self.executor.hold(record)
        self.store.add(record)
        self.executor.submit(record.id, request, progress)
        return Job(self, record.id)

    def resume(self, job_id: str, *, force: bool = False) -> Job:
        """Run an interrupted job again, once, at the target it was submitted to; refused
        if the connector's config now points elsewhere, unless `force` (then the current
        config wins). The interrupted job becomes `resumed`; a second resume is refused."""
        record = self.get(job_id).record()
        if record.status is not JobStatus.INTERRUPTED:
            raise InvalidRequest(f"job {record.id} is {record.status.value}, not interrupted: "
                                 "only an interrupted job can be resumed")
        if record.secrets_held:
            raise InvalidRequest(
                f"job {record.id} needed secret values that were never stored; submit it "
                "again with them")
        if force:  # the current config wins: aimed where the connector now points
            request = Request(record.connector, record.action, dict(record.params),
                              record.timeout_ms)
        else:
            self._check_target(record)
            request = lifecycle.request_of(record)
        if record.sealed is not None:  # sealed again for the new job, by this key
            opened = sealing.open_sealed(record.sealed, self.settings.seal_key)
            request = replace(request, params={**request.params, **opened})
        new_id = new_job_id()
        if not self.store.transition(record.id, [JobStatus.INTERRUPTED],
                                     status=JobStatus.RESUMED, sealed=None,
                                     message=f"resumed as job {new_id}"):
            raise InvalidRequest(f"job {record.id} was resumed by someone else just now")
        log.info("job %s resumed as %s", record.id, new_id)
        # The resumed job is still its submitter's: a principal keeps seeing its own jobs.
        return self.submit(request, resumed_from=record.id, job_id=new_id,
                           submitted_by=record.submitted_by)

    def cancel(self, job_id: str, *, by: str | None = None) -> JobRecord:
        """Cancel a job by its id or a unique prefix; the record as it is now. Queued or
        interrupted: `cancelled` at once, nothing sent and never run again. Running: the
        request is recorded, and the job sends nothing after its next fence check and ends
        `cancelled` (exitcode 10) with what it had. Ended: InvalidRequest, nothing changed.
        `by` names who asked (a service principal) in its message."""
        return lifecycle.cancel(self.store, self.get(job_id).id, by, counts=self.counts)

    def _sealed(self, request: Request, held: list[str]) -> str:
        """The request's secret values sealed for the workers; without a key, refused,
        naming what would have to travel and the setting that lets it."""
        key = self.settings.seal_key
        if not key:
            names = ", ".join(f"'{name}'" for name in held)
            # Credentials have another home; user data has none but the request.
            instead = ("give credentials in the workers' connector config instead, "
                       if set(held) - _USER_DATA else "")
            raise InvalidRequest(
                f"this request's secret parameter{'s' if len(held) > 1 else ''} {names} "
                f"would travel to workers: set {sealing.SETTING} (a key shared by "
                f"submitters and workers) to send them sealed, {instead}or run it without "
                "a broker")
        values = {canonical(k): v for k, v in request.params.items()
                  if canonical(k) in held}
        return sealing.seal(values, key)

    def _prepared(self, request: Request) -> tuple[Prepared, dict[str, Any]]:
        """The request validated (once), and the target its record keeps. Over several
        connectors or regions, where each connector goes too (the regions are the
        request's own), so that a resume can check every one of them."""
        deadline = Deadline(self.settings.timeout_ms)
        if not fanout.wanted(request):
            prepared = prepare(request, self.connectors, deadline)
            return prepared, target_of(prepared.target)
        plan = fanout.plan(request, self.connectors, deadline)
        each = {name: target_of(t) for name, t in plan.targets().items()}
        return plan.first, {**target_of(plan.first.target), "fan-out": True, "connectors": each}

    def _check_target(self, record: JobRecord) -> None:
        was = record.target or {}
        if was.get("fan-out"):
            _, now = self._prepared(lifecycle.request_of(record))
            pairs = [(name, was["connectors"].get(name) or {}, target)
                     for name, target in now["connectors"].items()]
        else:
            params = {canonical(k): v for k, v in record.params.items()}
            target = target_of(Target.resolve(self.connectors.get(record.connector), params))
            pairs = [(record.connector, was, target)]
        for name, before, after in pairs:
            if before and any(before.get(k) != after.get(k)
                              for k in ("endpoint", "region", "profile")):
                raise InvalidRequest(
                    f"job {record.id} was submitted to {before.get('endpoint')} (region "
                    f"{before.get('region')}), but connector '{name}' now goes to "
                    f"{after.get('endpoint')} (region {after.get('region')}); resume it "
                    "with the config it was submitted with, or with --force (force=True) "
                    "to send it where the connector now points")

    def read(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record is None:
            raise self._missing(job_id)
        record = lifecycle.observe(self.store, record, counts=self.counts)
        if record.status is JobStatus.INTERRUPTED:
            if self.executor.recover(record) and self.counts is not None:
                self.counts.add("reruns")
            # Read again even when our requeue lost: a worker's sweeper may have queued
            # it again between our two reads, and a waiter must not take the interrupted
            # copy it holds for the job's end.
            record = self.store.get(record.id) or record
        return record

    def get(self, job_id: str) -> Job:
        """A job by its id, or by a unique prefix of it (as git takes commit ids)."""
        if self.store.get(job_id) is not None:
            return Job(self, job_id)
        found = self.store.find(job_id) if job_id else []
        if not found:
            raise self._missing(job_id)
        if len(found) > 1:
            raise InvalidRequest(f"job id prefix '{job_id}' is ambiguous: give more of it")
        return Job(self, found[0])

    def _missing(self, job_id: str) -> ConnectorError:
        """No such job: a mistyped id (NotFound, 6), unless the store lost its data
        (StoreError, 9), which must not pass for a mistake of the caller's."""
        lost = self.store.lost()
        if lost is not None:
            return StoreError(f"job '{job_id}' is gone: the job store lost its data ({lost})")
        return NotFound(f"no job with id '{job_id}'")

    def list(self, limit: int = 50, status: str | None = None) -> list[Job]:
        if status is not None and status not in {s.value for s in JobStatus}:
            known = ", ".join(s.value for s in JobStatus)
            raise InvalidRequest(f"unknown job status '{status}' (one of {known})")
        lifecycle.sweep(self.store, counts=self.counts)
        return [Job(self, r.id) for r in self.store.list(limit, status)]

    def prune(self, older_than_s: float) -> int:
        """Delete jobs that ended more than `older_than_s` seconds ago; how many."""
        return self.store.prune(time.time() - older_than_s)

    def finished_event(self, job_id: str) -> threading.Event | None:
        return self.executor.finished_event(job_id)

    def close(self, wait: bool = True) -> None:
        self.executor.close(wait=wait)
        self.store.close()


def target_of(target: Target) -> dict[str, Any]:
    """A target's non-secret settings, as a record keeps them."""
    return {
        "endpoint": target.shown_endpoint(),
        "endpoint-url": target.shown_endpoint() if target.endpoint_url else None,
        "region": target.region,
        "profile": target.profile,
        "max-attempts": target.max_attempts,
        "retry-mode": target.retry_mode,
    }


def _with_client_token(request: Request, action: Action) -> Request:
    # A create job carries its token from the moment it is stored, so a job rerun or
    # resumed after a crash gets what the first run created instead of creating again:
    # every create that reruns safely (Rerun.FOUND_BY_TOKEN) takes `client-token` and
    # looks for its tag first (tokens.py).
    names = {canonical(k) for k in request.params}
    takes_token = any(p.name == "client-token" for p in action.all_params())
    if not takes_token or "client-token" in names:
        return request
    params = {**request.params, "client-token": new_job_id()}
    return Request(request.connector, request.action, params, request.timeout_ms)


def _storable(request: Request) -> dict[str, Any]:
    """The parameters a job record keeps; refused (exitcode 2, nothing stored) if they
    cannot be written as JSON (a mapping with tuple keys, an integer of 5,000 digits)."""
    unstored = _unstored(request)
    params = {
        canonical(k): without_userinfo(v) if canonical(k) == "endpoint-url" else v
        for k, v in request.params.items() if canonical(k) not in unstored
    }
    try:
        json.dumps(params, default=str)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"the parameters cannot be kept in a job record: {exc}") from None
    return params


def _unstored(request: Request) -> frozenset[str]:
    # Values a job record must never hold: the secrets of this request (`attribute-value`
    # only when it is user data) and the access key that goes with them; kept in memory
    # with the running request only.
    return request.secret_names() | {"access-key"}


def _secrets_held(request: Request) -> list[str]:
    """The names of the parameters of `request` that a record may not keep in clear."""
    unstored = _unstored(request)
    held = sorted({canonical(k) for k in request.params} & unstored)
    url = request.params.get("endpoint-url")
    # A password in an endpoint URL is a secret too: the record keeps the URL without it.
    if isinstance(url, str) and "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        held.append("endpoint-url")
    return held
