"""Signed completion callbacks: one POST to a job's `notify-url` when the job ends.

Signed as the Standard Webhooks specification says: `webhook-id` (the job's id, the same
on every attempt, so a receiver delivers it at most once), `webhook-timestamp` (Unix
seconds) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
`{id}.{timestamp}.{body}` under the submitting principal's `callback-secret`, a
`whsec_` base64 key). The body is the job as `GET /v1/jobs/{id}` shows it, which never
holds a credential. Only URLs under a prefix in $EC2_CONNECTOR_CALLBACK_URLS are taken
(checked at submit: 400 otherwise), never one with a user or password in it; redirects
are not followed (http.client follows none). A failed delivery (no answer, or not 2xx)
is retried with doubling pauses, a bounded number of times; every outcome is counted,
written to the audit trail, and kept in the job's record (its `callback`).

The service process watches the jobs it was asked to notify: one thread polls them and
a few deliver. A callback pending when the service stops is not sent.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConnectorError

log = logging.getLogger("ec2_connector.callbacks")
POLL_S = 0.2
DELIVERERS = 4


def _cut(conn: http.client.HTTPConnection, cut: threading.Event) -> None:
    # shutdown, not close: it wakes a thread blocked reading the socket.
    cut.set()
    if conn.sock is not None:
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def refusal(url: Any, allowed: tuple[str, ...]) -> str | None:
    """Why a job may not notify `url`, or None if it may."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return "'notify-url' must be an http:// or https:// URL"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "'notify-url' is not a valid URL"
    if "@" in parts.netloc:
        return "'notify-url' must not carry a user or password"
    if not any(url.startswith(prefix) for prefix in allowed):
        return ("'notify-url' is not under a URL the service allows "
                "(EC2_CONNECTOR_CALLBACK_URLS)" if allowed else
                "this service sends no callbacks: EC2_CONNECTOR_CALLBACK_URLS is not set")
    return None


@dataclass
class Pending:
    job_id: str
    url: str
    secret: str
    principal: str


@dataclass
class Delivery:
    """How one job's callback ended: the attempts made, the last attempt's outcome in a
    few words, and the last failed attempt's (None: none failed)."""

    pending: Pending
    attempts: int
    outcome: str
    last_error: str | None

    @property
    def delivered(self) -> bool:
        return self.outcome.startswith("delivered")


class Notifier:
    """Watches jobs until they end, then delivers their callbacks."""

    def __init__(self, read: Callable[[str], dict[str, Any] | None], attempts: int,
                 backoff_s: float, timeout_s: float,
                 report: Callable[[Delivery], None]) -> None:
        self._read = read  # a job's public record once it has ended, else None
        self._attempts = max(1, attempts)  # a callback is tried at least once
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._report = report  # how each delivery ended
        self._pending: list[Pending] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._senders = ThreadPoolExecutor(DELIVERERS, thread_name_prefix="callback")
        self._watcher: threading.Thread | None = None

    def watch(self, pending: Pending) -> None:
        with self._lock:
            self._pending.append(pending)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._poll, name="callbacks",
                                                 daemon=True)
                self._watcher.start()

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            with self._lock:
                watched = list(self._pending)
            for pending in watched:
                try:
                    record = self._read(pending.job_id)
                except ConnectorError:
                    continue  # the store is out of reach: ask again at the next poll
                if record is not None:
                    with self._lock:
                        self._pending.remove(pending)
                    self._senders.submit(self._deliver, pending, record)

    def _deliver(self, pending: Pending, record: dict[str, Any]) -> None:
        body = json.dumps({"type": "job.ended", "data": record}, default=str).encode()
        made, last_error = 0, None
        for attempt in range(1, self._attempts + 1):
            if attempt > 1 and self._stop.wait(self._backoff_s * 2 ** (attempt - 2)):
                last_error = f"{last_error}; the service stopped before attempt {attempt}"
                break
            made, outcome = attempt, send(pending, body, self._timeout_s)
            if outcome.startswith("delivered"):
                self._ended(Delivery(pending, made, outcome, last_error))
                return
            last_error = outcome
            log.warning("callback for job %s, attempt %d: %s", pending.job_id, attempt, outcome)
        self._ended(Delivery(pending, made, f"gave up: {last_error}", last_error))

    def _ended(self, delivery: Delivery) -> None:
        # A deliverer's exception would vanish in its pool: say it, at least.
        try:
            self._report(delivery)
        except Exception as exc:
            log.error("callback for job %s: its outcome was not recorded (%s)",
                      delivery.pending.job_id, type(exc).__name__)

    def close(self) -> None:
        self._stop.set()
        self._senders.shutdown(wait=False, cancel_futures=True)


def send(pending: Pending, body: bytes, timeout_s: float) -> str:
    """One attempt, ended after `timeout_s` however slowly the receiver answers (a read
    timeout alone would let one that trickles its answer hold a deliverer for ever):
    what happened, in a few words."""
    parts = urlsplit(pending.url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json", "webhook-id": pending.job_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(pending.secret, pending.job_id, timestamp, body),
    }
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn = kind(parts.hostname or "", parts.port, timeout=timeout_s)
    cut = threading.Event()
    alarm = threading.Timer(timeout_s, _cut, (conn, cut))
    alarm.start()
    failure = None
    try:
        conn.request("POST", path, body, headers)
        status = conn.getresponse().status
    except TimeoutError:
        # The socket's own timeout (as long as the cut) can fire first on a busy machine:
        # the receiver was silent as long, so it is the same outcome.
        cut.set()
    except (OSError, http.client.HTTPException) as exc:
        failure = type(exc).__name__
    finally:
        alarm.cancel()
        conn.close()
    # Our cut, whatever it raised (or http.client took it for the headers' end).
    if cut.is_set():
        return f"no answer within {timeout_s:g} s"
    if failure is not None:
        return f"no answer ({failure})"
    return f"delivered ({status})" if 200 <= status < 300 else f"answered {status}"
