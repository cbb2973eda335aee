"""Ctrl-C for the commands that wait: exit 130 within a moment, whatever is in flight.

Python turns SIGINT into KeyboardInterrupt, and on its way out that waits: a `with Call()`
joins its job threads, and the interpreter joins every non-daemon thread, each until its
call's deadline. So the commands that wait (`call`, `jobs wait`, `jobs resume`) take
SIGINT here instead: one line on stderr, the jobs this process was running recorded as
interrupted (bounded: a store that does not answer in time is left to recovery, which
marks the jobs of a dead process interrupted when it is next opened), then exit now.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from types import FrameType

EXIT_CODE = 130
RECORD_WITHIN_S = 0.5


def install(prog: str) -> None:
    """Handle SIGINT as described above, for the rest of this process."""

    def interrupted(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):  # no stderr left to tell: exit all the same
            os.write(2, f"{prog}: interrupted\n".encode())
        recorder = threading.Thread(target=record_interrupted, daemon=True)
        recorder.start()
        recorder.join(RECORD_WITHIN_S)
        os._exit(EXIT_CODE)

    signal.signal(signal.SIGINT, interrupted)


def record_interrupted() -> None:
    """Mark the jobs this process owns and has not finished as interrupted."""
    from ..store import JobStatus, JobStore, interrupted_message, process_identity

    try:
        store = JobStore()
        me = process_identity()
        for status in (JobStatus.RUNNING, JobStatus.QUEUED):
            for record in store.list(limit=1000, status=status.value):
                if record.owner == me:
                    store.update(record.id, status=JobStatus.INTERRUPTED,
                                 finished_at=time.time(), message=interrupted_message(record))
        store.close()
    except Exception:  # best effort: recovery marks them when the store is next opened
        pass
