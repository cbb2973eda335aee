"""Benchmark 8 (issues 8, 16): 200 calls hung on a body that never ends, then 32 healthy calls.

The hostile endpoint (tests/harness EndlessBodyServer) and the healthy one (the canned
endpoint, 10 ms delay) each run in their own process. Measured per round: how many of
the 32 healthy calls succeed (goal 100 %), their median latency against the same 32
calls with nothing hung (goal ≤ 1.2x), and how long after the last hung call's deadline
every hung call has returned and its socket is closed (goal ≤ 1 s), and how late each
hung call returned past its own deadline (p50, p95, max; goal: max ≤ 0.2 s), there and
with all 200 reading at once (a bulkhead of 200).

Both latencies of a round are taken on one runtime, seconds apart (nothing hung, then
hung), twice each: on a machine shared with other work, figures taken minutes apart
differ by more than what is measured. The hung ones are taken once every hung call is
in flight or waiting for a place (not while 200 threads are still starting).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.endpoints import CannedProcess, connector_config
from bench.measure import Figure, median, percentile
from ec2_connector import Call, Runtime
from tests.harness.processes import terminate
from tests.harness.service import ROOT

HUNG = 200
HEALTHY = 32
HUNG_MS = 3000
HEALTHY_MS = 5000
SERVE_ENDLESS = (
    "import sys\nfrom tests.harness import EndlessBodyServer\n"
    "server = EndlessBodyServer().start()\nprint(server.port, flush=True)\n"
    "sys.stdin.read()\n"
)


def client_sockets(port: int) -> int:
    """Sockets of this process connected (or connecting) to `port`."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            ours.add(link[8:-1])
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines
               if int(line.split()[2].split(":")[1], 16) == port and line.split()[9] in ours)


def healthy_rounds(call: Call, rounds: int = 2) -> tuple[int, list[float]]:
    """`healthy_round` `rounds` times: (calls that succeeded, all their latencies)."""
    ok, latencies = 0, []
    for _ in range(rounds):
        done, took = healthy_round(call)
        ok, latencies = ok + done, latencies + took
    return ok, latencies


def healthy_round(call: Call) -> tuple[int, list[float]]:
    def one(_: int) -> tuple[bool, float]:
        started = time.perf_counter()
        response = (call.connector("aws-ec2").set("action", "describe-instances")
                    .timeout(HEALTHY_MS).sync())
        return response.exitcode == 0, time.perf_counter() - started

    with ThreadPoolExecutor(HEALTHY) as pool:
        results = list(pool.map(one, range(HEALTHY)))
    return sum(ok for ok, _ in results), [took for _, took in results]


def hung_round(
    healthy_url: str, endless_url: str, port: int
) -> tuple[float, float, float, float, list[float]]:
    """(% of healthy calls that succeeded, their median latency with nothing hung and
    beside the hung calls, release lag in s, how late each hung call returned in s)."""
    runtime = Runtime()
    healthy = Call(config=connector_config(healthy_url), runtime=runtime)
    healthy_round(healthy)  # warm: client built, connections open
    idle = median(healthy_rounds(healthy)[1])
    hostile = Call(config=connector_config(endless_url), runtime=runtime)
    deadlines: list[float] = []
    late: list[float] = []

    def hang() -> None:
        deadline = time.monotonic() + HUNG_MS / 1000
        deadlines.append(deadline)
        hostile.connector("aws-ec2").set("action", "describe-instances").timeout(HUNG_MS).sync()
        late.append(max(0.0, time.monotonic() - deadline))

    threads = [threading.Thread(target=hang) for _ in range(HUNG)]
    for thread in threads:
        thread.start()
    bound, settled_by = runtime.settings.max_in_flight, time.monotonic() + HUNG_MS / 2000
    while (runtime.bulkheads.in_flight() < bound
           or runtime.bulkheads.waiting() < HUNG - bound) and time.monotonic() < settled_by:
        time.sleep(0.01)
    ok, latencies = healthy_rounds(healthy)
    for thread in threads:
        thread.join()
    while client_sockets(port):
        time.sleep(0.01)
    lag = time.monotonic() - max(deadlines)
    return 100.0 * ok / len(latencies), idle, median(latencies), lag, late


def in_flight_round(endless_url: str) -> list[float]:
    """How late each of HUNG calls returns when all of them read an endless body at once
    (a bulkhead as large as the load: no call waits for a place), in s."""
    hostile = Call(config=connector_config(endless_url, **{"max-in-flight": HUNG}),
                   runtime=Runtime())
    late: list[float] = []

    def hang() -> None:
        deadline = time.monotonic() + HUNG_MS / 1000
        hostile.connector("aws-ec2").set("action", "describe-instances").timeout(HUNG_MS).sync()
        late.append(max(0.0, time.monotonic() - deadline))

    threads = [threading.Thread(target=hang) for _ in range(HUNG)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return late


def overshoot(name: str, late: list[float], note: str) -> Figure:
    worst = max(late) * 1000
    return Figure("8. hung endpoint", f"{name}: worst overshoot of a hung call", worst, 200.0,
                  "ms", "≤ 200 ms", worst <= 200.0,
                  f"{len(late)} calls: p50 {median(late) * 1000:.0f} ms, p95 "
                  f"{percentile(late, 0.95) * 1000:.0f} ms, max {worst:.0f} ms; {note}; "
                  "baseline: the aim", {"late": late})


def run(rounds: int = 3) -> list[Figure]:
    endless = subprocess.Popen([sys.executable, "-c", SERVE_ENDLESS], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert endless.stdout is not None
        port = int(endless.stdout.readline())
        with CannedProcess(instances=5, delay_ms=10, detail="basic") as canned:
            hung = [hung_round(canned.url, f"http://127.0.0.1:{port}", port)
                    for _ in range(rounds)]
        in_flight = [late for _ in range(rounds)
                     for late in in_flight_round(f"http://127.0.0.1:{port}")]
    finally:
        terminate(endless)
    ok = [h[0] for h in hung]
    idle = [h[1] for h in hung]
    p50 = [h[2] for h in hung]
    lag = [h[3] for h in hung]
    late = [each for h in hung for each in h[4]]
    name = f"{HUNG} calls hung on an endless body"
    return [
        Figure("8. hung endpoint", f"{name}: {HEALTHY} healthy calls succeed", min(ok), 100.0,
               "%", "100 %", min(ok) == 100.0, "worst of the rounds; baseline: the aim",
               {"ok": ok}),
        Figure("8. hung endpoint", f"{name}: healthy p50 latency", median(p50) * 1000,
               median(idle) * 1000, "ms", "≤ 1.2x", median(p50) <= 1.2 * median(idle),
               "baseline: the same 32 calls with nothing hung, in the same round",
               {"hung": p50, "idle": idle}),
        Figure("8. hung endpoint", f"{name}: released after the deadline", max(lag) * 1000,
               1000.0, "ms", "≤ 1 s", max(lag) <= 1.0,
               "every hung call returned and its socket closed; worst of the rounds; "
               "baseline: the aim", {"lag": lag}),
        overshoot(name, late, f"{rounds} rounds, 32 reading at once, the rest waiting for "
                  "a place, beside the healthy calls"),
        overshoot(f"{HUNG} calls reading endless bodies at once", in_flight,
                  f"{rounds} rounds, max-in-flight {HUNG}"),
    ]
