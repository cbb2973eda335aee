"""Benchmark 9 (issue 11): `describe-instances` with `region: "*"` over every region.

Moto answers in a millisecond or two, so every region would look alike and parallelism
would measure nothing but our own overhead. One canned endpoint in its own process
answers for every region (the region travels in the SigV4 scope) with a fixed delay per
request, like a distant region's round trip; its DescribeRegions lists 17 enabled
regions and one not opted in. Measured per round, warm (clients built, connections
open, the connector's region list kept from the warm-up, as for any call within
EC2_CONNECTOR_REGIONS_TTL_S of the last): one `region: "*"` call through Call (the 17
describes in one wave: max-parallel's default is at least the number of regions) against
(a) the same 17 describes one after another, each on a reused boto3 client of its region
(goal ≤ 0.25x), and (b) the slowest of those 17 single-region calls alone (goal ≤ 1.5x).
Informative rows: the regions given as a list with `max-parallel: 17`, and a
`region: "*"` call that asks for the region list first (the first call of a process, or
one after the list expired).
"""

from __future__ import annotations

import time

from bench.endpoints import CannedProcess, connector_config
from bench.measure import Figure, interleaved, median
from ec2_connector import Call
from ec2_connector.config import Target
from tests.harness.canned import REGIONS

DELAY_MS = 100
INSTANCES = 20


def run(rounds: int = 5) -> list[Figure]:
    import boto3

    with CannedProcess(instances=INSTANCES, delay_ms=DELAY_MS, detail="basic") as canned:
        clients = {region: boto3.client("ec2", region_name=region, endpoint_url=canned.url)
                   for region in REGIONS}
        call = Call(config=connector_config(canned.url))
        singles: list[float] = []

        def fanned(region: object, parallel: int | None = None) -> float:
            builder = call.connector("aws-ec2").set("action", "describe-instances")
            if parallel:
                builder = builder.set("max-parallel", parallel)
            started = time.perf_counter()
            response = builder.set("region", region).timeout(30_000).sync()
            took = time.perf_counter() - started
            assert response.ok and len(response.get("regions")) == len(REGIONS), response
            return took

        def ours() -> float:
            return fanned("*")

        def one_wave() -> float:
            return fanned(list(REGIONS), len(REGIONS))

        target = Target.resolve(call.connectors.get("aws-ec2"), {})

        def listing() -> float:
            call.runtime.clients.forget_regions(target)
            return fanned("*")

        def sequential() -> float:
            times = []
            for client in clients.values():
                started = time.perf_counter()
                found = client.describe_instances()["Reservations"]
                times.append(time.perf_counter() - started)
                assert len(found) == INSTANCES
            singles.append(max(times))
            return sum(times)

        ours(), one_wave(), sequential()  # warm: clients built, connections open
        singles.clear()
        results = interleaved({"ours": ours, "one wave": one_wave, "listing": listing,
                               "sequential": sequential}, rounds)
    fan, seq, slowest = median(results["ours"]), median(results["sequential"]), median(singles)
    wave, listed = median(results["one wave"]), median(results["listing"])
    name = f"describe-instances region=* over {len(REGIONS)} regions, {DELAY_MS} ms each"
    samples = {**results, "slowest": singles}
    return [
        Figure("9. every region", f"{name}: against boto3 one region after another",
               fan * 1000, seq * 1000, "ms", "≤ 0.25x", fan <= 0.25 * seq,
               "baseline: the same describes in sequence, a reused boto3 client per region",
               samples),
        Figure("9. every region", f"{name}: against the slowest region alone",
               fan * 1000, slowest * 1000, "ms", "≤ 1.5x", fan <= 1.5 * slowest,
               "baseline: the slowest single-region boto3 call of each round; the region "
               "list kept from an earlier call", {}),
        Figure("9. every region", f"{name}: the regions listed, max-parallel 17, against "
               "the slowest region alone", wave * 1000, slowest * 1000, "ms", "—", None,
               "informative: the same one wave, the regions given", {}),
        Figure("9. every region", f"{name}: asking for the region list first, against the "
               "slowest region alone", listed * 1000, slowest * 1000, "ms", "—", None,
               "informative: DescribeRegions, then the one wave (a process's first call, "
               "or one after EC2_CONNECTOR_REGIONS_TTL_S)", {}),
    ]
