"""A real redis-server on a free loopback port, in a folder of its own, stopped by pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.harness.faults import free_port
from tests.harness.processes import terminate


class RedisServer:
    """`redis-server` as a child process, nothing outside loopback. Configured as the
    README asks of a job store (AOF persistence, no eviction) unless `persistent=False`;
    `config` adds options (e.g. "--maxmemory-policy", "allkeys-lru"); `port` reuses one
    (a restart of a server that was killed)."""

    def __init__(self, *config: str, persistent: bool = True, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (./dev test installs it)")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = Path(tempfile.mkdtemp(prefix="ec2c-redis-"))
        keep = ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else [
            "--appendonly", "no"]
        self.proc: subprocess.Popen[Any] = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *keep,
             "--dir", str(self.dir), "--protected-mode", "yes", *config],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            try:
                if self.command("PING") == "+PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def command(self, *words: str) -> str:
        """One inline command over a plain socket; the first line of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall((" ".join(words) + "\r\n").encode())
            return sock.recv(65536).decode().split("\r\n", 1)[0]

    def flush(self) -> None:
        self.command("FLUSHALL")

    def kill(self) -> None:
        """SIGKILL: what a crash does (without persistence, everything is lost)."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        terminate(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
