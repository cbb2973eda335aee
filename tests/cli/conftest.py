"""The CLI as a real subprocess: piped, and under a pseudo-terminal of a chosen width."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import TIMEOUT, clean_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def env(config: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(config))
    return {**clean_env(tmp_path / "home"), "EC2_CONNECTOR_CONFIG": str(path)}


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
