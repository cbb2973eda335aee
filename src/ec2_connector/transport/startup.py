"""The cyclic garbage collector held off while a one-shot command starts.

Before its first request a `call` imports ~400 modules and builds a botocore session and
client: ~95 collections pass over those objects (~12 ms, a sixteenth of the command),
and none of them is garbage. The `ec2-connector` script holds the collector as it
starts (`hold`, from `cli.main` when `cli.run` called it; never for a library's caller
of `main`, whose objects must not be frozen). The first request to EC2 releases it
(`release`, from the client's before-send hook), freezing what start-up built
(`gc.freeze`: never scanned again; it lives until the process ends anyway), so later
passes look only at what the call makes: a listing of many pages is collected as
before. A command that sends nothing releases it, without freezing, when its work
begins or when `main()` returns.

A long-running process (the service, a worker) settles instead, once its start-up is
over (`settle`): what start-up built is frozen the same way, and the youngest generation
is collected at `SERVER_GC_YOUNG` objects, not 700. Measured in the service, 16 clients
at a 50 ms round trip: unsettled, each full collection walked everything start-up had
built, ~44 ms with the interpreter lock held, about every 250 calls, and the young
collections ran about every other call; settled, the process spent 0.2 s in the
collector where it had spent 1.1 s, and served 10 % more calls per second.

A job pool in a library caller's process (`jobs.executors.ThreadExecutor`) freezes
nothing of the caller's, but while it is open it collects the youngest generation at
`SERVER_GC_YOUNG` objects too (`pool_opened`, `pool_closed`): a busy pool's threads
allocated their way into a young collection every few hundred objects, and 1,000 jobs
ran ~6 % faster with the threshold raised (benchmark 4). Only Python's own thresholds
are replaced, and they are put back when the last pool closes: a process that chose
its own (the service's and a worker's settle, or the caller's) keeps them.
"""

from __future__ import annotations

import gc
import threading

# Read on every request: a plain flag. Two threads releasing at once both freeze and
# enable, which is harmless.
_held = False


def hold() -> None:
    """Pause the collector until `release` (unless it is off already: then the caller
    that turned it off decides when it runs again)."""
    global _held
    if not _held and gc.isenabled():
        gc.disable()
        _held = True


def release(freeze: bool = True) -> None:
    """Run the collector again if `hold` paused it; `freeze`: what exists now is kept
    out of every later pass. Cheap when nothing is held (every request calls it)."""
    global _held
    if _held:
        _held = False
        if freeze:
            gc.freeze()
        gc.enable()


def settle(young: int | None = None) -> None:
    """A long-running process's start-up is over: keep what exists now out of every
    later collection, and collect the youngest generation at `young` objects. For the
    process's own entry point only (the service's `serve`, a worker's): nothing of a
    library caller's is frozen (its job pool only raises Python's own young threshold
    while it is open, `pool_opened`). `young`: SERVER_GC_YOUNG unless given. (The
    settings are imported here, not with the module: `hold` runs before them.)"""
    if young is None:
        from ..settings import SERVER_GC_YOUNG

        young = SERVER_GC_YOUNG
    gc.collect()  # what start-up left as garbage is freed, not frozen for good
    gc.freeze()
    gc.set_threshold(young, *gc.get_threshold()[1:])


# Python's own thresholds, which a job pool may replace while it is open.
PYTHON_THRESHOLDS = (700, 10, 10)
_pools_lock = threading.Lock()
_pools = 0
_raised = False  # this module replaced PYTHON_THRESHOLDS, and puts them back


def pool_opened() -> None:
    """A job pool opened: while any is open, the youngest generation is collected at
    SERVER_GC_YOUNG objects, if the process still has Python's own thresholds."""
    global _pools, _raised
    with _pools_lock:
        _pools += 1
        if _pools == 1 and gc.get_threshold() == PYTHON_THRESHOLDS:
            from ..settings import SERVER_GC_YOUNG

            gc.set_threshold(SERVER_GC_YOUNG, *PYTHON_THRESHOLDS[1:])
            _raised = True


def pool_closed() -> None:
    """A job pool closed: the last one puts Python's thresholds back, unless something
    else has set others meanwhile."""
    global _pools, _raised
    with _pools_lock:
        _pools = max(0, _pools - 1)
        if _pools == 0 and _raised:
            from ..settings import SERVER_GC_YOUNG

            if gc.get_threshold() == (SERVER_GC_YOUNG, *PYTHON_THRESHOLDS[1:]):
                gc.set_threshold(*PYTHON_THRESHOLDS)
            _raised = False
