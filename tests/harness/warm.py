"""A warm start for the CLI tests: one process that has imported the command forks a
fresh child for each run, so every run is still a real process (its own pid, standard
streams, exit code, signals and interpreter exit) without paying Python's start-up and
botocore's import again: ~0.3 s a run on this machine, hundreds of runs a suite.

The parent (the "zygote") is single-threaded, so forking it is safe. For each run it
forks a keeper, which forks the command and reports its pid, then its wait status. The
command's standard streams are descriptors the test passes over the Unix socket.

What a warm run cannot show is start-up itself (what the command imports, how long it
takes, its argv in /proc): tests of those start `python -m ec2_connector.cli` directly.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Runs in the zygote: imports what a command needs, then serves runs until its socket
# is closed. Everything after the fork happens in the children.
ZYGOTE = r"""
import json, os, signal, socket, struct, sys
import ec2_connector.cli, ec2_connector.cli.parser, ec2_connector.call
import botocore.session, botocore.client, boto3

def command(header, fds):
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    os.chdir(header["cwd"])
    os.environ.clear()
    os.environ.update(header["env"])
    sys.argv = ["ec2-connector", *header["argv"]]
    from ec2_connector.cli import run
    run(header["argv"])

def keeper(listener, conn, header, fds):
    listener.close()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        command(header, fds)
    for fd in set(fds):
        os.close(fd)
    conn.sendall(struct.pack("!q", pid))
    _, status = os.waitpid(pid, 0)
    conn.sendall(struct.pack("!q", os.waitstatus_to_exitcode(status)))
    os._exit(0)

def serve(path):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the keepers are reaped by the kernel
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        size = struct.unpack("!I", conn.recv(4, socket.MSG_WAITALL))[0]
        data, fds, _, _ = socket.recv_fds(conn, size, 3, socket.MSG_WAITALL)
        if os.fork() == 0:
            keeper(listener, conn, json.loads(data), fds)
        for fd in fds:
            os.close(fd)
        conn.close()

serve(sys.argv[1])
"""


class Zygote:
    """The warm process, started on first use and stopped when the tests end."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ec2c-warm-")
        self.path = os.path.join(self._dir.name, "zygote.sock")
        env = {k: v for k, v in os.environ.items() if not k.startswith("EC2_CONNECTOR_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, self.path], env=env, cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready", "the warm CLI did not start"

    def run(self, argv: list[str], env: dict[str, str], stdin: str | None,
            stderr: Any, timeout: float) -> subprocess.CompletedProcess[str]:
        pipes = _Pipes(stdin, stderr)
        header = json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}).encode()
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(self.path)
            conn.sendall(struct.pack("!I", len(header)))
            socket.send_fds(conn, [header], pipes.child_ends())
            pipes.close_child_ends()
            pid = _read_int(conn)
            try:
                out, err = pipes.communicate(time.monotonic() + timeout)
            except subprocess.TimeoutExpired:
                _kill(pid)
                raise subprocess.TimeoutExpired(argv, timeout) from None
            code = _read_int(conn)
        return subprocess.CompletedProcess(
            [sys.executable, "-m", "ec2_connector.cli", *argv], code, out, err)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._dir.cleanup()


class _Pipes:
    """The child's three standard streams, and what the test reads of them."""

    def __init__(self, stdin: str | None, stderr: Any) -> None:
        self.stdin = stdin
        self._close: list[int] = []
        if stdin is None:
            self.child_in, self.write_in = os.open(os.devnull, os.O_RDONLY), None
            self._close.append(self.child_in)
        else:
            self.child_in, self.write_in = os.pipe()
            self._close.append(self.child_in)
        self.read_out, self.child_out = os.pipe()
        self._close.append(self.child_out)
        self.read_err: int | None = None
        if stderr == subprocess.PIPE:
            self.read_err, self.child_err = os.pipe()
            self._close.append(self.child_err)
        elif stderr == subprocess.STDOUT:
            self.child_err = self.child_out
        elif stderr == subprocess.DEVNULL:
            self.child_err = os.open(os.devnull, os.O_WRONLY)
            self._close.append(self.child_err)
        else:  # a descriptor of the test's own (a pseudo-terminal's side, say)
            self.child_err = stderr

    def child_ends(self) -> list[int]:
        return [self.child_in, self.child_out, self.child_err]

    def close_child_ends(self) -> None:
        for fd in self._close:
            os.close(fd)

    def communicate(self, deadline: float) -> tuple[str, str | None]:
        if self.write_in is not None:
            threading.Thread(target=_feed, args=(self.write_in, self.stdin or ""),
                             daemon=True).start()
        chunks: dict[int, list[bytes]] = {self.read_out: []}
        if self.read_err is not None:
            chunks[self.read_err] = []
        with selectors.DefaultSelector() as selector:
            for fd in chunks:
                selector.register(fd, selectors.EVENT_READ)
            try:
                _drain(selector, chunks, deadline)
            finally:
                for fd in chunks:
                    os.close(fd)
        out = b"".join(chunks[self.read_out]).decode()
        err = b"".join(chunks[self.read_err]).decode() if self.read_err is not None else None
        return out, err


def _drain(selector: selectors.BaseSelector, chunks: dict[int, list[bytes]],
           deadline: float) -> None:
    open_fds = len(chunks)
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired("ec2-connector", 0)
        for key, _ in selector.select(left):
            data = os.read(key.fd, 65536)
            if data:
                chunks[key.fd].append(data)
            else:
                selector.unregister(key.fd)
                open_fds -= 1


def _feed(fd: int, text: str) -> None:
    try:
        _write_all(fd, text.encode())
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_int(conn: socket.socket) -> int:
    data = conn.recv(8, socket.MSG_WAITALL)
    if len(data) != 8:
        raise RuntimeError("the warm CLI's keeper went away")
    return int(struct.unpack("!q", data)[0])


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


_zygote: Zygote | None = None
_lock = threading.Lock()


def zygote() -> Zygote:
    global _zygote
    with _lock:
        if _zygote is None or _zygote.proc.poll() is not None:
            _zygote = Zygote()
            atexit.register(_zygote.stop)
        return _zygote
