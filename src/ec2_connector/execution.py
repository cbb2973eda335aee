"""The one execution path: sync calls, jobs and the service all run a request here.

It decides once whether a request goes to one target (`single`) or is fanned out over
several regions or connectors (`fanout`, which runs each of its calls through
`single`); nothing below this module makes that choice again.
"""

from __future__ import annotations

from collections.abc import Callable

from . import fanout, single
from .config import Connectors
from .request import Prepared, Request, prepare_one
from .response import Response
from .runtime import Runtime
from .transport.context import ItemSink, Progress
from .transport.deadline import Deadline


def prepare(request: Request, connectors: Connectors, deadline: Deadline) -> Prepared:
    """Validate a request; raise InvalidRequest (exitcode 2) before anything is sent. A
    request over several regions or connectors is validated whole and prepared as its
    first call."""
    if fanout.wanted(request):
        return fanout.plan(request, connectors, deadline).first
    return prepare_one(request, connectors, deadline)


def execute(
    request: Request,
    connectors: Connectors,
    *,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    on_item: ItemSink | None = None,
    fence: Callable[[str, int], None] | None = None,
) -> Response:
    """Run a request to completion or to its deadline, on this thread; never raises for a
    request's failure. `fence` is a job's check before each operation (`lifecycle.Fence`)."""
    if fanout.wanted(request):  # several regions or connectors: one call for each
        return fanout.execute(request, connectors, runtime=runtime, progress=progress,
                              on_item=on_item)  # read-only: no fence to check
    return single.execute(request, connectors, runtime=runtime, progress=progress,
                          on_item=on_item, fence=fence)


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
        import asyncio  # only where an event loop runs: a one-shot command never needs it

        return await asyncio.to_thread(fanout.execute, request, connectors, runtime=runtime,
                                       progress=progress, on_item=on_item)
    return await single.execute_async(request, connectors, runtime=runtime,
                                      progress=progress, on_item=on_item)
