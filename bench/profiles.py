"""Where the time goes, for the benchmarks that miss a goal: py-spy over all threads.

pyinstrument samples only the main thread, and the connector does its EC2 work on I/O
threads, so py-spy (which samples every thread of a process) is used when installed;
without it the section says so. A profile is summarised two ways: the share of samples
spent in each package (inclusive), and the hottest functions (self time).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.endpoints import BENCH_ENV, CannedProcess, connector_config
from bench.throughput import hammer, service_worker
from tests.harness.service import ServiceProcess

PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
# label -> what a frame's text holds when it belongs there
PACKAGES = {
    **{name: f"{name}/" for name in (
        "ec2_connector", "botocore", "dateutil", "urllib3", "json", "logging", "sqlite3",
        "uvicorn", "starlette", "fastapi", "anyio", "pydantic", "asyncio")},
    "http.client": "http/client.py", "xml.etree": "xml/etree/", "imports": "<frozen importlib",
    "socket": "socket.py",
}
# Leaf frames of threads that wait (for I/O, a lock, or work: an idle pool thread sits in
# `_worker` on its queue); py-spy shows a thread waiting for the GIL in its last frame too.
IDLE = re.compile(r"\b(wait|select|acquire|readinto|accept|poll|sleep|_worker)\b \(")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Start py-spy sampling `pid` for `seconds` into `out` (raw, folded stacks)."""
    assert PY_SPY is not None
    command = [PY_SPY, "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "-f", "raw",
               "-o", str(out), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise(raw: Path, top: int = 12) -> str:
    """Package shares (inclusive) and hottest functions (self), as Markdown lists."""
    stacks = _busy_stacks(raw)
    total = sum(stacks.values()) or 1
    by_package: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for frames, count in stacks.items():
        for package in {p for p, mark in PACKAGES.items() for f in frames if mark in f}:
            by_package[package] += count
        if frames[-1].strip():
            by_function[_short(frames[-1])] += count
    lines = [f"{sum(stacks.values())} busy samples (threads waiting on I/O or locks left out)",
             "", "Share of busy samples by package (inclusive):", ""]
    lines += [f"- {name}: {n * 100 / total:.0f}%" for name, n in by_package.most_common(top)]
    lines += ["", "Hottest functions (self):", ""]
    lines += [f"- {n * 100 / total:.1f}% `{name}`" for name, n in by_function.most_common(top)]
    return "\n".join(lines)


def _busy_stacks(raw: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = tuple(stack.split(";"))
        if frames and not IDLE.search(frames[-1]):
            stacks[frames] += int(count)
    return stacks


def _short(frame: str) -> str:
    match = re.match(
        r"(.*) \((.*?)(?:site-packages/|lib/python3\.\d+/|src/)?([^/]*/?[^/]*):(\d+)\)", frame
    )
    return f"{match.group(1)} ({match.group(3)})" if match else frame


def profile_oneshot(work: Path) -> str:
    with CannedProcess(instances=50) as canned:
        env = {**os.environ, **BENCH_ENV, "EC2_CONNECTOR_HOME": str(work / "home")}
        command = [str(Path(sys.executable).parent / "ec2-connector"), "call",
                   "describe-instances", f"endpoint-url={canned.url}"]
        out = work / "oneshot.raw"
        assert PY_SPY is not None
        subprocess.run([PY_SPY, "record", "-r", "500", "-f", "raw", "-o", str(out), "--",
                        *command], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        return summarise(out)


def profile_service(work: Path) -> str:
    with CannedProcess(instances=5, delay_ms=50) as canned, \
            ServiceProcess(work / "svc", connector_config(canned.url)) as service:
        hammer(service_worker(service.port), 1)
        spy = record(service.pid, 4, work / "service.raw")
        hammer(service_worker(service.port), 5)
        spy.wait()
        return summarise(work / "service.raw")


def profile_jobs(work: Path) -> str:
    from bench.jobs import jobs_rate
    from ec2_connector import Call

    with CannedProcess(instances=5, delay_ms=50) as canned, \
            Call(config=connector_config(canned.url), home=work / "jobs") as call:
        jobs_rate(call, 50)
        spy = record(os.getpid(), 3, work / "jobs.raw")
        runner = threading.Thread(target=jobs_rate, args=(call, 600))
        runner.start()
        spy.wait()
        runner.join()
        return summarise(work / "jobs.raw")


PROFILES: dict[str, tuple[str, Callable[[Path], str]]] = {
    "2": ("one-shot `ec2-connector call describe-instances` (50 instances)", profile_oneshot),
    "3": ("the service under 16 clients, 50 ms delay", profile_service),
    "4": ("1,000 async jobs, 50 ms delay", profile_jobs),
}


def run(benchmarks: list[str]) -> dict[str, str]:
    """Profiles of the given benchmarks, as Markdown sections by benchmark number."""
    if PY_SPY is None:
        return {b: "py-spy is not installed (`pip install py-spy`): no profile." for b in
                benchmarks if b in PROFILES}
    found = {}
    with tempfile.TemporaryDirectory() as work:
        for name in benchmarks:
            if name in PROFILES:
                title, fn = PROFILES[name]
                found[name] = f"**{title}**\n\n{fn(Path(work))}"
    return found
