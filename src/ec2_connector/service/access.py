"""The shared service's bookkeeping around each call: who is asking, may they, and the
record of what they did (the audit trail and the metrics). Kept apart from the HTTP
layer (service.py), which only asks it and turns its answers into responses.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..actions import catalog
from ..errors import ConnectorError, InvalidRequest, NotFound
from ..jobs.record import iso
from ..jobs.store import DONE
from ..metrics import known_action
from . import audit, callbacks
from .audit import AuditTrail
from .callbacks import Delivery, Notifier, Pending
from .metrics import ServiceMetrics
from .principals import Denial, Principal, Principals, authorize
from .targets import target_ids

if TYPE_CHECKING:
    from ..call import Call
    from ..jobs.record import JobRecord
    from ..request import Request


class Access:
    """The principals, audit trail and metrics of one service."""

    def __init__(self, principals: Principals, trail: AuditTrail, call: Call) -> None:
        self.principals = principals
        self.trail = trail
        # None with metrics off: nothing counted, no /metrics route.
        self.metrics = ServiceMetrics(call, principals, trail) if call.settings.metrics else None
        self._call = call
        self._notifier: Notifier | None = None
        urls = call.settings.callback_urls
        self.callback_urls = tuple(u.strip() for u in (urls or "").split(",") if u.strip())

    @classmethod
    def for_call(cls, call: Call, token: str | None) -> Access:
        document = call.connectors.document()
        settings = call.settings
        # Jobs shared through a broker: the trail is shared in its Redis too.
        shared = call.jobs.store.client if settings.broker else None  # type: ignore[attr-defined]
        return cls(Principals.from_document(document, token),
                   AuditTrail(settings.audit_file, shared), call)

    def callback_refusal(self, principal: Principal, url: Any) -> str | None:
        """Why a job of `principal` may not notify `url` (None: it may)."""
        if principal.callback_secret is None:
            return (f"principal '{principal.name}' has no callback secret to sign with: "
                    "create its token again ('ec2-connector token create')")
        return callbacks.refusal(url, self.callback_urls)

    def notify(self, principal: Principal, job_id: str, url: str) -> None:
        """POST the job to `url` when it ends (callbacks.py)."""
        assert principal.callback_secret is not None
        if self._notifier is None:
            settings = self._call.settings
            self._notifier = Notifier(
                partial(_ended, self._call), settings.callback_attempts,
                settings.callback_backoff_ms / 1000, settings.callback_timeout_ms / 1000,
                self._delivered)
        self._notifier.watch(Pending(job_id, url, principal.callback_secret, principal.name))

    def _delivered(self, delivery: Delivery) -> None:
        """Count how a callback ended, audit it, and write it into the job's record."""
        pending, url = delivery.pending, _shown(delivery.pending.url)
        if self.metrics is not None:
            self.metrics.callbacks.labels("delivered" if delivery.delivered else "failed").inc()
        now = time.time()
        self.trail.write({
            "time": iso(now), "principal": pending.principal, "event": "callback",
            "job-id": pending.job_id, "url": url, "attempts": delivery.attempts,
            "outcome": delivery.outcome})
        said = {"url": url, "attempts": delivery.attempts,
                "outcome": "delivered" if delivery.delivered else "failed",
                "last-error": delivery.last_error, "at": iso(now)}
        try:
            # Only the callback field changes, whatever the job's (ended) status.
            self._call.jobs.store.transition(pending.job_id, DONE, callback=said)
        except ConnectorError as exc:
            callbacks.log.warning("callback for job %s: not written to its record (%s)",
                                  pending.job_id, exc.message)

    def authorize(self, principal: Principal, connector: str,
                  body: Mapping[str, Any]) -> Denial | None:
        denial = authorize(principal, connector, body)
        if denial is not None and self.metrics is not None:
            self.metrics.refusals.labels(denial.rule).inc()
        return denial

    def authorize_cancel(self, principal: Principal, job: Mapping[str, Any]) -> Denial | None:
        denial = cancel_denial(principal, job)
        if denial is not None and self.metrics is not None:
            self.metrics.refusals.labels(denial.rule).inc()
        return denial

    def record(self, principal: Principal, request: Request, body: Mapping[str, Any], *,
               started: float, status: int, exitcode: int, message: str,
               response: Mapping[str, Any] | None = None, job_id: str | None = None,
               rule: str | None = None) -> None:
        """One request reached validation and ended so: audit it and count it."""
        action = known_action(request.action)
        meta = (response or {}).get("meta") or {}
        if self.metrics is not None:
            if job_id is not None and status == 202:  # accepted (a cancel names one too)
                self.metrics.jobs_submitted.inc()  # a call when it ends (ServiceMetrics)
            else:
                self.metrics.observe_call(action, exitcode, time.monotonic() - started, meta)
        if not self.trail.enabled:
            return
        line = audit.entry(
            principal=principal.name, connector=request.connector,
            action=action or request.action, regions=audit.regions_of(body, meta),
            targets=target_ids(catalog.get(action), body) if action else [],
            status=status, exitcode=exitcode, message=message, secrets=request.secrets(),
            request_ids=audit.request_ids(response or {}), job_id=job_id, rule=rule)
        self.trail.write(line)

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.close()
        self.trail.close()


def _shown(url: str) -> str:
    # Without its query string: a receiver's URL may carry a key of its own there.
    return urlsplit(url)._replace(query="", fragment="").geturl()


def _ended(call: Call, job_id: str) -> dict[str, Any] | None:
    record = call.jobs.read(job_id)
    return record.public() if record.status.done else None


def cancel_denial(principal: Principal, job: Mapping[str, Any]) -> Denial | None:
    """Why `principal` may not cancel this job it sees (None: it may). Cancelling changes
    what reaches EC2, so it takes a role that may run mutating actions, and the job's
    connector among the principal's."""
    who = f"principal '{principal.name}' ({principal.role})"
    if principal.role == "viewer":
        return Denial("role", f"forbidden: {who} may not cancel jobs: cancelling is for "
                      "the operator and admin roles")
    if not principal.may_use(str(job.get("connector"))):
        return Denial("connectors", f"forbidden: {who} may not use connector "
                      f"'{job.get('connector')}'")
    return None


def may_see(principal: Principal, record: JobRecord) -> bool:
    """A principal sees the jobs it submitted; admin sees every job."""
    return principal.sees_every_job or record.submitted_by == principal.name


def visible_jobs(call: Call, principal: Principal, limit: int,
                 status: str | None = None) -> list[dict[str, Any]]:
    if principal.sees_every_job:
        return [j.to_dict() for j in call.jobs.list(limit=limit, status=status)]
    # The store keeps no index by submitter: look through a wider window of the latest.
    call.jobs.list(limit=1, status=status)  # checks the status, sweeps lapsed leases first
    records = call.jobs.store.list(min(limit * 20, 5000), status)
    mine = [r.id for r in records if may_see(principal, r)][:limit]
    return [call.jobs.read(job_id).public() for job_id in mine]


def one_job(call: Call, principal: Principal, job_id: str) -> dict[str, Any]:
    try:
        record = call.job(job_id).record()
    except InvalidRequest:  # a prefix jobs share: to a non-admin, maybe not its own jobs
        if principal.sees_every_job:
            raise
        raise NotFound(f"no job with id '{job_id}'") from None
    if not may_see(principal, record):
        raise NotFound(f"no job with id '{job_id}'")
    return record.public()
