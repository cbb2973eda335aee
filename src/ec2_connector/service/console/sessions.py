"""Console sessions: a random id in a cookie, the principal and its CSRF token kept here.

The cookie holds only the session's id (never the token it was opened with): HttpOnly,
SameSite=Strict, Path=/console, Secure over https. Each session has one CSRF token (a
synchronizer token every form carries and every POST must send back) and the one-time
confirmations of the mutating runs it was shown a dry run of (the requests themselves
are kept here, so a confirmation can only run what was shown). Sessions live in the
serving process for EC2_CONNECTOR_CONSOLE_SESSION_S: a restart signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ...settings import DEFAULT_CONSOLE_SESSION_S
from ..principals import Principal

COOKIE = "console-session"
SIGN_IN_COOKIE = "console-sign-in"  # the double-submit token of the sign-in form
PATH = "/console"
MAX_SESSIONS = 10_000
MAX_CONFIRMATIONS = 32  # per session: the dry runs shown and not yet confirmed
CONFIRM_S = 600
# Wrong tokens from one client address within the window, before it must wait: enough for
# a person's typos, far too few to guess a token.
SIGN_IN_FAILURES = 10
SIGN_IN_WINDOW_S = 300
MAX_ADDRESSES = 10_000


@dataclass(frozen=True)
class Confirmation:
    """A request a session was shown the dry run of, to run once if it says yes."""

    connector: str
    body: dict[str, Any] = field(repr=False)
    expires: float = 0.0


@dataclass
class Session:
    id: str
    principal: Principal
    csrf: str
    expires: float
    confirmations: dict[str, Confirmation] = field(default_factory=dict)

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


class Sessions:
    """The open sessions of one service process."""

    def __init__(self, lifetime_s: float = DEFAULT_CONSOLE_SESSION_S) -> None:
        self.lifetime_s = lifetime_s
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, principal: Principal) -> Session:
        session = Session(secrets.token_urlsafe(32), principal, secrets.token_urlsafe(32),
                          time.time() + self.lifetime_s)
        with self._lock:
            self._sweep()
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is not None and session.expires < time.time():
                del self._by_id[session_id]
                return None
            return session

    def close(self, session_id: str) -> None:
        with self._lock:
            self._by_id.pop(session_id, None)

    def _sweep(self) -> None:
        now = time.time()
        for key in [k for k, s in self._by_id.items() if s.expires < now]:
            del self._by_id[key]
        while len(self._by_id) >= MAX_SESSIONS:  # the oldest go first
            del self._by_id[next(iter(self._by_id))]

    def confirmation(self, session: Session, connector: str, body: dict[str, Any]) -> str:
        """A one-time nonce that lets this session run exactly this request, which is
        kept here: the page carries only the nonce, never the parameters (nor a secret)."""
        nonce = secrets.token_urlsafe(24)
        with self._lock:
            held = session.confirmations
            while len(held) >= MAX_CONFIRMATIONS:
                del held[next(iter(held))]
            held[nonce] = Confirmation(connector, dict(body), time.time() + CONFIRM_S)
        return nonce

    def confirm(self, session: Session, nonce: str) -> Confirmation | None:
        """Spend `nonce`: its request once, if it was given to this session, in time."""
        with self._lock:
            found = session.confirmations.pop(nonce, None)
        return found if found is not None and found.expires >= time.time() else None


class SignInLimiter:
    """Wrong tokens per client address: after SIGN_IN_FAILURES within SIGN_IN_WINDOW_S,
    the address is refused until the oldest of them leaves the window. Kept in the
    serving process, for at most MAX_ADDRESSES addresses (behind a proxy, every user
    shares the proxy's address, and so its limit)."""

    def __init__(self, failures: int = SIGN_IN_FAILURES,
                 window_s: float = SIGN_IN_WINDOW_S) -> None:
        self.failures, self.window_s = failures, window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """How long `address` must wait before it may try a token again (0: now)."""
        with self._lock:
            times = self._recent(address)
            if len(times) < self.failures:
                return 0.0
            return max(0.0, times[0] + self.window_s - time.monotonic())

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address).append(time.monotonic())
            while len(self._seen) > MAX_ADDRESSES:  # the longest known go first
                del self._seen[next(iter(self._seen))]

    def _recent(self, address: str) -> deque[float]:
        times = self._seen.setdefault(address, deque())
        cutoff = time.monotonic() - self.window_s
        while times and times[0] < cutoff:
            times.popleft()
        return times


def cookie(name: str, value: str, *, secure: bool, max_age: int | None) -> str:
    """A Set-Cookie value the console's scripts cannot read and other sites cannot send."""
    parts = [f"{name}={value}", f"Path={PATH}", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
