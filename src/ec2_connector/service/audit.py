"""The service's audit trail: one JSON line per request that reached validation.

Each line says who asked (the principal), for what (connector, region(s), action, the ids
it names), and how it ended: the HTTP status, exitcode and message, EC2's request ids,
the job id of a job, and the rule a refusal broke. Never a secret: no parameters other
than the target ids, messages masked as every message is (masking.py), never a token.

Lines are appended with one write(2) each to a file opened with O_APPEND, so lines
written at once by many threads, and by many server processes sharing the file, never
interleave. When jobs are shared (a broker), each line is also added to a Redis stream
in the broker's Redis (`STREAM`, the oldest trimmed beyond `STREAM_MAX`), so services on
many machines keep one trail; a writer thread sends them, so the event loop never waits
on Redis. `ec2-connector audit` reads either back with filters.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest
from ..jobs.record import iso
from ..masking import mask_wire, redact

log = logging.getLogger("ec2_connector.audit")
STREAM = "ec2-connector:audit"
STREAM_MAX = 1_000_000  # lines kept in the stream (approximately: Redis trims lazily)


class AuditTrail:
    """Appends audit lines to `path`; without a path it writes nothing."""

    def __init__(self, path: str | os.PathLike[str] | None, redis_client: Any = None) -> None:
        self.path = None if path is None else Path(path)
        self.failures = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._stream = None if redis_client is None else _StreamWriter(redis_client, self)

    @property
    def enabled(self) -> bool:
        return self.path is not None or self._stream is not None

    def write(self, entry: Mapping[str, Any]) -> bool:
        """Append one line; False (and a log line, and a count) if it could not be."""
        text = json.dumps(entry, default=str, separators=(",", ":"))
        if self._stream is not None:
            self._stream.put(text)
        if self.path is None:
            return True
        line = (text + "\n").encode()
        try:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                written = os.write(self._fd, line)
            if written != len(line):
                raise OSError("short write")
        except OSError as exc:
            self.failed(self.path, exc.strerror or exc)
            return False
        return True

    def of_job(self, job_id: str, window: int = 10_000) -> list[dict[str, Any]] | None:
        """The lines about one job (its submission, its callback), oldest first; from a
        shared stream only the latest `window` are looked through. None: no trail."""
        if self.path is not None:
            try:
                return [line for line in read(self.path) if line.get("job-id") == job_id]
            except InvalidRequest:  # not written yet
                return []
        if self._stream is None:
            return None
        found = []
        for _, fields in self._stream.client.xrevrange(STREAM, count=window):
            line = json.loads(fields.get("line") or fields.get(b"line") or "{}")
            if line.get("job-id") == job_id:
                found.append(line)
        return found[::-1]

    def failed(self, where: object, why: object) -> None:
        self.failures += 1
        log.error("audit trail %s: could not write a line: %s", where, why)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _StreamWriter:
    """Sends audit lines to the Redis stream from a thread of its own, in order."""

    def __init__(self, client: Any, trail: AuditTrail) -> None:
        self.client, self._trail = client, trail
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="audit-stream", daemon=True)
        self._thread.start()

    def put(self, text: str) -> None:
        self._queue.put(text)

    def _run(self) -> None:
        while (text := self._queue.get()) is not None:
            batch = [text]
            while len(batch) < 100:  # what queued meanwhile goes in one round trip
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            try:
                pipe = self.client.pipeline(transaction=False)
                for line in batch:
                    pipe.xadd(STREAM, {"line": line}, maxlen=STREAM_MAX, approximate=True)
                pipe.execute()
            except Exception as exc:  # Redis down or refusing: counted, never fatal
                for _ in batch:
                    self._trail.failed(STREAM, type(exc).__name__)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)


def entry(
    *, principal: str, connector: str, action: Any, regions: list[str], targets: list[str],
    status: int, exitcode: int, message: str, secrets: list[str],
    request_ids: list[str] | None = None, job_id: str | None = None, rule: str | None = None,
) -> dict[str, Any]:
    """One audit line, its message masked of the request's secrets and of credentials."""
    line: dict[str, Any] = {
        "time": iso(time.time()), "principal": principal, "connector": connector,
        "regions": regions, "action": action if isinstance(action, str) else None,
        "targets": targets, "status": status, "exitcode": exitcode,
        "message": redact(mask_wire(message), secrets),
        "request-ids": request_ids or [], "job-id": job_id,
    }
    if rule is not None:
        line["rule"] = rule
    return line


def regions_of(body: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> list[str]:
    """The regions a request named (or, failing that, the one its call went to)."""
    named = next((v for k, v in body.items() if str(k).lower() == "region"), None)
    if isinstance(named, list):
        return [str(r) for r in named]
    if isinstance(named, str) and named.strip():
        return [r for r in re.split(r"[,\s]+", named.strip().strip("[]")) if r]
    region = (meta or {}).get("region")
    return [str(region)] if region else []


def request_ids(response: Mapping[str, Any]) -> list[str]:
    """EC2's request ids in an envelope: the call's, and each fanned-out call's."""
    found = [response.get("meta", {}).get("request-id")]
    for call in (response.get("data") or {}).get("regions") or []:
        if isinstance(call, Mapping):
            found.append(call.get("request-id"))
    return [str(i) for i in dict.fromkeys(found) if i]


# ------------------------------------------------------------------------- reading


def parse_time(text: str, option: str) -> float:
    """An ISO 8601 time (`2026-12-07T02:00:00Z`, `2026-12-07`) or an age (`30m`, `2h`,
    `7d`: that long ago) as a Unix time."""
    from ..jobs.store import parse_age

    if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[smhdw]\s*", text):
        return time.time() - parse_age(text)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{option}: not a time: '{text}' (use e.g. 2026-12-07T02:00:00Z "
                             "or an age such as 30m, 2h, 7d)") from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def read(path: str | os.PathLike[str], *, principal: str | None = None,
         action: str | None = None, since: float | None = None,
         until: float | None = None) -> Iterator[dict[str, Any]]:
    """The audit lines of `path` that pass every filter given, oldest first. A line that
    is not JSON (a write cut short by a full disk) is skipped with a warning."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            lines = list(handle)
    except OSError as exc:
        raise InvalidRequest(f"audit trail {path} cannot be read: {exc.strerror}") from None
    for number, text in enumerate(lines, start=1):
        try:
            line = json.loads(text)
        except ValueError:
            log.warning("audit trail %s: line %d is not JSON; skipped", path, number)
            continue
        if _passes(line, principal, action, since, until):
            yield line


def read_stream(client: Any, **filters: Any) -> Iterator[dict[str, Any]]:
    """`read` for the Redis stream: its lines that pass every filter, oldest first."""
    last = "-"
    while True:
        entries = client.xrange(STREAM, min=last, count=1000)
        if last != "-":
            entries = entries[1:]  # the range starts at the last one already read
        if not entries:
            return
        for _, fields in entries:
            text = fields.get("line") or fields.get(b"line") or "{}"
            line = json.loads(text)
            if _passes(line, filters.get("principal"), filters.get("action"),
                       filters.get("since"), filters.get("until")):
                yield line
        last = entries[-1][0]


def _passes(line: dict[str, Any], principal: str | None, action: str | None,
            since: float | None, until: float | None) -> bool:
    if principal is not None and line.get("principal") != principal:
        return False
    if action is not None and not fnmatch.fnmatchcase(str(line.get("action")), action):
        return False
    if since is None and until is None:
        return True
    try:
        at = datetime.fromisoformat(str(line.get("time")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return (since is None or at >= since) and (until is None or at <= until)
