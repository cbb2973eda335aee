"""The cyclic GC paused while EC2 answers are parsed, safe with many threads parsing at once.

A big page's tree is millions of young container objects: each collection the allocator
triggers while it is built walks them all again (half of a 1,000-instance parse), and
none of them is garbage. So a parse pauses the GC (a count of the threads parsing, the
last one out restoring it), and a thread leaving an unbroken pause of more than
MAX_PAUSE_S collects the young generations itself.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# The cyclic GC stays off while any thread parses; the last one out restores it as the
# first one in found it (a GC someone else had turned off stays off). Threads parsing
# back to back could keep it off for good: after MAX_PAUSE_S of one unbroken pause, a
# thread leaving collects the young generations itself (what the GC would have done).
MAX_PAUSE_S = 1.0
# Bodies from this size on are parsed with the GC paused. Measured with the GC running:
# up to a 5-instance page (~20 KB) a parse took the same time paused or not, so there the
# pause (a lock, ~0.5 µs) is pure cost; a 20-instance page (~80 KB) took 1.5 ms paused
# against 2.5 ms not.
PAUSE_GC_FROM_BYTES = 32 * 1024
_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False
_gc_paused_since = 0.0


def pause_gc() -> None:
    """Stop cyclic GC passes until the matching `resume_gc` (nested, any thread)."""
    global _gc_depth, _gc_was_enabled, _gc_paused_since
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
            _gc_paused_since = time.monotonic()
        _gc_depth += 1


def resume_gc() -> None:
    global _gc_depth, _gc_paused_since
    collect = False
    with _gc_lock:
        _gc_depth -= 1
        if _gc_depth == 0:
            if _gc_was_enabled:
                gc.enable()
        elif _gc_was_enabled and time.monotonic() - _gc_paused_since > MAX_PAUSE_S:
            _gc_paused_since = time.monotonic()
            collect = True
    if collect:
        gc.collect(1)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC pass while the block runs, safe with many threads parsing at once."""
    pause_gc()
    try:
        yield
    finally:
        resume_gc()
