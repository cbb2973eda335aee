"""EC2 clients shared across threads: one per (credentials, region, endpoint, retries).

botocore clients are thread-safe once built, and building one costs far more than a
call (the service model, the endpoint rules), so clients are cached. A call's deadline
reaches the wire through the hooks here (each request's read timeout is the time left;
nothing is sent once it has passed), through the connections a call holds, which check
it as they read and are cut when it is abandoned (connections.py), and through the
retry handler, whose backoff ends with it (backoff.py).

Two flavours: the named actions' clients skip botocore's parameter validation, 3-10 µs
of every call (their requests are built from parameters the connector has validated,
and the few members given in EC2's own form are checked against the model by the
action: `Context.check`); `call-operation`'s clients (the full model) keep it, since
there botocore's model is the validation.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..config import Target
from ..errors import TimedOut
from . import sessions, startup
from .current import current
from .wire import check_complete

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Each request's read timeout is the call's remaining time (set by the before-send hook),
# and a connect never outlasts the deadline (connections.py); these only bound the rest.
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60


class ClientCache:
    """The clients of one runtime, least recently used first, and the session they share.

    It is told which EC2 operations to load (the catalog's, from the runtime), so this
    layer never reaches up into the actions. Bounded: a service that gets many different
    per-request credentials would otherwise keep a client for each of them forever.
    """

    def __init__(
        self, operations: Iterable[str], *, max_clients: int = 128, full_model: bool = False,
        compiled_parser: bool = True, validate: bool = False,
    ) -> None:
        self.operations = tuple(operations)
        self.validate = validate  # botocore's parameter validation on each call
        self.max_clients = self._configured = max_clients
        self.full_model = full_model
        self.compiled_parser = compiled_parser
        self._lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._clients: OrderedDict[tuple[Any, ...], BaseClient] = OrderedDict()
        self._session: Any = None
        self._full: ClientCache | None = None
        # Each account's enabled regions (`region: "*"`), with when they go stale.
        self._regions: OrderedDict[tuple[Any, ...], tuple[float, tuple[str, ...]]] = (
            OrderedDict())

    def full(self) -> ClientCache:
        """The clients with every EC2 operation and botocore's parameter validation
        (call-operation's), built on first use: the full model costs ~150 ms to load,
        which no other action pays."""
        if self.full_model and self.validate:
            return self
        with self._lock:
            if self._full is None:
                self._full = ClientCache(self.operations, max_clients=self._configured,
                                         full_model=True,
                                         compiled_parser=self.compiled_parser, validate=True)
                self._full.max_clients = self.max_clients
            return self._full

    def reserve(self, calls: int) -> None:
        """Room for `calls` more clients than configured: a call over every region of
        several connectors keeps all its clients, so repeating it builds none (the room
        stays: it is what the largest such call needs)."""
        with self._lock:
            self.max_clients = max(self.max_clients, self._configured + calls)
            full = self._full
        if full is not None:
            full.reserve(calls)

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def client_for(self, target: Target) -> BaseClient:
        key = _key(target)
        client = self._cached(key)
        if client is not None:
            return client
        # Builds are serialised (botocore sessions are not thread-safe; clients are), and
        # the cache is checked again so that callers arriving together build one client.
        with self._session_lock:
            client = self._cached(key)
            if client is not None:
                return client
            client = _build(self._session_for(target.profile), target, self.validate)
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        return client

    def _cached(self, key: tuple[Any, ...]) -> BaseClient | None:
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
            return client

    def regions(self, target: Target) -> tuple[str, ...] | None:
        """The account's enabled regions as last listed, None if unknown or stale."""
        key = _account(target)
        with self._lock:
            kept = self._regions.get(key)
            if kept is None or kept[0] <= time.monotonic():
                return None
            return kept[1]

    def keep_regions(self, target: Target, regions: Iterable[str], max_age_s: float) -> None:
        with self._lock:
            key = _account(target)
            self._regions[key] = (time.monotonic() + max_age_s, tuple(regions))
            self._regions.move_to_end(key)
            while len(self._regions) > self.max_clients:
                self._regions.popitem(last=False)

    def forget_regions(self, target: Target) -> None:
        """A region refused the account: its list is asked for again next time."""
        with self._lock:
            self._regions.pop(_account(target), None)

    def clear(self) -> None:
        """Forget every cached client (long-lived services rotating credentials)."""
        with self._lock:
            self._clients.clear()
            self._regions.clear()
            full = self._full
        if full is not None:
            full.clear()

    def reset(self) -> None:
        """After a fork: new locks, and no client (their sockets belong to the parent)."""
        self._lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._clients = OrderedDict()
        self._regions = OrderedDict()
        self._session = None
        self._full = None

    def _session_for(self, profile: str | None) -> Any:
        # The region lookup's session when it fits (sessions.py): one session per process.
        if profile:
            return self._prepared(sessions.take(profile))
        if self._session is None:
            self._session = self._prepared(sessions.take(None))
        return self._session

    def _prepared(self, session: Any) -> Any:
        """A session that loads the EC2 model trimmed to our operations, and parses
        responses fast (xmlparser.py) or at least their timestamps: most of a cold
        client's and a big page's cost."""
        from . import model, wire, xmlparser

        if not self.full_model:
            model.install(session, self.operations)
        if self.compiled_parser:
            xmlparser.install(session)
        else:
            xmlparser.install(session, compiled=False, timestamp_parser=wire.parse_timestamp)
        return session


def _key(target: Target) -> tuple[Any, ...]:
    # Secrets enter the key only as digests, so the cache never holds them in the clear.
    digest = hashlib.sha256(
        f"{target.security_key}\0{target.session_token}".encode()
    ).hexdigest()
    return (
        target.access_key, digest, target.profile, target.region, target.endpoint_url,
        target.max_attempts, target.retry_mode,
    )


def _account(target: Target) -> tuple[Any, ...]:
    """Whose regions: the key of a client, less what does not change the answer."""
    access_key, digest, profile, _, endpoint, *_ = _key(target)
    return access_key, digest, profile, endpoint


def _build(session: Any, target: Target, validate: bool) -> BaseClient:
    from botocore.config import Config

    from . import backoff, connections, signing

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        # Adaptive mode is standard retries plus a rate limiter, added by backoff.install
        # with its wait for a token bounded by the call's deadline.
        retries={"mode": _botocore_mode(target), "total_max_attempts": target.max_attempts},
        max_pool_connections=64,
        user_agent_extra="ec2-connector",
        parameter_validation=validate,
    )
    client = session.create_client(
        "ec2",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.security_key,
        aws_session_token=target.session_token,
        config=config,
    )
    connections.install(client)
    signing.install(client)
    events = client.meta.events
    events.register_first("before-send.ec2", _before_send)
    events.register("before-parse.ec2", _before_parse)
    if _botocore_mode(target) == "standard":  # (legacy, accepted but not documented, as is)
        backoff.install(client, adaptive=target.retry_mode == "adaptive")  # its hook first
    return client  # type: ignore[no-any-return]


def _botocore_mode(target: Target) -> Any:
    return "legacy" if target.retry_mode == "legacy" else "standard"


def _before_send(request: Any = None, event_name: str = "", **_: Any) -> None:
    """Count every attempt, send nothing once the call's deadline has passed, nor once a
    job's fence says the job is no longer ours (each attempt: a retry of a mutating
    request is a request too), and give the request no longer to answer than the call
    has left."""
    startup.release()  # a one-shot command's start-up ends with its first request
    ctx = current()
    if ctx is None:
        return
    if ctx.throttle is not None and not (ctx.abandoned or ctx.deadline.expired):
        ctx.throttle(ctx)
    context = getattr(request, "context", None)
    if ctx.fence is not None:
        ctx.fence(event_name.rpartition(".")[2], _attempt(context))
    remaining = ctx.deadline.remaining()  # what the throttle's and the fence's waits left
    if ctx.abandoned or remaining <= 0:
        raise TimedOut("timed out before the next request to EC2 could be sent")
    ctx.attempts += 1
    if isinstance(context, dict):
        context["read_timeout"] = remaining  # botocore's per-request override


def _attempt(context: Any) -> int:
    """botocore's number of this attempt of the operation (1, then 2... for retries)."""
    retries = context.get("retries") if isinstance(context, dict) else None
    attempt = retries.get("attempt") if isinstance(retries, dict) else None
    return attempt if isinstance(attempt, int) else 1


def _before_parse(response_dict: dict[str, Any], **_: Any) -> None:
    ctx = current()
    if ctx is not None:
        ctx.record_http(response_dict)
    check_complete(response_dict, ctx.endpoint if ctx is not None else None)
