"""The one execution path: sync calls, jobs and the service all run a request through here.

A request is validated in the caller's thread (a bad request never costs a thread hop)
and takes a place in its endpoint's bulkhead. `execute` then runs the action on the
caller's own thread; `execute_async` (the service's event loop) on an I/O thread, awaited
up to the deadline. Either way the runtime's watchdog abandons the call the moment its
deadline passes: sleeps end, the connections it holds are cut (connections.py), the hooks
in `clients` send nothing more, and the caller gets exitcode 3 on time, with the thread
and the socket given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from . import fanout, masking
from .action import MAX_TIMEOUT_MS, Action
from .actions import catalog
from .bulkhead import Bulkhead, NotSent
from .config import Connectors, Target
from .context import Context, DryRunSucceeded, ItemSink, Progress, activate
from .deadline import Deadline
from .errors import ConnectorError, InvalidRequest, TimedOut, translate
from .masking import MASK, redact, secret_forms, userinfo, without_userinfo
from .params import Integer, Param, canonical, text_of
from .response import SUCCESS_MESSAGE, Response
from .runtime import Runtime, shared

log = logging.getLogger("ec2_connector")
masking.install()  # before the first call can log anything


@dataclass
class Request:
    """One connector call: which connector, which action, with which raw parameters."""

    connector: str
    action: str | None
    params: dict[str, Any] = field(default_factory=dict)
    timeout_ms: int | None = None

    def secret_names(self) -> frozenset[str]:
        """The canonical names of the parameters that are secret in this request."""
        try:
            action = catalog.get(self.action) if self.action else None
        except InvalidRequest:
            action = None
        if action is None:  # an unknown action: every name any action keeps secret
            return catalog.secret_names()
        secret = _secret_params(action)
        if not secret:
            return frozenset()
        given = {canonical(k): v for k, v in self.params.items()}
        return frozenset(p.name for p in secret if p.secret_in(given))

    def secrets(self) -> list[str]:
        """The secret values this request carries, to be masked wherever text leaves us."""
        loose = {_loose(n) for n in self.secret_names()}
        found: list[str] = []
        for key, value in self.params.items():
            if _loose(text_of(key)) in loose:
                found += secret_forms(value)
            elif canonical(key) == "endpoint-url":
                found += userinfo(value)
        return found

    def __repr__(self) -> str:
        loose = {_loose(n) for n in self.secret_names()}
        shown = {
            k: (MASK if _loose(text_of(k)) in loose else _shown_url(k, v))
            for k, v in self.params.items()
        }
        return f"Request(connector={self.connector!r}, action={self.action!r}, params={shown})"


@functools.lru_cache(maxsize=1024)  # parameter names: every call's, several times
def _loose(name: str) -> str:
    # `securityKey`, `Security-Key` and `security_key` are one name to a masker.
    return re.sub(r"[^a-z0-9]", "", name.lower())


_SECRET_PARAMS: dict[str, tuple[Param, ...]] = {}


def _secret_params(action: Action) -> tuple[Param, ...]:
    """The parameters of `action` that may be secret (most actions have none)."""
    found = _SECRET_PARAMS.get(action.name)
    if found is None:
        found = _SECRET_PARAMS[action.name] = tuple(p for p in action.all_params() if p.secret)
    return found


def _shown_url(key: object, value: Any) -> Any:
    if canonical(key) == "endpoint-url" and isinstance(value, str):
        return without_userinfo(value)
    return value


@dataclass
class Prepared:
    """A request that passed validation: everything needed to run it."""

    request: Request
    action: Action
    params: dict[str, Any]
    target: Target
    deadline: Deadline


def prepare(request: Request, connectors: Connectors, deadline: Deadline) -> Prepared:
    """Validate a request; raise InvalidRequest (exitcode 2) before anything is sent. A
    request over several regions or connectors is validated whole and prepared as its
    first call."""
    if fanout.wanted(request):
        return fanout.plan(request, connectors, deadline).first
    config = connectors.get(request.connector)
    if not request.action:
        raise InvalidRequest("missing required parameter 'action'")
    action = catalog.get(request.action)
    params = action.validate(request.params, config.defaults(action.connector_defaults))
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
    """Run a request to completion or to its deadline, on this thread; never raises for a
    request's failure."""
    if fanout.wanted(request):  # several regions or connectors: one call for each
        return fanout.execute(request, connectors, runtime=runtime, progress=progress,
                              on_item=on_item)
    run = _Run(request, connectors, runtime or shared(), progress, on_item)
    return run.response(run.here)


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
    if fanout.wanted(request):
        return await asyncio.to_thread(fanout.execute, request, connectors, runtime=runtime,
                                       progress=progress, on_item=on_item)
    run = _Run(request, connectors, runtime or shared(), progress, on_item)
    if run.refused is None:
        try:
            await run.start()
        except NotSent as exc:
            run.refused = exc
        else:
            assert run.future is not None
            await _until_done(run.future, run.deadline.remaining())
    return run.response(run.collect)


class _Run:
    """One request: validated in the caller's thread, then run here or on an I/O thread.

    `execute` runs it with `here`; `execute_async` with `start` and, at the deadline at
    the latest, `collect`. The rest, from validation to the response, is shared, so the
    two agree.
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
        self.runtime = runtime
        timeout_ms = _timeout_of(request)
        if request.timeout_ms is not None and "timeout" not in request.params:
            request.params["timeout"] = request.timeout_ms  # validated like any parameter
        self.deadline = Deadline(timeout_ms or runtime.settings.timeout_ms)
        self.ctx: Context | None = None
        self.future: Future[dict[str, Any]] | None = None
        self.refused: Exception | None = None
        # Masked in every log record until the action is done, on whichever thread it logs.
        self.secrets = request.secrets()
        self._released = threading.Lock()
        self._performed = False
        masking.add(self.secrets)
        try:
            self.prepared = prepare(request, connectors, self.deadline)
            target = self.prepared.target
            self.secrets += userinfo(target.endpoint_url)
            masking.add(userinfo(target.endpoint_url))
            self.ctx = Context(
                target,
                self.deadline,
                runtime.clients,
                include_raw_body=bool(self.prepared.params.get("include-raw-body")),
                progress=progress,
                on_item=on_item,
            )
            self.ctx.throttle = runtime.throttle
            limit = target.max_in_flight or runtime.settings.max_in_flight
            self.bulkhead: Bulkhead = runtime.bulkheads.get(target.shown_endpoint(), limit)
        except Exception as exc:  # reported by response(), as a failure of the run would be
            self.refused = exc

    def here(self) -> dict[str, Any]:
        """The action's data, run on this thread once its endpoint has a place for it."""
        self.bulkhead.enter(self.deadline.remaining())
        return self._perform()

    async def start(self) -> None:
        """Start the action on an I/O thread once its endpoint has a place for it."""
        await self.bulkhead.enter_async(self.deadline.remaining())
        try:
            self.future = self.runtime.executor().submit(self._perform)
            self.future.add_done_callback(lambda _: self.release())
        except BaseException:
            self.bulkhead.leave()
            raise

    def collect(self) -> dict[str, Any]:
        """The action's data, if it is done by now; TimedOut if not."""
        assert self.future is not None and self.ctx is not None
        if not self.future.done():
            self.ctx.abandon()  # the watchdog does too; the caller need not wait for it
            raise TimedOut("timed out")
        return self.future.result()

    def _perform(self) -> dict[str, Any]:
        """Run the action with its place taken; the watchdog abandons it at the deadline."""
        ctx = self.ctx
        assert ctx is not None
        self._performed = True
        alarm = self.runtime.watchdog.arm(self.deadline, ctx.abandon)
        previous = activate(ctx)
        try:
            return self.prepared.action.run(ctx, self.prepared.params)
        finally:
            activate(previous)
            alarm.cancel()
            self.bulkhead.leave()
            self.release()

    def release(self) -> None:
        """The action is done: its secrets need no masking in logs any more (once)."""
        if self._released.acquire(blocking=False):
            masking.remove(self.secrets)

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
        except NotSent as exc:
            exitcode, data = int(exc.exit_code), {}
            message = f"{exc.message}; timed out after {deadline.timeout_ms} ms waiting"
        except ConnectorError as exc:
            # Past the deadline, whatever cutting the connection (or a timeout set to the
            # time left) made the action raise is that it timed out.
            late = (ctx is not None and ctx.abandoned) or (
                isinstance(exc, TimedOut) and deadline.expired)
            error = TimedOut("timed out") if late else exc
            exitcode, message = int(error.exit_code), error.message
            data = {**(ctx.partial if ctx else {}), **error.data}
            if isinstance(error, TimedOut) and ctx is not None:
                message = _timeout_message(error, ctx, deadline)
        except Exception as exc:  # a bug of ours must still come back as a response
            log.exception("unexpected failure in %s", request.action)
            error = translate(exc)
            exitcode, message = int(error.exit_code), error.message
        if self.future is None and not self._performed:  # the action never ran
            self.release()
        return _response(request, exitcode, message, data, ctx, deadline, self.secrets)


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
    secrets: list[str],
) -> Response:
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
                "region-source": ctx.target.region_source,
                "endpoint": without_userinfo(ctx.endpoint or ctx.target.shown_endpoint()),
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
    return Request(connector, text_of(action) if action is not None else None, params, timeout_ms)
