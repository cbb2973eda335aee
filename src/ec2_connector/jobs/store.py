"""Where job records live: the `JobStore` protocol and its embedded SQLite store.

Every status change is a compare-and-set: it names the statuses (and, where it matters,
the lease holder and its fencing number) it expects and reports whether it happened, so
two processes racing for one job can never both win. A claim adds one to the job's
`fence` in the same write; `holds` (checked before each mutating request) and `finish`
succeed only for the holder of the latest claim. The SQLite store (WAL, one file per
home folder) serves one machine; `redis.RedisJobStore` the same protocol for many.
A store that cannot be read or written raises `StoreError` (exitcode 9) naming its path,
never a raw driver error, and a damaged or empty file is reported, never silently
replaced.

The SQLite store commits in groups (groupcommit.py): the writes of threads that arrive
while a commit is under way (a pool's claims and finishes, a submitter's adds) go in
the next transaction together, one commit for all of them, and each thread returns only
once its own write is committed: a write still returns only when it is in the file.

A store does not grow without bound: a record keeps at most `max_response_bytes` of its
response (`record.bounded`), and an ended job is kept `job_ttl_s` (Redis expires it, SQLite
prunes it when opened and at most hourly after).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol

from ..errors import InvalidRequest, StoreError
from ..settings import (
    DEFAULT_HOME,
    DEFAULT_JOB_TTL_S,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_STORE_BUSY_MS,
    HOME_ENV,
)
from .groupcommit import GroupCommit
from .record import LIVE, Encoded, JobRecord, JobStatus, bounded

DONE = tuple(s for s in JobStatus if s.done)
PRUNE_EVERY_S = 3600.0


class _Increment:
    """A change that adds one to a counter field, in the compare-and-set's own write."""

    def __repr__(self) -> str:
        return "INCREMENT"


INCREMENT = _Increment()


class JobStore(Protocol):
    """What the lifecycle, the executors and the CLI need of a store."""

    location: str

    def add(self, record: JobRecord) -> None: ...

    def claim(self, job_id: str, holder: str, lease_s: float) -> JobRecord | None:
        """queued → running for `holder`, only if still queued; the claimed record or None."""

    def renew(self, job_id: str, holder: str, lease_s: float) -> bool:
        """Extend the lease of a live job, only by its holder."""

    def renew_many(self, held: builtins.list[tuple[str, str]],
                   lease_s: float) -> builtins.list[str]:
        """`renew` for each (job id, holder); the ids whose lease was not extended."""

    def finish(self, job_id: str, holder: str, status: JobStatus, message: str,
               response: dict[str, Any], fence: int | None = None) -> bool:
        """Record how the job ended, only by its holder (of the claim numbered `fence`)."""

    def holds(self, job_id: str, holder: str, fence: int, lease_s: float) -> bool:
        """Is the job running for `holder`, claimed with `fence`? Renews the lease if so."""

    def transition(self, job_id: str, expect: Iterable[JobStatus], *,
                   held_by: str | None = None, lapsed_before: float | None = None,
                   fenced: int | None = None, **changes: Any) -> bool:
        """Change fields if the status is one of `expect` (and the holder, lapse and fence
        match); a change of INCREMENT adds one to its field."""

    def get(self, job_id: str) -> JobRecord | None: ...

    def list(self, limit: int = 50, status: str | None = None) -> builtins.list[JobRecord]:
        """The newest jobs first."""

    def find(self, prefix: str) -> builtins.list[str]:
        """Up to two ids starting with `prefix` (two means it is ambiguous)."""

    def expired(self, now: float) -> builtins.list[JobRecord]:
        """Live jobs whose lease lapsed before `now`."""

    def prune(self, before: float) -> int:
        """Delete jobs that ended before `before`; how many."""

    def lost(self) -> str | None:
        """Why the store has lost records since this process first used it (its data
        was wiped), or None; asked when a job id is not found."""

    def close(self) -> None: ...


def home_dir(home: str | os.PathLike[str] | None = None) -> Path:
    return Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME)


def parse_age(text: str) -> float:
    """`7d`, `12h`, `30m`, `45s` (or plain seconds) as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match:
        raise InvalidRequest(f"not an age: '{text}' (use e.g. 7d, 12h, 30m, 45s)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * unit


_COLUMNS = tuple(f.name for f in fields(JobRecord))
_JSON = ("params", "target", "response", "callback")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "id" else "") for c in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at);
"""
_FAILURES = (
    ("locked", "is locked by another process (held longer than the store's busy timeout)"),
    ("readonly", "is read-only"),
    ("read-only", "is read-only"),
    ("disk is full", "cannot grow: the disk is full"),
    ("not a database", "is damaged (not an SQLite database)"),
    ("malformed", "is damaged (malformed)"),
    ("unable to open", "cannot be opened"),
)


# What opening a store may need to write: its -shm file (32 KiB) and the first WAL pages.
_ROOM_TO_OPEN = 64 * 1024


class Transitions:
    """claim, renew and finish, the same for every store: compare-and-sets on `transition`."""

    job_ttl_s: float = DEFAULT_JOB_TTL_S
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def transition(self, job_id: str, expect: Iterable[JobStatus], *,
                   held_by: str | None = None, lapsed_before: float | None = None,
                   fenced: int | None = None, **changes: Any) -> bool:
        raise NotImplementedError

    def get(self, job_id: str) -> JobRecord | None:
        raise NotImplementedError

    def claim(self, job_id: str, holder: str, lease_s: float) -> JobRecord | None:
        now = time.time()
        won = self.transition(job_id, [JobStatus.QUEUED], status=JobStatus.RUNNING,
                              holder=holder, lease_until=now + lease_s, started_at=now,
                              fence=INCREMENT)
        return self.get(job_id) if won else None

    def holds(self, job_id: str, holder: str, fence: int, lease_s: float) -> bool:
        # The check is a renewal: one write that both proves and extends the lease.
        return self.transition(job_id, [JobStatus.RUNNING], held_by=holder, fenced=fence,
                               lease_until=time.time() + lease_s)

    def renew(self, job_id: str, holder: str, lease_s: float) -> bool:
        return self.transition(job_id, LIVE, held_by=holder, lease_until=time.time() + lease_s)

    def renew_many(self, held: builtins.list[tuple[str, str]],
                   lease_s: float) -> builtins.list[str]:
        return [job_id for job_id, holder in held if not self.renew(job_id, holder, lease_s)]

    def finish(self, job_id: str, holder: str, status: JobStatus, message: str,
               response: dict[str, Any], fence: int | None = None) -> bool:
        # An interrupted job still held by us was only slow to renew: its result is real.
        # An ended job's sealed secrets go in the same write: nobody may open them any
        # more, and no reader ever sees an ended job that still holds them.
        return self.transition(
            job_id, [JobStatus.RUNNING, JobStatus.INTERRUPTED], held_by=holder, fenced=fence,
            status=status, message=message,
            response=bounded(response, self.max_response_bytes), finished_at=time.time(),
            lease_until=None, sealed=None)

    def lost(self) -> str | None:
        return None  # a file cannot be wiped behind our back without `get` failing


class SQLiteJobStore(Transitions):
    """The jobs table of one home folder, shared by every process that opens it."""

    def __init__(self, home: str | os.PathLike[str] | None = None,
                 busy_ms: int = DEFAULT_STORE_BUSY_MS, *, job_ttl_s: float = DEFAULT_JOB_TTL_S,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.home = home_dir(home)
        self.job_ttl_s, self.max_response_bytes = job_ttl_s, max_response_bytes
        self._busy_ms = busy_ms
        self.path = self.home / "jobs.sqlite3"
        self.location = str(self.path)
        with self._guard():
            self.home.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size == 0:
                raise StoreError(
                    f"job store {self.path} is an empty (0-byte) file, not a database; "
                    f"move it aside (its jobs, if any, are lost) and a new one is created"
                )
            # One connection for writes (grouped, under one lock), and one for reads per
            # thread: under WAL a read never waits for a write, and with its own
            # connection a pool's thread does not queue behind another's read either.
            self._lock = threading.Lock()
            self._read_lock = threading.Lock()  # guards the readers, not the reads
            self._readers: dict[threading.Thread, sqlite3.Connection] = {}
            self._local = threading.local()
            self._closed = False
            self._db = _connect(self.path, self._busy_ms)
            self._group = GroupCommit(self._db, self._lock)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                self._migrate()
                with contextlib.suppress(OSError):
                    os.chmod(self.path, 0o600)
            except BaseException:
                self._db.close()  # a store that failed to open holds no file open
                raise
        self._prune_ended()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None
        except OSError as exc:
            raise StoreError(f"job store {self.path}: {exc.strerror}") from None

    def _migrate(self) -> None:
        # A store written by an earlier version lacks the lease and target columns.
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column in _COLUMNS:
            if column not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")

    def _write(self, sql: str, args: Iterable[Any]) -> int:
        with self._guard():
            return len(self._group.write(sql, list(args), fetch=False))

    def _read(self, sql: str, args: Iterable[Any]) -> builtins.list[Any]:
        with self._guard():
            return self._reader().execute(sql, list(args)).fetchall()

    def _reader(self) -> sqlite3.Connection:
        reader: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if reader is None:
            with self._read_lock:
                if self._closed:
                    raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
                for thread in [t for t in self._readers if not t.is_alive()]:
                    self._readers.pop(thread).close()  # threads come and go: files do not
                reader = self._local.reader = _connect(self.path, self._busy_ms)
                self._readers[threading.current_thread()] = reader
        return reader

    def _prune_ended(self) -> None:
        """Delete the jobs that ended more than `job_ttl_s` ago. A read on the finished_at
        index first, so that an open with nothing to prune writes nothing."""
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        before = time.time() - self.job_ttl_s
        if self._read("SELECT 1 FROM jobs WHERE finished_at < ? LIMIT 1", [before]):
            self.prune(before)

    def add(self, record: JobRecord) -> None:
        if time.monotonic() > self._next_prune:  # a long-lived service prunes hourly
            self._prune_ended()
        # Each field as it is (`_encode` makes the JSON ones text), not `to_dict`'s deep copy.
        marks = ", ".join("?" for _ in _COLUMNS)
        self._write(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({marks})",
                    [_encode(c, getattr(record, c)) for c in _COLUMNS])

    def transition(self, job_id: str, expect: Iterable[JobStatus], *,
                   held_by: str | None = None, lapsed_before: float | None = None,
                   fenced: int | None = None, **changes: Any) -> bool:
        sql, args = _update(job_id, expect, held_by, lapsed_before, fenced, changes)
        return self._write(sql, args) == 1

    def claim(self, job_id: str, holder: str, lease_s: float) -> JobRecord | None:
        """The compare-and-set of every store, and the claimed record read back by the
        same statement (RETURNING): a pool's thread makes one trip to the store, not two."""
        if sqlite3.sqlite_version_info < (3, 35):
            return super().claim(job_id, holder, lease_s)
        now = time.time()
        sql, args = _update(job_id, [JobStatus.QUEUED], None, None, None, {
            "status": JobStatus.RUNNING, "holder": holder, "lease_until": now + lease_s,
            "started_at": now, "fence": INCREMENT})
        with self._guard():
            rows = self._group.write(f"{sql} RETURNING {', '.join(_COLUMNS)}", args,
                                     fetch=True)
        return _decode(rows[0]) if rows else None

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._read(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", [job_id])
        return _decode(rows[0]) if rows else None

    def list(self, limit: int = 50, status: str | None = None) -> builtins.list[JobRecord]:
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self._read(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} ORDER BY created_at DESC LIMIT ?",
            [*args, limit])
        return [_decode(r) for r in rows]

    def find(self, prefix: str) -> builtins.list[str]:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._read("SELECT id FROM jobs WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                          [escaped + "%"])
        return [str(r[0]) for r in rows]

    def expired(self, now: float) -> builtins.list[JobRecord]:
        rows = self._read(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE status IN (?, ?) "
            "AND lease_until IS NOT NULL AND lease_until < ?",
            [JobStatus.QUEUED.value, JobStatus.RUNNING.value, now])
        return [_decode(r) for r in rows]

    def prune(self, before: float) -> int:
        marks = ", ".join("?" for _ in DONE)
        return self._write(
            f"DELETE FROM jobs WHERE status IN ({marks}) "
            "AND COALESCE(finished_at, created_at) < ?", [*(s.value for s in DONE), before])

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._closed = True
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
            self._db.close()


def _update(job_id: str, expect: Iterable[JobStatus], held_by: str | None,
            lapsed_before: float | None, fenced: int | None,
            changes: dict[str, Any]) -> tuple[str, builtins.list[Any]]:
    """The compare-and-set UPDATE of `transition`, and its arguments."""
    expected = [JobStatus(s).value for s in expect]
    where = f"id = ? AND status IN ({', '.join('?' for _ in expected)})"
    args: builtins.list[Any] = [job_id, *expected]
    if held_by is not None:
        where += " AND holder = ?"
        args.append(held_by)
    if lapsed_before is not None:
        where += " AND lease_until IS NOT NULL AND lease_until < ?"
        args.append(lapsed_before)
    if fenced is not None:
        where += " AND COALESCE(fence, 0) = ?"
        args.append(fenced)
    assignments = ", ".join(f"{k} = COALESCE({k}, 0) + 1" if v is INCREMENT else f"{k} = ?"
                            for k, v in changes.items())
    values = [_encode(k, v) for k, v in changes.items() if v is not INCREMENT]
    return f"UPDATE jobs SET {assignments} WHERE {where}", [*values, *args]


def _connect(path: Path, busy_ms: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        db.close()
        raise
    return db


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    text = str(exc).lower()
    if "unable to open" in text or "disk i/o error" in text:
        # Opening a WAL store writes its -shm and -wal files: on a read-only or full file
        # system SQLite says only that, so the file system is asked why.
        why = _file_system_refuses(path.parent)
        if why:
            return StoreError(f"job store {path} {why}")
    for needle, what in _FAILURES:
        if needle in text:
            advice = ""
            if "damaged" in what:
                advice = "; move it aside (its jobs are lost) and a new one is created"
            return StoreError(f"job store {path} {what}{advice}")
    return StoreError(f"job store {path}: {exc}")


def _file_system_refuses(folder: Path) -> str | None:
    """Why the file system holding `folder` refuses writes, if it plainly does."""
    try:
        found = os.statvfs(folder)
    except OSError:
        return None
    if found.f_flag & os.ST_RDONLY:
        return "is on a read-only file system"
    if found.f_bavail * found.f_frsize < _ROOM_TO_OPEN:
        return "cannot grow: the disk is full"
    return None


def _encode(column: str, value: Any) -> Any:
    if column in _JSON:
        if isinstance(value, Encoded):
            return value.text
        return None if value is None else json.dumps(value, default=str)
    if isinstance(value, JobStatus):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _decode(row: builtins.tuple[Any, ...]) -> JobRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    for column in _JSON:
        raw = values[column]
        values[column] = json.loads(raw) if raw else (None if column == "response" else {})
    values["secrets_held"] = bool(values["secrets_held"])
    values["reruns"] = int(values["reruns"] or 0)
    values["fence"] = int(values["fence"] or 0)
    values["executor"] = values["executor"] or "threads"
    return JobRecord.from_dict(values)
