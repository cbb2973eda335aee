"""`call --async`: a job submitted from a background process that outlives the command."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, NoReturn

from ..errors import ConnectorError, translate
from ..render import to_json
from .output import emit, error_envelope
from .request import builder_for


def submit_detached(config: str | None, connector: str, request: dict[str, Any]) -> int:
    """Submit a job from a background process that outlives this command.

    A job runs on the pool of the process that submitted it, and a job whose process
    exits is marked interrupted. So `--async` forks a detached process (its own session,
    stdio on /dev/null so a `$(...)` reading our stdout is not held open) which submits
    the job, reports its id through a pipe, and stays until the job has ended. The fork
    happens before any thread or client exists in this process.
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        # No fork (Windows), or threads that a fork would not copy: run the job here and
        # wait for it (its id is printed first).
        _submit_and_wait(config, connector, request, None)
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _background(config, connector, request, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        raw = pipe.read()
    os.waitpid(pid, 0)
    try:
        accepted: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise ConnectorError("the background process ended before submitting the job") from None
    if "job-id" not in accepted:  # the background process could not submit the job
        return emit(accepted, "json")
    print(to_json(accepted))
    return 0


def _background(config: str | None, connector: str, request: dict[str, Any], out: int) -> NoReturn:
    code = 0
    try:
        os.setsid()
        if os.fork() != 0:  # the session leader leaves; its child can never get a terminal
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _submit_and_wait(config, connector, request, out)
    except BaseException as exc:
        code = 1
        _report(out, error_envelope(translate(exc)))
    finally:
        os._exit(code)


def _submit_and_wait(
    config: str | None, connector: str, request: dict[str, Any], out: int | None
) -> None:
    from ..call import Call

    with Call(config=config) as call:
        job = builder_for(call, connector, request).async_()
        accepted = {"job-id": job.id, "status": job.status}
        if out is None:
            print(to_json(accepted), flush=True)
        else:
            _report(out, accepted)
        job.wait()


def _report(out: int, message: dict[str, Any]) -> None:
    try:
        os.write(out, json.dumps(message, default=str).encode())
        os.close(out)
    except OSError:
        pass  # already reported, or the command is gone: nobody left to tell
