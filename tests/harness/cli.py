"""The `ec2-connector` command as a real subprocess: piped, or under a pseudo-terminal of
a chosen width; and what every CLI test checks of its output."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import warm

TIMEOUT = 60


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, stderr: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """One run of the command, as a fresh process forked from a warm one (warm.py);
    COLD_CLI=1 in the tests' environment starts each run from scratch instead."""
    if not os.environ.get("COLD_CLI"):
        return warm.zygote().run(list(args), env, stdin, stderr, TIMEOUT)
    return subprocess.run(
        [sys.executable, "-m", "ec2_connector.cli", *args], input=stdin, env=env,
        stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=TIMEOUT,
    )


def clean_env(home: Path) -> dict[str, str]:
    """The test process's environment, with a private home and no connector settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EC2_CONNECTOR_")}
    env["EC2_CONNECTOR_HOME"] = str(home)
    return env


def envelope(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(result.stdout)
    assert set(body) == {"exitcode", "message", "data", "meta"}
    assert body["exitcode"] == result.returncode
    return body


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ec2-connector: ") and "Traceback" not in result.stderr
    return lines[0]


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the pty is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@dataclass
class TtyRun:
    returncode: int
    stdout: str  # what the terminal showed, with \r\n as \n
    stderr: str

    @property
    def plain(self) -> str:
        """stdout without colour codes."""
        return ANSI.sub("", self.stdout)


def run_tty(env: dict[str, str], *args: str, columns: int = 80) -> TtyRun:
    """Run the CLI with stdout on a pty `columns` wide (stderr stays a pipe)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    # COLUMNS would win over the terminal's own size: the test is of the real path.
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ec2_connector.cli", *args], env=env, stdin=subprocess.DEVNULL,
        stdout=slave, stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    proc.wait(TIMEOUT)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    out = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return TtyRun(proc.returncode, out, stderr)


def complete(script: str, *words: str, env: dict[str, str] | None = None,
             cwd: Path | None = None) -> list[str]:
    """What bash offers after `words` (the last one being completed), as one reply a line."""
    harness = (
        f"{script}\nCOMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _ec2_connector; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    done = subprocess.run(["bash", "-c", harness], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]
