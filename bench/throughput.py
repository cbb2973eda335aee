"""Benchmark 3: service throughput, 16 HTTP clients against 16 threads on one boto3 client.

Both call describe-instances on the canned endpoint (5 instances) with a 50 ms injected
delay (a region's round trip), then with none (CPU-bound). The service runs in its own
process under uvicorn; the load comes from keep-alive HTTP connections. Goal (issue 19):
at least 1.2x the direct throughput with the delay.
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.endpoints import CannedProcess, boto3_client, connector_config
from bench.measure import Figure, interleaved, median
from tests.harness.service import ServiceProcess

CLIENTS = 16
INSTANCES = 5
BODY = json.dumps({"action": "describe-instances"}).encode()
PATH = "/v1/connectors/aws-ec2/sync"


def hammer(worker: Callable[[float], int], seconds: float, clients: int = CLIENTS) -> float:
    """Run `worker(deadline)` on `clients` threads; return completed calls per second."""
    counts: list[int] = []
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds

    def run() -> None:
        done = worker(deadline)
        with lock:
            counts.append(done)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def service_worker(port: int) -> Callable[[float], int]:
    def work(deadline: float) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done = 0
        try:
            while time.perf_counter() < deadline:
                conn.request("POST", PATH, BODY, {"Content-Type": "application/json"})
                answer = conn.getresponse()
                payload = answer.read()
                if answer.status != 200 or b'"exitcode": 0' not in payload[:40]:
                    raise RuntimeError(f"service answered {answer.status}: {payload[:300]!r}")
                done += 1
        finally:
            conn.close()
        return done

    return work


def direct_worker(client: Any) -> Callable[[float], int]:
    def work(deadline: float) -> int:
        done = 0
        while time.perf_counter() < deadline:
            client.describe_instances(MaxResults=1000)
            done += 1
        return done

    return work


def measure(canned: CannedProcess, service: ServiceProcess, delay_ms: float, rounds: int,
            seconds: float) -> dict[str, list[float]]:
    canned.set_delay(delay_ms)
    client = boto3_client(canned.url, pool=CLIENTS * 2)
    variants = {
        "service": lambda: hammer(service_worker(service.port), seconds),
        "direct": lambda: hammer(direct_worker(client), seconds),
    }
    for worker in (service_worker(service.port), direct_worker(client)):
        hammer(worker, 1.0)  # warm up: connections, clients, caches
    return interleaved(variants, rounds)


def run(rounds: int = 3, seconds: float = 4.0) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as work, CannedProcess(instances=INSTANCES) as canned:
        config = connector_config(canned.url)
        with ServiceProcess(Path(work), config, log_level="INFO") as service:
            for delay, goal in ((50, "≥ 1.2x"), (0, "— (reported)")):
                results = measure(canned, service, delay, rounds, seconds)
                ours, base = median(results["service"]), median(results["direct"])
                met = ours / base >= 1.2 if delay else None
                figures.append(Figure(
                    "3. service throughput", f"16 clients, {delay} ms delay", ours, base,
                    "calls/s", goal, met, "", {"service": results["service"],
                                               "boto3": results["direct"]},
                ))
    return figures
