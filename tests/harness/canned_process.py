"""The canned EC2 endpoint in its own process, so its work never shares a GIL with a client.

Benchmarks use it: in-process, the server's threads would compete for the interpreter
lock with the client being measured. The child prints its port on its first line of
stdout. ``set_delay()`` changes the injected delay while it runs (a harness-only route).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import urllib.request
from types import TracebackType
from typing import Self

from tests.harness.canned import CannedEC2Server
from tests.harness.faults import HOST, RequestHandler
from tests.harness.processes import terminate
from tests.harness.service import ROOT


class ControlledCanned(CannedEC2Server):
    """CannedEC2Server plus ``POST /__delay?ms=N`` to change its delay from outside."""

    def respond(self, req: RequestHandler) -> None:
        if req.path.startswith("/__delay"):
            self.delay_ms = float(req.path.rsplit("=", 1)[1])
            req.send_body(200, b"ok", "text/plain")
            return
        super().respond(req)


class CannedProcess:
    """`CannedEC2Server(instances, delay_ms, page_size)` served by a child process."""

    def __init__(self, instances: int = 50, delay_ms: float = 0, page_size: int = 1000,
                 detail: str = "full") -> None:
        self.args = [str(instances), str(delay_ms), str(page_size), detail]
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        command = [sys.executable, "-m", "tests.harness.canned_process", *self.args]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("canned server did not start")
        self.port = int(line)
        return self

    def set_delay(self, delay_ms: float) -> None:
        request = urllib.request.Request(f"{self.url}/__delay?ms={delay_ms}", b"", method="POST")
        urllib.request.urlopen(request, timeout=5).read()

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("instances", "delay_ms", "page_size", "detail"):
        parser.add_argument(name)
    args = parser.parse_args()
    server = ControlledCanned(int(args.instances), float(args.delay_ms), int(args.page_size),
                              detail=args.detail).start()
    print(server.port, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
