"""What every call through the service passes before it runs, for the API and the
console alike: its connector, its principal's rights (access.py), where its credentials
would go; and the threads blocking work runs on, off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio

from ..call import Call
from ..errors import InvalidRequest, NotFound
from ..jobs.record import JobStatus
from ..request import as_request
from ..spec.params import String, StringList, canonical
from .access import Access, one_job
from .principals import Principal, Principals

# Worker threads for the job store and job submissions (sync calls await the connector's
# I/O threads instead); beyond this many at once they queue, they are not refused.
CALL_THREADS = 64
T = TypeVar("T")


class Rejected(Exception):
    """A request refused before anything ran: its HTTP status and why (exitcode 2)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = InvalidRequest(message)
        self.headers = headers


class Threads:
    """Runs blocking work off the event loop; the limiter is made on first use, in the loop."""

    def __init__(self) -> None:
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, work: Callable[[], T]) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(CALL_THREADS)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)


def submit(call: Call, name: str, body: dict[str, Any], by: str) -> dict[str, str | None]:
    try:
        # Validated before anything is stored: a job only exists for a request that could run.
        job = call.jobs.submit(as_request(name, body), submitted_by=by)
    except InvalidRequest as exc:
        raise Rejected(400, exc.message) from None
    return {"job-id": job.id, "status": job.status}


def cancel(call: Call, access: Access, principal: Principal, job_id: str) -> dict[str, Any]:
    """Cancel a job for `principal` (API and console; blocking: run it on `Threads`).
    Another principal's job is not found (404, ids do not leak); a role or connector
    that may not (403, naming the rule); an ended job (409); each audited."""
    started = time.monotonic()
    try:
        job = one_job(call, principal, job_id)
    except NotFound as exc:
        raise Rejected(404, exc.message) from None
    except InvalidRequest as exc:  # a prefix two jobs share
        raise Rejected(400, exc.message) from None
    body = {**(job.get("params") or {}), "action": job["action"]}
    audited = partial(access.record, principal, as_request(job["connector"], body), body,
                      started=started, job_id=job["job-id"])
    denial = access.authorize_cancel(principal, job)
    if denial is not None:
        audited(status=403, exitcode=2, message=denial.message, rule=denial.rule)
        raise Rejected(403, denial.message)
    try:
        record = call.jobs.cancel(job["job-id"], by=principal.name)
    except InvalidRequest as exc:  # it had ended: nothing changed
        audited(status=409, exitcode=2, message=exc.message)
        raise Rejected(409, exc.message) from None
    done = record.status is JobStatus.CANCELLED
    audited(status=200, exitcode=0, message=f"{'cancelled' if done else 'asked to cancel'} "
            f"job {record.id} ({record.status.value})")
    return record.public()


def admit(call: Call, access: Access, principal: Principal, name: str, body: dict[str, Any],
          audited: Callable[..., None]) -> None:
    """Refuse (and audit) a request its principal may not make (403) or that would send
    the service's credentials elsewhere (400); nothing is sent to EC2 either way."""
    denial = access.authorize(principal, name, body)
    try:
        if denial is not None:
            raise Rejected(403, denial.message)
        check_redirects(call, name, body)
    except Rejected as exc:
        audited(status=exc.status, exitcode=2, message=exc.error.message,
                rule=denial.rule if denial else None)
        raise


def principal_for(principals: Principals, token: str, anyone: bool = False) -> Principal:
    """The principal of a bearer token ("" for none); 401 for a missing or wrong one."""
    # Each principal's token is compared in constant time (principals.py).
    principal = principals.authenticate(token)
    if principal is None and anyone:
        principal = Principal("anonymous", "viewer")
    if principal is not None:
        return principal
    raise Rejected(
        401, "missing or wrong bearer token: send 'Authorization: Bearer <token>'",
        {"WWW-Authenticate": "Bearer"},
    )


def check_connector(call: Call, name: str) -> None:
    if name not in (known := call.connectors.names()):
        raise Rejected(404, f"unknown connector '{name}' (known: {', '.join(known)})")


_NAMES = StringList(String())


def check_redirects(call: Call, name: str, body: dict[str, Any]) -> None:
    """Refuse a request that would send the service's credentials where its config does
    not say: an `endpoint-url` of the caller's, or a `profile` of the service's machine.

    The caller may choose them with its own keys (then nothing of the service's is sent),
    or an endpoint listed in the connector's `allowed-endpoint-urls`.
    """
    given = [(canonical(str(k)), v) for k, v in body.items() if v is not None]
    keys = {k for k, _ in given}
    if {"access-key", "security-key"} <= keys:
        return
    try:
        # A request naming `connectors` runs with each of their credentials, not the
        # route's: the URL must be allowed for every one of them.
        named = [n for k, v in given if k == "connectors" for n in _NAMES.convert(v, k)]
        used = [call.connectors.get(n) for n in named or [name]]
    except InvalidRequest as exc:
        raise Rejected(400, exc.message) from None
    for key, value in given:
        refusing = [] if key != "endpoint-url" else [
            c.name for c in used if not (isinstance(value, str) and c.allows_endpoint(value))]
        if refusing:
            raise Rejected(400, (
                "the service sends its credentials only to the endpoint of its connector "
                "config: 'endpoint-url' needs the request's own 'access-key' and "
                "'security-key', or a URL in the 'allowed-endpoint-urls' of connector "
                + ", ".join(f"'{n}'" for n in refusing)
            ))
        if key == "profile":
            raise Rejected(400, (
                "the service's AWS profile comes from its connector config: 'profile' "
                "needs the request's own 'access-key' and 'security-key'"
            ))


