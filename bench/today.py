"""The code issue 19 calls "today", run beside the current code in one benchmark.

Issue 19's goals compare with the connector as it was when the issue was filed: the tree
just before its first change (the compiled parser, commit bc7401b). `export` writes that
commit's `src/` from this checkout's git history into a folder; a process started with
`PYTHONPATH` naming it runs the old `ec2_connector` on the same virtualenv (its
dependencies are a subset of today's). A fresh clone has the history; a copy without it
(an sdist, a shallow clone) gets the reason instead, and the row says so.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.harness.processes import terminate

TODAY = "bc7401b^"  # the tree before issue 19's first change
ROOT = Path(__file__).resolve().parents[1]


def export(into: Path, ref: str = TODAY) -> Path | str:
    """`ref`'s `src/` written under `into`: the folder to put on PYTHONPATH, or why not."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"],
                                 capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"git could not be run ({type(exc).__name__})"
    if archive.returncode != 0:
        why = archive.stderr.decode(errors="replace").strip().splitlines()
        return f"commit {ref} not found in this checkout ({why[0] if why else 'git failed'})"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(into, filter="data")
        else:  # our own history's archive, nothing from outside
            tar.extractall(into)
    return into / "src"


class Submitter:
    """`bench.submit_jobs` in a child process, running the `ec2_connector` found on
    `pythonpath` (the current tree's `src/` unless told)."""

    def __init__(self, config: Path, broker: str, pythonpath: Path | None = None) -> None:
        env = dict(subprocess_env(pythonpath))
        self.proc: subprocess.Popen[str] = subprocess.Popen(
            [sys.executable, "-m", "bench.submit_jobs", str(config), broker], cwd=ROOT,
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._expect("ready")

    def _expect(self, word: str) -> list[str]:
        out: IO[str] | None = self.proc.stdout
        line = out.readline() if out is not None else ""
        if not line.startswith(word):
            raise RuntimeError(f"the submitter said {line!r}, not {word!r} (exit "
                               f"{self.proc.poll()})")
        return line.split()[1:]

    def batch(self, count: int) -> float:
        """Submit `count` jobs and wait for them all; jobs per second."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{count}\n")
        self.proc.stdin.flush()
        rate, failed = self._expect("done")
        if int(failed):
            raise RuntimeError(f"{failed} of {count} jobs failed")
        return float(rate)

    def __enter__(self) -> Submitter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        terminate(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def subprocess_env(pythonpath: Path | None) -> dict[str, Any]:
    """The environment of a child running the code on `pythonpath` (or the current)."""
    return {**os.environ, "PYTHONPATH": str(pythonpath or ROOT / "src")}
