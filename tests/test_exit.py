"""The process exits on time: after its response whatever its abandoned request is doing,
and at once on Ctrl-C (SIGINT, exit 130, one line) in every command that waits."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ec2_connector
from ec2_connector.jobs.record import JobRecord, JobStatus
from ec2_connector.jobs.store import SQLiteJobStore
from tests.harness import EndlessBodyServer, SilentServer
from tests.harness.calls import config_for
from tests.harness.cli import clean_env, read_all
from tests.harness.processes import terminate

CLI = [sys.executable, "-m", "ec2_connector.cli"]
INTERRUPT_WITHIN_S = 2.5  # the aim is 1 s; generous for a shared machine


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


def env_for(tmp_path: Path, url: str) -> dict[str, str]:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(config_for(url)))
    return {**clean_env(tmp_path / "home"), "EC2_CONNECTOR_CONFIG": str(path)}


def test_the_cli_exits_on_time_against_an_endless_body(tmp_path: Path) -> None:
    with EndlessBodyServer() as endless:
        started = time.monotonic()
        done = subprocess.run([*CLI, "call", "describe-instances", "--timeout", "3000"],
                              env=env_for(tmp_path, endless.url), capture_output=True,
                              text=True, timeout=60)
        took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["message"] == "timed out after 3000 ms"
    # Generous (start-up on a loaded machine is not ours); a hang would be the 60 s bound.
    assert took < 10.0, f"the command took {took:.1f} s"


def test_a_script_exits_on_time_against_an_endless_body(tmp_path: Path) -> None:
    script = (
        "import sys\nfrom ec2_connector import Call\n"
        f"config = {config_for('URL')!r}\n"
        "config['connectors']['aws-ec2']['endpoint-url'] = sys.argv[1]\n"
        "import time\nprint(time.monotonic(), flush=True)\n"
        "r = Call(config=config).connector('aws-ec2').set('action', 'describe-instances')"
        ".timeout(3000).sync()\nprint(r.exitcode)\n"
    )
    with EndlessBodyServer() as endless:
        done = subprocess.run([sys.executable, "-c", script, endless.url],
                              env=clean_env(tmp_path / "home"), capture_output=True,
                              text=True, timeout=60)
        ended = time.monotonic()
    began, exitcode = done.stdout.split()
    assert (done.returncode, exitcode) == (0, "3"), done.stderr
    # Timed from the call's start (one clock for every process): what a loaded machine
    # adds to the interpreter's start-up is not ours; the 3 s deadline + 1 s is.
    took = ended - float(began)
    assert took < 4.0, f"the script exited {took:.1f} s after its call began"


def interrupt(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> float:
    """SIGINT once `ready()` (`proc` is waiting); the seconds it took to exit."""
    ends = time.monotonic() + 30
    while not ready() and proc.poll() is None:
        assert time.monotonic() < ends, "the command never got to wait"
        time.sleep(0.02)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    finally:
        if proc.poll() is None:
            terminate(proc)
    return time.monotonic() - sent


class Drawn:
    """What a terminal has shown so far, read without blocking as a test waits."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def shows(self, pattern: str) -> bool:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the other side of the pty is closed
                break
            if not chunk:
                break
            self.text += chunk.decode(errors="replace")
        return re.search(pattern, self.text) is not None


def reached(silent: SilentServer, seen: int = 0) -> Callable[[], bool]:
    return lambda: silent.requests_received > seen


def store_open(proc: subprocess.Popen[str]) -> Callable[[], bool]:
    """True once `proc` has the job store open (so its command is running)."""

    def check() -> bool:
        folder = f"/proc/{proc.pid}/fd"
        try:
            links = [os.readlink(f"{folder}/{fd}") for fd in os.listdir(folder)]
        except OSError:
            return False
        return any(link.endswith("jobs.sqlite3") for link in links)

    return check


def assert_interrupted(proc: subprocess.Popen[str], took: float) -> None:
    stdout, stderr = proc.communicate()
    assert proc.returncode == 130, stderr
    assert stderr == "ec2-connector: interrupted\n"
    assert stdout == ""
    assert took < INTERRUPT_WITHIN_S, f"exited {took:.2f} s after SIGINT"


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_ctrl_c_ends_a_call(tmp_path: Path, silent: SilentServer) -> None:
    proc = start(env_for(tmp_path, silent.url), "call", "describe-instances",
                 "--timeout", "60000")
    assert_interrupted(proc, interrupt(proc, reached(silent)))


def test_ctrl_c_ends_wait_job_and_resume_and_records_the_job_interrupted(
    tmp_path: Path, silent: SilentServer
) -> None:
    env = env_for(tmp_path, silent.url)
    proc = start(env, "call", "describe-instances", "--wait-job", "--timeout", "60000")
    assert_interrupted(proc, interrupt(proc, reached(silent)))
    store = SQLiteJobStore(env["EC2_CONNECTOR_HOME"])
    [job] = store.list()  # as stored: not merely seen as interrupted once its lease lapses
    assert job.status is JobStatus.INTERRUPTED and f":{proc.pid}:" in str(job.holder)

    store.add(JobRecord("crashed", "aws-ec2", "describe-instances",
                        {"endpoint-url": silent.url}, 60000, status=JobStatus.RUNNING,
                        holder="gone", lease_until=time.time() - 1))
    store.close()
    proc = start(env, "jobs", "resume", "crashed")
    assert_interrupted(proc, interrupt(proc, reached(silent, seen=1)))
    store = SQLiteJobStore(env["EC2_CONNECTOR_HOME"])
    resumed = [r for r in store.list() if r.id not in ("crashed", job.id)]
    assert [r.status for r in resumed] == [JobStatus.INTERRUPTED]
    store.close()


def test_ctrl_c_ends_jobs_wait_and_the_job_goes_on(tmp_path: Path, silent: SilentServer) -> None:
    env = env_for(tmp_path, silent.url)
    submitted = subprocess.run([*CLI, "call", "describe-instances", "--async", "--timeout",
                                "20000"], env=env, capture_output=True, text=True, timeout=60)
    job_id = json.loads(submitted.stdout)["job-id"]
    store = SQLiteJobStore(env["EC2_CONNECTOR_HOME"])
    try:
        ends = time.monotonic() + 30
        while not silent.requests_received:  # the detached runner is running the job
            assert time.monotonic() < ends
            time.sleep(0.02)
        proc = start(env, "jobs", "wait", job_id)
        assert_interrupted(proc, interrupt(proc, store_open(proc)))
        record: Any = store.get(job_id)
        assert record.status is JobStatus.RUNNING  # its process lives on
    finally:
        holder = str(store.get(job_id).holder)  # type: ignore[union-attr]
        store.close()
        os.kill(int(holder.split(":")[1]), signal.SIGTERM)  # the runner is this test's to stop


def _before_our_code(stderr: str) -> bool:
    """An interruption Python itself reported before any line of our package ran."""
    if stderr.startswith("Could not import runpy module"):
        return True
    package = str(Path(ec2_connector.__file__).parent)
    frames = re.findall(r'File "([^"]+)"', stderr)
    return stderr.rstrip().endswith("KeyboardInterrupt") and not any(
        frame.startswith(package) for frame in frames)


def test_ctrl_c_while_the_command_is_starting_is_one_line_and_130(
    tmp_path: Path, silent: SilentServer
) -> None:
    """SIGINT while the command still imports (~150 ms, before a command has taken it for
    itself): no traceback, one line, 130; the same as once it waits. Trials start past
    twice Python's own start-up (a bare `python -c pass`), which runs nothing of ours."""
    env = {**env_for(tmp_path, silent.url), "PYTHONFAULTHANDLER": "1"}
    bare = []
    for _ in range(3):
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True, timeout=30)
        bare.append(time.monotonic() - began)
    script = str(Path(sys.executable).with_name("ec2-connector"))
    wrong = []
    before_ours = 0
    for command in ([script], CLI):
        for after_ms in (0, 10, 20, 30, 45, 60, 80, 100, 130, 160, 200):
            proc = subprocess.Popen([*command, "call", "describe-instances", "--timeout",
                                     "60000"], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(2 * max(bare) + after_ms / 1000)
            proc.send_signal(signal.SIGINT)
            try:
                stdout, stderr = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                # A Ctrl-C that was lost (seen once in a full run, with no output at all):
                # the stacks of every thread (faulthandler, on SIGABRT) say where it was.
                proc.send_signal(signal.SIGABRT)
                stdout, stderr = proc.communicate(timeout=10)
                wrong.append((command[-1], after_ms, "Ctrl-C lost", stderr[-4000:]))
                continue
            finally:
                terminate(proc)
            if _before_our_code(stderr):
                # The interpreter was still starting (importing `runpy` for `-m`, or
                # finding our package on the path; a loaded machine starts slowly):
                # nothing of ours had run, nothing of ours could answer.
                before_ours += 1
                continue
            if (proc.returncode, stdout, stderr) != (130, "", "ec2-connector: interrupted\n"):
                wrong.append((command[-1], after_ms, proc.returncode, stderr))
    assert wrong == []
    assert before_ours <= 5, "most trials must reach the command's own start-up"


def test_a_call_started_with_ctrl_c_ignored_keeps_ignoring_it(
    tmp_path: Path, silent: SilentServer
) -> None:
    """A script's background job (`ec2-connector call ... &`) starts with SIGINT ignored:
    a Ctrl-C for the foreground must not end it (it took SIGINT back before)."""
    background = [sys.executable, "-c", "import os, signal, sys; signal.signal("
                  "signal.SIGINT, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])"]
    proc = subprocess.Popen([*background, *CLI, "call", "describe-instances", "--timeout",
                             "60000"], env=env_for(tmp_path, silent.url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = reached(silent)
        deadline = time.monotonic() + 30
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready(), "the call never reached the endpoint"
        proc.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)  # still waiting on its call
    finally:
        terminate(proc)
    assert proc.returncode != 130


def test_ctrl_c_on_a_terminal_replaces_the_progress_line(
    tmp_path: Path, silent: SilentServer
) -> None:
    # `--wait-job` draws the job's status on a terminal: the interruption's line must not
    # be glued to it (`job ...: running (1s)ec2-connector: interrupted`).
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([*CLI, "call", "describe-instances", "--wait-job", "--timeout",
                                 "60000"], env=env_for(tmp_path, silent.url),
                                stdout=subprocess.DEVNULL, stderr=slave, text=True)
        os.close(slave)
        # The line is redrawn at each poll of the job (20 ms, then up to 250 ms apart):
        # the request may reach EC2 before the line says "running".
        drawn = Drawn(master)
        interrupt(proc, lambda: reached(silent)() and drawn.shows(r"job [0-9a-f]{12}: running"))
        shown = drawn.text + read_all(master)
    finally:
        os.close(master)
    assert proc.returncode == 130
    assert re.search(r"job [0-9a-f]{12}: running", shown), shown
    assert shown.endswith("\r\x1b[Kec2-connector: interrupted\r\n"), repr(shown[-80:])
