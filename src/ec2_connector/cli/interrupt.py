"""Ctrl-C for the commands that wait: exit 130 within a moment, whatever is in flight.

Python turns SIGINT into KeyboardInterrupt, and on its way out that waits: a `with Call()`
joins its job threads, and the interpreter joins every non-daemon thread, each until its
call's deadline. So the commands that wait (`call`, `jobs wait`, `jobs resume`) take
SIGINT here instead: one line on stderr, the jobs this process was running recorded as
interrupted (bounded: a store that does not answer in time leaves that to the lapsed
lease, which marks them interrupted when they are next read), then exit now.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from types import FrameType

EXIT_CODE = 130
RECORD_WITHIN_S = 0.5


def install(prog: str) -> None:
    """Handle SIGINT as described above, for the rest of this process (unless the
    process was started with SIGINT ignored: then it stays ignored)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return

    def interrupted(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):  # no stderr left to tell: exit all the same
            # On a terminal a progress line may be drawn: the message replaces it.
            clear = "\r\x1b[K" if os.isatty(2) else ""
            os.write(2, f"{clear}{prog}: interrupted\n".encode())
        recorder = threading.Thread(target=record_interrupted, daemon=True)
        recorder.start()
        recorder.join(RECORD_WITHIN_S)
        os._exit(EXIT_CODE)

    signal.signal(signal.SIGINT, interrupted)


def record_interrupted() -> None:
    """Mark the jobs whose lease this process holds, and that have not ended, interrupted
    (a broker's jobs run elsewhere: they are not this process's to mark)."""
    from ..jobs.backends import open_store
    from ..jobs.record import JobStatus, interrupted_message
    from ..settings import Settings

    settings = Settings.from_env()
    if settings.broker:
        return
    mine = f"{socket.gethostname()}:{os.getpid()}:"
    try:
        store = open_store(None, home=settings.home, settings=settings)  # it prunes when opened
        for status in (JobStatus.RUNNING, JobStatus.QUEUED):
            for record in store.list(limit=1000, status=status.value):
                if record.holder and record.holder.startswith(mine):
                    store.transition(
                        record.id, [status], held_by=record.holder,
                        status=JobStatus.INTERRUPTED, message=interrupted_message(record),
                        finished_at=time.time(), lease_until=None)
        store.close()
    except Exception:  # best effort: the lapsed lease marks them when they are next read
        pass
