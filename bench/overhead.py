"""Benchmark 1: library call overhead, `Call(...).sync()` against a reused boto3 client.

The same describe-instances (50 instances) and stop+start, against the same endpoint:
moto's server, then the canned endpoint (which removes the server's cost and so exposes
the clients'). Goal: at most 1.05x boto3 and at most 1 ms added per call.

Interleaved rounds are added in batches until the 95 % interval of each ratio (the
bootstrap of the median per-round ratio) is at most 2 points wide, so a 2 % difference
is resolved, or the time budget is spent; the notes give the interval and the rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from bench.endpoints import (
    CannedProcess,
    MotoServer,
    boto3_client,
    connector_config,
    instance_id,
    launch_on_moto,
)
from bench.measure import Figure, interleaved, median, per_call, ratio_interval
from ec2_connector import Call

INSTANCES = 50
GOAL = "≤ 1.05x and ≤ +1 ms"
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


def _variants(url: str, instance: str, calls: int) -> dict[str, Callable[[], float]]:
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

    fns = {"describe ours": describe, "describe boto3": base_describe,
           "stop+start ours": ours_stop_start, "stop+start boto3": base_stop_start}
    for fn in fns.values():  # warm up: clients built, connections open
        per_call(fn, 3)
    return {name: partial(per_call, fn, calls) for name, fn in fns.items()}


def _figures(endpoint: str, results: dict[str, list[float]]) -> list[Figure]:
    figures = []
    for op in OPS:
        ours = median(results[f"{op} ours"]) * 1000
        base = median(results[f"{op} boto3"]) * 1000
        added = ours - base
        ratio, low, high = ratio_interval(results[f"{op} ours"], results[f"{op} boto3"])
        figures.append(Figure(
            "1. call overhead", f"{op} ({endpoint})", ours, base, "ms/call", GOAL,
            ours / base <= 1.05 and added <= 1.0,
            f"added {added:+.2f} ms; per-round ratio {ratio:.3f}x, 95 % CI "
            f"[{low:.3f}, {high:.3f}] over {len(results[f'{op} ours'])} rounds",
            {"ours": results[f"{op} ours"], "boto3": results[f"{op} boto3"]},
        ))
    return figures


def resolved(variants: dict[str, Callable[[], float]], rounds: int,
             budget: float) -> dict[str, list[float]]:
    """Interleaved rounds, in batches of `rounds`, until every ratio's interval is at most
    RESOLVE wide or `budget` seconds have gone."""
    started = time.perf_counter()
    results: dict[str, list[float]] = {name: [] for name in variants}
    while True:
        for name, values in interleaved(variants, rounds).items():
            results[name] += values
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
        variants = _variants(moto.url, instance, calls)
        figures += _figures("moto", resolved(variants, rounds, budget))
    finally:
        moto.stop()
    with CannedProcess(instances=INSTANCES) as canned:
        instance = instance_id(0)
        variants = _variants(canned.url, instance, calls)
        figures += _figures("canned", resolved(variants, rounds, budget))
    return figures
