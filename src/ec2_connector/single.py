"""One request to one target: how a call is run, whichever caller and executor.

A request is validated in the caller's thread (a bad request never costs a thread hop)
and takes a place in its endpoint's bulkhead. `execute` then runs the action on the
caller's own thread; `execute_async` (the service's event loop) on an I/O thread, awaited
up to the deadline. Either way the runtime's watchdog abandons the call the moment its
deadline passes: sleeps end, the connections it holds are cut (connections.py), the hooks
in `clients` send nothing more, and the caller gets exitcode 3 on time, with the thread
and the socket given back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from . import masking
from .actions.runner import runner_of
from .config import Connectors
from .errors import ConnectorError, ExitCode, TimedOut, translate
from .masking import redact, userinfo, without_userinfo
from .request import Request, prepare_one, timeout_of
from .response import SUCCESS_MESSAGE, Outcome, Response
from .runtime import Runtime, shared
from .spec.params import text_of

if TYPE_CHECKING:
    import asyncio
from .transport.bulkhead import Bulkhead, NotSent
from .transport.context import Context, DryRunSucceeded, ItemSink, Progress
from .transport.current import activate
from .transport.deadline import Deadline

log = logging.getLogger("ec2_connector")
masking.install()  # before the first call can log anything


def execute(
    request: Request,
    connectors: Connectors,
    *,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    on_item: ItemSink | None = None,
    fence: Callable[[str, int], None] | None = None,
) -> Response:
    """Run a request for one target to completion or to its deadline, on this thread;
    never raises for a request's failure. `fence` is a job's check before each operation
    (`lifecycle.Fence`)."""
    run = _Run(request, connectors, runtime or shared(), progress, on_item)
    if run.ctx is not None:
        run.ctx.fence = fence
    return run.response(run.here)


async def execute_async(
    request: Request,
    connectors: Connectors,
    *,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    on_item: ItemSink | None = None,
) -> Response:
    """`execute` for an event loop: the action runs on an I/O thread, as for `execute`,
    and the loop awaits it up to the same deadline, with no thread of its own blocked."""
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
        self.deadline = Deadline(timeout_of(request) or runtime.settings.timeout_ms)
        self.ctx: Context | None = None
        self.future: Future[dict[str, Any] | Outcome] | None = None
        self.refused: Exception | None = None
        # Masked in every log record until the action is done, on whichever thread it logs.
        self.secrets = request.secrets()
        self._released = threading.Lock()
        self._performed = False
        masking.add(self.secrets)
        try:
            self.prepared = prepare_one(request, connectors, self.deadline)
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

    def here(self) -> dict[str, Any] | Outcome:
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

    def collect(self) -> dict[str, Any] | Outcome:
        """The action's data, if it is done by now; TimedOut if not."""
        assert self.future is not None and self.ctx is not None
        if not self.future.done():
            self.ctx.abandon()  # the watchdog does too; the caller need not wait for it
            raise TimedOut("timed out")
        return self.future.result()

    def _perform(self) -> dict[str, Any] | Outcome:
        """Run the action with its place taken; the watchdog abandons it at the deadline."""
        ctx = self.ctx
        assert ctx is not None
        self._performed = True
        alarm = self.runtime.watchdog.arm(self.deadline, ctx.abandon)
        previous = activate(ctx)
        try:
            return runner_of(self.prepared.action)(ctx, self.prepared.params)
        finally:
            activate(previous)
            alarm.cancel()
            self.bulkhead.leave()
            self.release()

    def release(self) -> None:
        """The action is done: its secrets need no masking in logs any more (once)."""
        if self._released.acquire(blocking=False):
            masking.remove(self.secrets)

    def response(self, outcome: Callable[[], dict[str, Any] | Outcome]) -> Response:
        """The response for the action's `outcome` (its data, or what it raised)."""
        request, ctx, deadline = self.request, self.ctx, self.deadline
        data: dict[str, Any] = {}
        try:
            if self.refused is not None:
                raise self.refused
            done = outcome()
            data, message = (done.data, done.message) if isinstance(done, Outcome) else (
                done, SUCCESS_MESSAGE)
            exitcode = ExitCode.SUCCESS
        except DryRunSucceeded:
            exitcode, message = ExitCode.SUCCESS, "dry run: the request would have succeeded"
            data = {"dry-run": True}
        except NotSent as exc:
            exitcode, data = exc.exit_code, {}
            message = f"{exc.message}; timed out after {deadline.timeout_ms} ms waiting"
        except ConnectorError as exc:
            # Past the deadline, whatever cutting the connection (or a timeout set to the
            # time left) made the action raise is that it timed out.
            late = (ctx is not None and ctx.abandoned) or (
                isinstance(exc, TimedOut) and deadline.expired)
            error = TimedOut("timed out") if late else exc
            exitcode, message = error.exit_code, error.message
            data = {**(ctx.partial if ctx else {}), **error.data}
            if isinstance(error, TimedOut) and ctx is not None:
                message = _timeout_message(error, ctx, deadline)
        except Exception as exc:  # a bug of ours must still come back as a response
            log.exception("unexpected failure in %s", request.action)
            error = translate(exc)
            exitcode, message = error.exit_code, error.message
        if self.future is None and not self._performed:  # the action never ran
            self.release()
        return _response(request, exitcode, message, data, ctx, deadline, self.secrets)


async def _until_done(future: Future[Any], timeout: float) -> None:
    """Return when `future` is done or after `timeout` seconds, whichever comes first."""
    import asyncio  # only where an event loop runs: a one-shot command never needs it

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
            f"; it may have created something already: retry with client-token '{token}' "
            "to get that without creating again"
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
        "connector": text_of(request.connector),  # a bad name too: the envelope is JSON
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
            meta["raw-body"] = redact(masking.mask_wire(ctx.raw_body), secrets)
    if exitcode and ctx is not None and ctx.attempts:  # EC2's words may quote a secret
        message = masking.mask_wire(message)
    message = redact(message, secrets)
    log.info(
        "%s %s exitcode=%s duration_ms=%s", meta["connector"], request.action, exitcode,
        meta["duration-ms"],
    )
    return Response(exitcode, message, data, meta, dict(ctx.headers) if ctx else {})


