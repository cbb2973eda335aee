"""The one execution path: sync calls, jobs and the service all run a request through here.

A request is validated in the caller's thread (a bad request never costs a thread hop),
then its action runs on an I/O thread while the caller waits at most until the deadline.
A call that outlives its deadline is abandoned: the caller gets exitcode 3 on time, and
the hooks in `clients` refuse to send anything more on its behalf.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from . import clients
from .action import MAX_TIMEOUT_MS, Action
from .actions import catalog
from .config import Connectors, Target
from .context import Context, DryRunSucceeded, ItemSink, Progress
from .deadline import Deadline
from .errors import ConnectorError, InvalidRequest, TimedOut, translate
from .params import Integer, canonical
from .response import SUCCESS_MESSAGE, Response, redact

log = logging.getLogger("ec2_connector")

DEFAULT_TIMEOUT_MS = 60_000
IO_THREADS = 64

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass
class Request:
    """One connector call: which connector, which action, with which raw parameters."""

    connector: str
    action: str | None
    params: dict[str, Any] = field(default_factory=dict)
    timeout_ms: int | None = None

    def secrets(self) -> list[str]:
        """The secret values this request carries, to be masked wherever text leaves us."""
        names = catalog.secret_names()
        return [
            str(value)
            for key, value in self.params.items()
            if canonical(key) in names and isinstance(value, str | bytes)
        ]

    def __repr__(self) -> str:
        shown = {k: ("***" if v in self.secrets() else v) for k, v in self.params.items()}
        return f"Request(connector={self.connector!r}, action={self.action!r}, params={shown})"


@dataclass
class Prepared:
    """A request that passed validation: everything needed to run it."""

    request: Request
    action: Action
    params: dict[str, Any]
    target: Target
    deadline: Deadline


def prepare(request: Request, connectors: Connectors, deadline: Deadline) -> Prepared:
    """Validate a request; raise InvalidRequest (exitcode 2) before anything is sent."""
    config = connectors.get(request.connector)
    if not request.action:
        raise InvalidRequest("missing required parameter 'action'")
    action = catalog.get(request.action)
    params = action.validate(request.params)
    target = Target.resolve(config, params)
    return Prepared(request, action, params, target, deadline)


def execute(
    request: Request,
    connectors: Connectors,
    *,
    progress: Progress | None = None,
    on_item: ItemSink | None = None,
) -> Response:
    """Run a request to completion or to its deadline; never raises for a request's failure."""
    timeout_ms = _timeout_of(request)
    if request.timeout_ms is not None and "timeout" not in request.params:
        request.params["timeout"] = request.timeout_ms  # validated like any parameter
    deadline = Deadline(timeout_ms or DEFAULT_TIMEOUT_MS)
    ctx: Context | None = None
    data: dict[str, Any] = {}
    try:
        prepared = prepare(request, connectors, deadline)
        ctx = Context(
            prepared.target,
            deadline,
            include_raw_body=bool(prepared.params.get("include-raw-body")),
            progress=progress,
            on_item=on_item,
        )
        data = _run_bounded(prepared, ctx)
        exitcode, message = 0, str(data.pop("__message__", SUCCESS_MESSAGE))
    except DryRunSucceeded:
        exitcode, message = 0, "dry run: the request would have succeeded"
        data = {"dry-run": True}
    except ConnectorError as exc:
        exitcode, message = int(exc.exit_code), exc.message
        data = {**(ctx.partial if ctx else {}), **exc.data}
        if isinstance(exc, TimedOut) and ctx is not None:
            message = _timeout_message(exc, ctx, deadline)
    except Exception as exc:  # a bug of ours must still come back as a response
        log.exception("unexpected failure in %s", request.action)
        error = translate(exc)
        exitcode, message = int(error.exit_code), error.message
    return _response(request, exitcode, message, data, ctx, deadline)


def _timeout_of(request: Request) -> int | None:
    raw = request.params.get("timeout", request.timeout_ms)
    if raw is None:
        return request.timeout_ms
    try:
        return int(Integer(1, MAX_TIMEOUT_MS).convert(raw, "timeout"))
    except InvalidRequest:
        return None  # validation reports it with the other parameters


def _run_bounded(prepared: Prepared, ctx: Context) -> dict[str, Any]:
    future: Future[dict[str, Any]] = _io_pool().submit(_run_in_thread, prepared, ctx)
    try:
        return future.result(timeout=ctx.deadline.remaining())
    except FutureTimeout:
        ctx.abandon()
        raise TimedOut("timed out") from None


def _run_in_thread(prepared: Prepared, ctx: Context) -> dict[str, Any]:
    clients.activate(ctx)
    try:
        return prepared.action.run(ctx, prepared.params)
    finally:
        clients.activate(None)


def _io_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="ec2-connector-io")
    return _pool


def _timeout_message(exc: TimedOut, ctx: Context, deadline: Deadline) -> str:
    message = f"timed out after {deadline.timeout_ms} ms"
    states = ctx.partial.get("last-states")
    if exc.message not in ("timed out", ""):
        message += f" ({exc.message})"
    elif states:
        shown = ", ".join(f"{i}={s}" for i, s in states.items())
        message += f" (last states: {shown})"
    token = ctx.partial.get("client-token")
    if token:
        message += (
            f"; instances may have been launched: retry with client-token '{token}' "
            "to get them without launching again"
        )
    return message


def _response(
    request: Request,
    exitcode: int,
    message: str,
    data: dict[str, Any],
    ctx: Context | None,
    deadline: Deadline,
) -> Response:
    secrets = request.secrets()
    meta: dict[str, Any] = {
        "connector": request.connector,
        "action": request.action,
        "duration-ms": deadline.elapsed_ms(),
        "attempts": ctx.attempts if ctx else 0,
    }
    if ctx is not None:
        meta.update(
            {
                "region": ctx.target.region,
                "endpoint": ctx.endpoint or ctx.target.shown_endpoint(),
                "request-id": ctx.request_id,
                "http-status": ctx.http_status,
            }
        )
        meta.update(ctx.notes)
        if ctx.include_raw_body and ctx.raw_body is not None:
            meta["raw-body"] = redact(ctx.raw_body, secrets)
    message = redact(message, secrets)
    log.info(
        "%s %s exitcode=%s duration_ms=%s", request.connector, request.action, exitcode,
        meta["duration-ms"],
    )
    return Response(exitcode, message, data, meta, dict(ctx.headers) if ctx else {})


def as_request(
    connector: str, params: Mapping[str, Any], timeout_ms: int | None = None
) -> Request:
    """Split a flat request mapping (`{"action": ..., params...}`) into a Request."""
    params = dict(params)
    action = params.pop("action", None)
    return Request(connector, str(action) if action is not None else None, params, timeout_ms)
