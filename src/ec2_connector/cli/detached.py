"""`call --async` without a broker: a detached runner process, fed through a pipe.

A local job runs on threads of the process that submitted it, and its lease lapses when
that process exits; so `--async` starts a runner process that outlives the command: its
own session (no terminal, no SIGHUP), stdio away from the caller's. The request reaches
it through a pipe on its stdin, never its argv or environment, so secrets given on the
command line are not visible in `ps` or /proc for the life of the job. The runner
submits the job, reports `{"job-id", "status"}` (or the refusal's envelope) on its
stdout pipe, closes it, and stays until the job has ended.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

from ..errors import ConnectorError, translate
from .request import builder_for


def submit_detached(config: str | None, connector: str, request: dict[str, Any]) -> dict[str, Any]:
    """Start a runner for one request; what it reported (job id, or a refusal envelope)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "ec2_connector.cli.detached"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )
    assert child.stdin is not None and child.stdout is not None
    order = json.dumps({"config": config, "connector": connector,
                        "request": {k: _packed(v) for k, v in request.items()}}, default=str)
    try:
        child.stdin.write(order.encode())
        child.stdin.close()
        raw = child.stdout.readline()
    except OSError:
        raw = b""
    finally:
        child.stdout.close()
    try:
        accepted: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise ConnectorError("the background runner ended before submitting the job") from None
    return accepted


def main() -> int:
    """The runner's side: read the order from stdin, submit, report, run to the end."""
    from ..call import Call

    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    try:
        order = json.loads(sys.stdin.buffer.read())
        os.dup2(devnull, 0)
        with Call(config=order["config"]) as call:
            request = {k: _unpacked(v) for k, v in order["request"].items()}
            builder = builder_for(call, order["connector"], request)
            job = call.jobs.submit(builder.request())
            _report(out, {"job-id": job.id, "status": job.status})
            job.wait()
    except BaseException as exc:
        error = translate(exc)
        _report(out, {"exitcode": int(error.exit_code), "message": error.message, "data": {},
                      "meta": {}})
        return 1
    return 0


# Bytes (user-data read from a file) cross the pipe as base64, tagged: JSON has no bytes,
# and str() of them would launch with the text "b'...'" as user data.
_BYTES = "__bytes_base64__"


def _packed(value: Any) -> Any:
    return {_BYTES: base64.b64encode(value).decode()} if isinstance(value, bytes) else value


def _unpacked(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_BYTES}:
        return base64.b64decode(value[_BYTES])
    return value


def _report(out: int, message: dict[str, Any]) -> None:
    try:
        os.write(out, (json.dumps(message, default=str) + "\n").encode())
        os.close(out)
    except OSError:
        pass  # already reported, or the command is gone: nobody left to tell


if __name__ == "__main__":
    sys.exit(main())
