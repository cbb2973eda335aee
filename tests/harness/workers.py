"""`ec2-connector worker` as a real process for the job tests, in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.cli import clean_env
from tests.harness.processes import terminate

# A lease long enough that a live worker on a loaded two-core machine renews it in time
# (at 3 s a waiter once saw a live worker's rerun as lapsed); a lost worker's jobs are
# still seen within lease + sweep.
LEASE, SWEEP = "6", "1"


class Worker:
    """`ec2-connector worker` in its own process group, its log in a file."""

    def __init__(self, broker: str, config: Path, log: Path, concurrency: int = 16,
                 flags: tuple[str, ...] = (), **settings: str) -> None:
        self.log = log
        env = {**clean_env(log.parent / "home"), "EC2_CONNECTOR_CONFIG": str(config),
               "EC2_CONNECTOR_LEASE_S": LEASE, "EC2_CONNECTOR_SWEEP_S": SWEEP,
               "EC2_CONNECTOR_THROTTLE_RATE": "10000", **settings}
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ec2_connector.cli", "worker", "--broker", broker,
                 "--concurrency", str(concurrency), *flags],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self) -> Worker:
        deadline = time.monotonic() + 60
        while b" ready." not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def kill_group(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def signal_group(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def stop(self) -> None:
        if self.proc.poll() is None:
            terminate(self.proc)
