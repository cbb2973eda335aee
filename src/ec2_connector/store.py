"""Job records on disk: an embedded SQLite (WAL) store that survives a crash.

A record never holds a secret: parameters marked secret are dropped before it is
written, and a job that needed them says so. A job left `queued` or `running` by a
process that no longer exists is marked `interrupted` when a store is next opened.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .settings import DEFAULT_HOME, HOME_ENV


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    INTERRUPTED = "interrupted"

    @property
    def done(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass
class JobRecord:
    """One job as stored: what was asked, by whom, and how it ended."""

    id: str
    connector: str
    action: str | None
    params: dict[str, Any]
    timeout_ms: int | None
    status: JobStatus = JobStatus.QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    message: str | None = None
    response: dict[str, Any] | None = None
    owner: str = ""
    secrets_held: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "job-id": self.id,
            "status": self.status.value,
            "connector": self.connector,
            "action": self.action,
            "params": self.params,
            "timeout-ms": self.timeout_ms,
            "created-at": _iso(self.created_at),
            "started-at": _iso(self.started_at),
            "finished-at": _iso(self.finished_at),
            "message": self.message,
            "secrets-held-in-memory": self.secrets_held,
            "response": self.response,
        }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def home_dir(home: str | os.PathLike[str] | None = None) -> Path:
    return Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME)


def process_identity(pid: int | None = None) -> str:
    """pid plus the process's start time: a reused pid is not mistaken for its owner."""
    pid = pid or os.getpid()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = "?"
    return f"{pid}:{start}"


def owner_alive(owner: str) -> bool:
    try:
        pid = int(owner.split(":", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return process_identity(pid) == owner


_COLUMNS = (
    "id", "connector", "action", "params", "timeout_ms", "status", "created_at", "started_at",
    "finished_at", "message", "response", "owner", "secrets_held",
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "id" else "") for c in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
"""


class JobStore:
    """The jobs table of one home folder, shared by every process that opens it."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = home_dir(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "jobs.sqlite3"
        # Two connections, each used by one thread at a time: writes, and reads. Under WAL
        # a read never waits for a write, so a poll does not queue behind status changes.
        self._lock = threading.Lock()
        self._db = _connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        os.chmod(self.path, 0o600)
        self._read_lock = threading.Lock()
        self._reader = _connect(self.path)
        self.recover()

    def add(self, record: JobRecord) -> None:
        row = _to_row(record)
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({marks})", row)

    def update(self, job_id: str, **changes: Any) -> None:
        """Change some fields of one job in a single statement (status changes go here)."""
        record = {k: _encode(k, v) for k, v in changes.items()}
        assignments = ", ".join(f"{k} = ?" for k in record)
        with self._lock:
            self._db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ?", [*record.values(), job_id]
            )

    def get(self, job_id: str) -> JobRecord | None:
        with self._read_lock:
            row = self._reader.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return _from_row(row) if row else None

    def list(self, limit: int = 50, status: str | None = None) -> builtins.list[JobRecord]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self._read_lock:
            rows = self._reader.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} "
                "ORDER BY created_at DESC LIMIT ?",
                [*args, limit],
            ).fetchall()
        return [_from_row(r) for r in rows]

    def recover(self) -> builtins.list[str]:
        """Mark jobs whose owning process is gone as interrupted; return their ids."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
        lost = [r for r in map(_from_row, rows) if not owner_alive(r.owner)]
        for record in lost:
            self.update(
                record.id, status=JobStatus.INTERRUPTED, finished_at=time.time(),
                message=interrupted_message(record),
            )
        return [r.id for r in lost]

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def interrupted_message(record: JobRecord) -> str:
    """What may have happened on EC2 when the process running a job died."""
    if record.status is JobStatus.QUEUED:
        text = "interrupted before it started: nothing was sent to EC2"
    else:
        text = (
            f"interrupted while running: the process died; the '{record.action}' request "
            "may or may not have reached EC2, so check the resources' state before retrying"
        )
    token = record.params.get("client-token")
    if record.action == "create-instance" and token:
        text += (
            f"; resume it (client-token '{token}'): instances it may have launched are "
            "returned instead of launching again"
        )
    if record.secrets_held:
        text += (
            "; it cannot be resumed without the credentials or secret values passed on the "
            "request, which are never stored"
        )
    return text


def _encode(column: str, value: Any) -> Any:
    if column in ("params", "response"):
        return None if value is None else json.dumps(value, default=str)
    if isinstance(value, JobStatus):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _to_row(record: JobRecord) -> list[Any]:
    values = asdict(record)
    values["status"] = record.status
    return [_encode(c, values[c]) for c in _COLUMNS]


def _from_row(row: builtins.tuple[Any, ...]) -> JobRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["params"] = json.loads(values["params"] or "{}")
    values["response"] = json.loads(values["response"]) if values["response"] else None
    values["status"] = JobStatus(values["status"])
    values["secrets_held"] = bool(values["secrets_held"])
    return JobRecord(**values)
