"""Benchmark 4: async jobs on the local executor against a plain loop of sync calls.

1,000 `describe-instances` jobs submitted with `.async_()` and waited for, from the first
submit to the last result, against a loop of `.sync()` calls; the canned endpoint adds
50 ms per request (a region's round trip). Goal: at least 14x the loop's calls/s (issue 19;
it was 10x).
"""

from __future__ import annotations

import tempfile
import time

from bench.endpoints import CannedProcess, connector_config
from bench.measure import Figure, interleaved, median
from ec2_connector import Call
from ec2_connector.settings import DEFAULT_WORKERS

INSTANCES = 5
DELAY_MS = 50


def jobs_rate(call: Call, count: int) -> float:
    """Jobs per second, first submit to last result."""
    builder = call.connector("aws-ec2").set("action", "describe-instances")
    started = time.perf_counter()
    jobs = [builder.async_() for _ in range(count)]
    failed = [r.message for r in (job.wait(600_000) for job in jobs) if r.exitcode != 0]
    elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"{len(failed)} jobs failed: {failed[0]}")
    return count / elapsed


def loop_rate(call: Call, count: int) -> float:
    """Sync calls per second in a plain loop."""
    builder = call.connector("aws-ec2").set("action", "describe-instances")
    started = time.perf_counter()
    for _ in range(count):
        response = builder.sync()
        if response.exitcode != 0:
            raise RuntimeError(response.message)
    return count / (time.perf_counter() - started)


def run(rounds: int = 3, jobs: int = 1000, loop: int = 60) -> list[Figure]:
    with tempfile.TemporaryDirectory() as home, \
            CannedProcess(instances=INSTANCES, delay_ms=DELAY_MS) as canned, \
            Call(config=connector_config(canned.url), home=home) as call:
        loop_rate(call, 5)
        jobs_rate(call, 50)
        results = interleaved({"jobs": lambda: jobs_rate(call, jobs),
                               "loop": lambda: loop_rate(call, loop)}, rounds)
    ours, base = median(results["jobs"]), median(results["loop"])
    return [Figure("4. jobs", f"{jobs} async jobs vs sync loop ({DELAY_MS} ms delay)", ours,
                   base, "calls/s", "≥ 14x", ours / base >= 14,
                   f"loop of {loop} sync calls; {DEFAULT_WORKERS} workers (the default)",
                   {"jobs": results["jobs"], "loop": results["loop"]})]
