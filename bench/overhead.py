"""Benchmark 1: library call overhead, `Call(...).sync()` against a reused boto3 client.

The same describe-instances (50 instances) and stop+start, against the same endpoint:
moto's server, then the canned endpoint (which removes the server's cost and so exposes
the clients'). Goal: at most 1.05x boto3 and at most 1 ms added per call; for the short
calls (stop+start) issue 19's, at most 1.02x.

A round runs ours and boto3's calls alternately (ABBA, call by call, so both see the
same moment of the shared machine) and takes the median of each (a call the scheduler
preempted is left out). Rounds are added in batches until the 95 % interval of each
ratio (the bootstrap of the median per-round ratio) is at most 2 points wide, so a 2 %
difference is resolved, or the time budget is spent; the notes give the interval and
the rounds. A goal is judged on that median per-round ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.endpoints import (
    CannedProcess,
    MotoServer,
    boto3_client,
    connector_config,
    instance_id,
    launch_on_moto,
)
from bench.measure import Figure, median, per_call, ratio_interval
from ec2_connector import Call

INSTANCES = 50
GOAL = "≤ 1.05x and ≤ +1 ms"
# Issue 19 asks more of the short calls: at most 2 % over boto3, on either endpoint.
GOALS = {"describe": (GOAL, 1.05), "stop+start": ("≤ 1.02x", 1.02)}
RESOLVE = 0.02  # the widest 95 % interval of a ratio that still resolves a 2 % difference
OPS = ("describe", "stop+start")


def _ours(call: Call, action: str, **params: Any) -> Callable[[], None]:
    def run() -> None:
        builder = call.connector("aws-ec2").set("action", action)
        for key, value in params.items():
            builder.set(key, value)
        response = builder.sync()
        if response.exitcode != 0:
            raise RuntimeError(f"{action}: {response.message}")

    return run


def _variants(url: str, instance: str) -> dict[str, tuple[Callable[[], None], ...]]:
    """Per operation: (ours, boto3's)."""
    client = boto3_client(url)
    call = Call(config=connector_config(url))
    describe = _ours(call, "describe-instances")
    stop = _ours(call, "stop-instances", **{"instance-id": instance})
    start = _ours(call, "start-instances", **{"instance-id": instance})

    def base_describe() -> None:
        client.describe_instances(MaxResults=1000)

    def base_stop_start() -> None:
        client.stop_instances(InstanceIds=[instance])
        client.start_instances(InstanceIds=[instance])

    def ours_stop_start() -> None:
        stop()
        start()

    pairs = {"describe": (describe, base_describe), "stop+start": (ours_stop_start,
                                                                  base_stop_start)}
    for fns in pairs.values():  # warm up: clients built, connections open
        for fn in fns:
            per_call(fn, 3)
    return pairs


def paired(ours: Callable[[], None], base: Callable[[], None],
           calls: int) -> tuple[float, float]:
    """One round: `calls` of each, alternating (ABBA) so both see the same moment of a
    shared machine; the median seconds of each, a preempted call left out."""
    times: tuple[list[float], list[float]] = ([], [])
    for n in range(calls * 2):
        which = (n + n // 2) % 2  # 0 1 1 0 0 1 1 0 ...
        started = time.perf_counter()
        (ours, base)[which]()
        times[which].append(time.perf_counter() - started)
    return median(times[0]), median(times[1])


def _figures(endpoint: str, results: dict[str, list[float]]) -> list[Figure]:
    figures = []
    for op in OPS:
        ours = median(results[f"{op} ours"]) * 1000
        base = median(results[f"{op} boto3"]) * 1000
        added = ours - base
        ratio, low, high = ratio_interval(results[f"{op} ours"], results[f"{op} boto3"])
        goal, most = GOALS[op]
        figures.append(Figure(
            "1. call overhead", f"{op} ({endpoint})", ours, base, "ms/call", goal,
            # Judged on the paired statistic the rounds are built for: each round's
            # ratio compares calls made moments apart, where the medians' ratio mixes
            # rounds minutes apart (moto's own time drifts by more than 2 % in a run).
            ratio <= most and added <= 1.0,
            f"added {added:+.2f} ms; per-round ratio {ratio:.3f}x, 95 % CI "
            f"[{low:.3f}, {high:.3f}] over {len(results[f'{op} ours'])} rounds",
            {"ours": results[f"{op} ours"], "boto3": results[f"{op} boto3"]},
        ))
    return figures


def resolved(pairs: dict[str, tuple[Callable[[], None], ...]], calls: int, rounds: int,
             budget: float) -> dict[str, list[float]]:
    """Rounds, in batches of `rounds`, until every ratio's interval is at most RESOLVE
    wide or `budget` seconds have gone."""
    started = time.perf_counter()
    results: dict[str, list[float]] = {f"{op} {who}": [] for op in OPS
                                       for who in ("ours", "boto3")}
    while True:
        for _ in range(rounds):
            for op in OPS:
                ours, base = paired(*pairs[op], calls)
                results[f"{op} ours"].append(ours)
                results[f"{op} boto3"].append(base)
        widths = [high - low for _, low, high in
                  (ratio_interval(results[f"{op} ours"], results[f"{op} boto3"])
                   for op in OPS)]
        if max(widths) <= RESOLVE or time.perf_counter() - started > budget:
            return results


def run(rounds: int = 16, calls: int = 20, budget: float = 150) -> list[Figure]:
    """`budget`: seconds of rounds per endpoint, at most (a batch under way finishes)."""
    figures: list[Figure] = []
    moto = MotoServer()
    try:
        instance = launch_on_moto(moto.url, INSTANCES)[0]
        pairs = _variants(moto.url, instance)
        figures += _figures("moto", resolved(pairs, calls, rounds, budget))
    finally:
        moto.stop()
    with CannedProcess(instances=INSTANCES) as canned:
        instance = instance_id(0)
        pairs = _variants(canned.url, instance)
        figures += _figures("canned", resolved(pairs, calls, rounds, budget))
    return figures
