"""A job as a record: what was asked, where it goes, who holds it, and how it ended.

A record never holds a secret in clear: parameters declared secret (and the access key
that goes with them) are dropped before it is written, and a job that needed them says
so; for remote workers they may ride sealed (`sealed`, jobs/sealing.py) until it ends. It
holds everything else needed to run the job again on any machine: the parameters, the
connector's name and its resolved non-secret settings (`target`), and an absolute
`expires_at`, so time spent queued counts against the job's deadline.

Liveness is a lease: whoever runs a job (or, while it is queued on a local pool, the
process that will run it) holds it until `lease_until` and renews it; a lapsed lease
means that holder is gone, whichever machine it was on. `fence` counts the claims of a
job: a holder that was paused past its lease finds, before its next mutating request,
that the job was claimed again (the number grew) and sends nothing more.

A record keeps at most a store's `max_response_bytes` of its response (`bounded`).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from ..settings import PREFIX


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    INTERRUPTED = "interrupted"
    RESUMED = "resumed"  # an interrupted job that was run again as a new job
    CANCELLED = "cancelled"  # ended by a cancel: never run, rerun nor resumed after

    @property
    def done(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass
class JobRecord:
    """One job as stored; `to_dict()`/`from_dict()` are the stored form."""

    id: str
    connector: str
    action: str | None
    params: dict[str, Any]
    timeout_ms: int | None
    status: JobStatus = JobStatus.QUEUED
    target: dict[str, Any] = field(default_factory=dict)
    executor: str = "threads"
    created_at: float = field(default_factory=time.time)
    expires_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    message: str | None = None
    response: dict[str, Any] | None = None
    holder: str | None = None
    lease_until: float | None = None
    secrets_held: bool = False
    reruns: int = 0
    resumed_from: str | None = None
    submitted_by: str | None = None  # the service principal that submitted it
    fence: int = 0  # grows with every claim: the claim that the holder's requests carry
    # A cancel asked while the job runs (a queued or interrupted one ends at once): when,
    # and by whom (a service principal, or None). The request also adds one to `fence`,
    # so the holder's next fence check fails and finds it (lifecycle.Fence).
    cancel_requested_at: float | None = None
    cancel_requested_by: str | None = None
    # How its completion callback ended: url (no query), attempts, outcome, last-error, at.
    callback: dict[str, Any] = field(default_factory=dict)
    # The request's secret parameters sealed for workers (sealing.py): ciphertext only,
    # opened by the worker that claims the job, erased when the job ends.
    sealed: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["status"] = self.status.value
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> JobRecord:
        known = _FIELD_NAMES if cls is JobRecord else {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in values.items() if k in known})
        record.status = JobStatus(record.status)
        return record

    def lapsed(self, now: float | None = None) -> bool:
        """Live, but its holder stopped renewing the lease: the holder is gone."""
        if self.status not in LIVE or self.lease_until is None:
            return False
        return self.lease_until < (time.time() if now is None else now)

    def public(self) -> dict[str, Any]:
        """What `jobs show`, `GET /v1/jobs/{id}` and `job.to_dict()` show."""
        return {
            "job-id": self.id,
            "status": self.status.value,
            "connector": self.connector,
            "action": self.action,
            "params": self.params,
            "target": self.target,
            "executor": self.executor,
            "timeout-ms": self.timeout_ms,
            "created-at": iso(self.created_at),
            "expires-at": iso(self.expires_at),
            "started-at": iso(self.started_at),
            "finished-at": iso(self.finished_at),
            "lease-until": iso(self.lease_until),
            "holder": self.holder,
            "message": self.message,
            "reruns": self.reruns,
            "fence": self.fence,
            "resumed-from": self.resumed_from,
            "submitted-by": self.submitted_by,
            "cancel-requested-at": iso(self.cancel_requested_at),
            "cancel-requested-by": self.cancel_requested_by,
            "callback": self.callback or None,
            "secrets-held-in-memory": self.secrets_held,
            "secrets-sealed": self.sealed is not None,
            "response": self.response,
        }


_FIELD_NAMES = frozenset(f.name for f in fields(JobRecord))


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def new_job_id() -> str:
    return uuid.uuid4().hex


def new_holder() -> str:
    """A lease holder's name: the host and process, and a nonce so two holders in one
    process (or a reused pid) are never taken for each other."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def interrupted_message(record: JobRecord) -> str:
    """What may have happened on EC2 when the holder of a job's lease went away."""
    if record.status is JobStatus.QUEUED:
        text = (
            "interrupted before it started: the process that was to run it exited (its "
            "lease lapsed); nothing was sent to EC2"
        )
    else:
        text = (
            f"interrupted while running: the process running it ({record.holder}) stopped "
            f"renewing its lease; the '{record.action}' request may or may not have reached "
            "EC2, so check the resources' state before retrying; " + rerun_advice(record)
        )
    if record.secrets_held:
        text += (
            "; it cannot be resumed without the credentials or secret values passed on the "
            "request, which are never stored"
        )
    return text


def rerun_safe(record: JobRecord) -> bool:
    """Does the job's action say a second run is safe (read-only, converging, found)?"""
    from ..spec.action import Rerun

    return _rerun_class(record) is not Rerun.MANUAL


def _rerun_class(record: JobRecord) -> Any:
    from ..actions import catalog
    from ..spec.action import Rerun

    try:
        return catalog.get(str(record.action)).rerun or Rerun.MANUAL
    except Exception:  # an action this version does not know: nobody can tell
        return Rerun.MANUAL


def rerun_advice(record: JobRecord) -> str:
    """Whether a second run of the job is safe, and what makes it so (its action's class)."""
    from ..spec.action import Rerun

    rerun = _rerun_class(record)
    if rerun is Rerun.MANUAL:
        return (f"it is not run again on its own: {_what_may_be_done(record)}; "
                f"check, then `jobs resume {record.id}` runs it again")
    token = record.params.get("client-token")
    given = f" (client-token '{token}')" if token else ""
    return f"a rerun{given} is safe: {rerun.note}"


# Parameters that name what a request touches, for a message about what may be done.
_NAMING = ("key-name", "key-file", "group-name", "group-id", "public-ip", "allocation-id",
           "launch-template-name", "launch-template-id", "vpc-id", "cidr-block", "operation")


def _what_may_be_done(record: JobRecord) -> str:
    from ..actions import catalog

    named = ", ".join(f"{k} '{record.params[k]}'" for k in _NAMING if record.params.get(k))
    try:
        kind = catalog.get(str(record.action)).resource or "resource"
    except Exception:
        kind = "resource"
    return (f"what its '{record.action}' request does to the {kind} "
            f"({named or 'see its parameters'}) may already be done on EC2")


# A job's response as its record keeps it ------------------------------------------------

TRUNCATED = "truncated"  # the meta member that says a record's response was cut


class Encoded(dict[str, Any]):
    """An envelope with the JSON text it was measured by: a store writes that text
    instead of encoding the envelope a second time."""

    def __init__(self, envelope: dict[str, Any], text: str) -> None:
        super().__init__(envelope)
        self.text = text


def bounded(envelope: dict[str, Any], limit: int) -> dict[str, Any]:
    """The envelope as a job record keeps it: at most `limit` bytes of JSON.

    Over that, the data keeps its members in order while they fit (of the first that
    does not, as much as fits: a list its first items), and `meta["truncated"]` says
    what was dropped. `sync()` returns a response whole; a job's response is what its
    record keeps (stream or page a listing that big instead).
    """
    text = json.dumps(envelope, default=str)
    size = len(text)
    if size <= limit:
        return Encoded(envelope, text)
    message = str(envelope.get("message") or "")
    if len(message) > limit // 4:
        message = message[:limit // 4] + "..."
    notes: list[str] = []
    meta = dict(envelope.get("meta") or {})
    # What the marker may need, kept aside so it always fits.
    room = limit - _size({**envelope, "message": message, "data": {}, "meta": meta}) - 400
    data, _ = _fit(envelope.get("data") or {}, room, "data", notes)
    what = "; ".join(notes)
    meta[TRUNCATED] = (
        f"the response was {size} bytes; a job record keeps at most {limit} "
        f"({PREFIX}MAX_RESPONSE_BYTES), so the rest was dropped: "
        + (what if len(what) < 200 else what[:200] + "..."))
    cut = {**envelope, "message": message, "data": data, "meta": meta}
    if _size(cut) > limit:  # a meta too big to keep: the marker alone
        cut = {**envelope, "message": message, "data": {}, "meta": {TRUNCATED: meta[TRUNCATED]}}
    return cut


def _fit(value: Any, room: int, path: str, notes: list[str]) -> tuple[Any, int]:
    """As much of a dict or list as fits in `room` bytes of JSON, members in order, and
    the room left; each container cut is noted with how much of it was kept."""
    pairs = list(value.items() if isinstance(value, dict) else enumerate(value))
    kept: list[tuple[Any, Any]] = []
    room -= 2
    for key, member in pairs:
        # json.dumps separates with ", " and ": ".
        label = _size(str(key)) + 2 if isinstance(value, dict) else 0
        cost = label + _size(member) + 2
        if cost <= room:
            kept.append((key, member))
            room -= cost
            continue
        # A member of a dict may be kept in part; an item of a list is kept whole or not.
        if isinstance(value, dict) and isinstance(member, dict | list) \
                and room - label > 16:
            part, room = _fit(member, room - label - 2, f"{path}.{key}", notes)
            kept.append((key, part))
        break
    if len(kept) < len(pairs):
        noun = "members" if isinstance(value, dict) else "items"
        notes.insert(0, f"{path} kept {len(kept)} of its {len(pairs)} {noun}")
    if isinstance(value, dict):
        return dict(kept), room
    return [member for _, member in kept], room


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str))
