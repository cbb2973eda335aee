"""The one execution path: sync calls, jobs and the service all run a request through here.

A request is validated in the caller's thread (a bad request never costs a thread hop),
then its action runs on an I/O thread while the caller waits at most until the deadline:
blocked in `execute`, or awaiting in `execute_async` (the service's event loop).
A call that outlives its deadline is abandoned: the caller gets exitcode 3 on time, and
the hooks in `clients` refuse to send anything more on its behalf.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, NoReturn

from . import clients
from .action import MAX_TIMEOUT_MS, Action
from .actions import catalog
from .config import Connectors, Target
from .context import Context, DryRunSucceeded, ItemSink, Progress
from .deadline import Deadline
from .errors import ConnectorError, InvalidRequest, TimedOut, translate
from .params import Integer, canonical
from .response import SUCCESS_MESSAGE, Response, redact
from .runtime import Runtime, shared

log = logging.getLogger("ec2_connector")


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
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    on_item: ItemSink | None = None,
) -> Response:
    """Run a request to completion or to its deadline; never raises for a request's failure."""
    run = _Run(request, connectors, runtime or shared(), progress, on_item)
    return run.response(run.wait)


async def execute_async(
    request: Request,
    connectors: Connectors,
    *,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    on_item: ItemSink | None = None,
) -> Response:
    """`execute` for an event loop: the action runs on an I/O thread, as for `execute`, and
    the loop awaits it up to the same deadline, with no thread of its own blocked waiting."""
    run = _Run(request, connectors, runtime or shared(), progress, on_item)
    if run.future is not None:
        await _until_done(run.future, run.deadline.remaining())
    return run.response(run.collect)


class _Run:
    """One request: validated in the caller's thread, its action started on an I/O thread.

    `execute` blocks and `execute_async` awaits until the action is done or the deadline
    has passed; the rest, from validation to the response, is here, so the two agree.
    """

    def __init__(
        self,
        request: Request,
        connectors: Connectors,
        runtime: Runtime,
        progress: Progress | None,
        on_item: ItemSink | None,
    ) -> None:
        self.request = request
        timeout_ms = _timeout_of(request)
        if request.timeout_ms is not None and "timeout" not in request.params:
            request.params["timeout"] = request.timeout_ms  # validated like any parameter
        self.deadline = Deadline(timeout_ms or runtime.settings.timeout_ms)
        self.ctx: Context | None = None
        self.future: Future[dict[str, Any]] | None = None
        self.refused: Exception | None = None
        try:
            prepared = prepare(request, connectors, self.deadline)
            self.ctx = Context(
                prepared.target,
                self.deadline,
                runtime.clients,
                include_raw_body=bool(prepared.params.get("include-raw-body")),
                progress=progress,
                on_item=on_item,
            )
            self.future = runtime.executor().submit(_run_in_thread, prepared, self.ctx)
        except Exception as exc:  # reported by response(), as a failure of the run would be
            self.refused = exc

    def wait(self) -> dict[str, Any]:
        """The action's data, waiting at most until the deadline; TimedOut after it."""
        assert self.future is not None
        try:
            return self.future.result(timeout=self.deadline.remaining())
        except FutureTimeout:
            self.abandon()

    def collect(self) -> dict[str, Any]:
        """The action's data, if it is done by now; TimedOut if not."""
        assert self.future is not None
        if not self.future.done():
            self.abandon()
        return self.future.result()

    def abandon(self) -> NoReturn:
        """The caller stops waiting: the action may send nothing more."""
        assert self.ctx is not None
        self.ctx.abandon()
        raise TimedOut("timed out") from None

    def response(self, outcome: Callable[[], dict[str, Any]]) -> Response:
        """The response for the action's `outcome` (its data, or what it raised)."""
        request, ctx, deadline = self.request, self.ctx, self.deadline
        data: dict[str, Any] = {}
        try:
            if self.refused is not None:
                raise self.refused
            data = outcome()
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


async def _until_done(future: Future[Any], timeout: float) -> None:
    """Return when `future` is done or after `timeout` seconds, whichever comes first."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()

    def wake(_: Future[Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(_set_done, woken)

    future.add_done_callback(wake)
    await asyncio.wait((woken,), timeout=timeout)


def _set_done(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _timeout_of(request: Request) -> int | None:
    raw = request.params.get("timeout", request.timeout_ms)
    if raw is None:
        return request.timeout_ms
    try:
        return int(Integer(1, MAX_TIMEOUT_MS).convert(raw, "timeout"))
    except InvalidRequest:
        return None  # validation reports it with the other parameters


def _run_in_thread(prepared: Prepared, ctx: Context) -> dict[str, Any]:
    clients.activate(ctx)
    try:
        return prepared.action.run(ctx, prepared.params)
    finally:
        clients.activate(None)


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
