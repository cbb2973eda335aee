"""How far past its timeout a call returns, against a server that never answers.

Not one of issue 5's five benchmarks: the execution contract aims at returning within
the timeout plus 100 ms, and the fault tests only assert a generous bound.
"""

from __future__ import annotations

import time

from bench.endpoints import connector_config
from bench.measure import Figure, median
from ec2_connector import Call
from tests.harness import SilentServer

TIMEOUT_MS = 1000


def overshoot_ms(call: Call) -> float:
    started = time.perf_counter()
    response = call.connector("aws-ec2").set("action", "describe-instances") \
        .timeout(TIMEOUT_MS).sync()
    elapsed = (time.perf_counter() - started) * 1000
    if response.exitcode != 3:
        raise RuntimeError(f"expected a timeout, got {response.exitcode}: {response.message}")
    return elapsed - TIMEOUT_MS


def run(rounds: int = 5) -> list[Figure]:
    with SilentServer() as silent:
        call = Call(config=connector_config(silent.url))
        samples = [overshoot_ms(call) for _ in range(rounds)]
    worst = max(samples)
    return [Figure("6. deadline", f"silent endpoint, timeout {TIMEOUT_MS} ms: overshoot",
                   median(samples), 100.0, "ms", "≤ 100 ms", worst <= 100,
                   f"worst of {rounds}: {worst:.1f} ms; baseline column: the aim",
                   {"overshoot": samples})]
