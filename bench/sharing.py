"""Benchmark 11: row 3 (service throughput) with roles, audit and metrics on, against off.

Two services on the same canned endpoint, interleaved round by round: "off" has no
token, no principals, no audit file and counts no metrics (as before issue 20); "on"
has three principals and the legacy token (so every request checks four token hashes),
an operator's limits checked on every call, one audit line written per call and the
metrics counted (prometheus_client; the note says how many calls /metrics shows). Goal:
"on" within 5 % of "off". On a shared machine throughput swings by a third from one
round to the next, so the row also reports what load does not move: the CPU time the
service process spends per call (utime + stime from /proc, over the calls it answered).
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.endpoints import CannedProcess, connector_config
from bench.measure import Figure, interleaved, median
from bench.throughput import BODY, INSTANCES, PATH, hammer
from ec2_connector.service.principals import hash_token
from tests.harness.service import ServiceProcess

TOKEN = "bench-operator-token-0123456789abcdefghijklmnop"


def worker(port: int, token: str | None) -> Callable[[float], int]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def work(deadline: float) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        done = 0
        try:
            while time.perf_counter() < deadline:
                conn.request("POST", PATH, BODY, headers)
                answer = conn.getresponse()
                payload = answer.read()
                if answer.status != 200 or b'"exitcode": 0' not in payload[:40]:
                    raise RuntimeError(f"service answered {answer.status}: {payload[:300]!r}")
                done += 1
        finally:
            conn.close()
        return done

    return work


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def costed(service: ServiceProcess, token: str | None, seconds: float,
           cpu: list[float]) -> Callable[[], float]:
    """A round's throughput; its CPU ms per call go to `cpu`."""
    def round_() -> float:
        before = cpu_s(service.pid)
        rate = hammer(worker(service.port, token), seconds)
        cpu.append((cpu_s(service.pid) - before) * 1000 / max(rate * seconds, 1))
        return rate

    return round_


def counted(port: int) -> int:
    """The calls the service's /metrics shows, read with Prometheus' own parser."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples if sample.name == "ec2_connector_calls_total"))


def shared_config(url: str) -> dict[str, Any]:
    config = connector_config(url)
    config["principals"] = {
        "ops": {"token-hash": hash_token(TOKEN), "role": "operator", "max-targets": 10,
                "actions": ["describe-*", "stop-*"], "connectors": ["aws-ec2"]},
        "viewer": {"token-hash": hash_token("another-token"), "role": "viewer"},
        "boss": {"token-hash": hash_token("a-third-token"), "role": "admin"},
    }
    return config


def run(rounds: int = 3, seconds: float = 4.0) -> list[Figure]:
    figures = []
    with tempfile.TemporaryDirectory() as work, CannedProcess(instances=INSTANCES) as canned:
        root = Path(work)
        audit = root / "audit.jsonl"
        off = ServiceProcess(root / "off", connector_config(canned.url),
                             env={"EC2_CONNECTOR_METRICS": "off"})
        on = ServiceProcess(root / "on", shared_config(canned.url), token="legacy-bench-token",
                            env={"EC2_CONNECTOR_AUDIT_FILE": str(audit)})
        with off, on:
            for delay in (50, 0):
                canned.set_delay(delay)
                cpu: dict[str, list[float]] = {"on": [], "off": []}
                variants = {"on": costed(on, TOKEN, seconds, cpu["on"]),
                            "off": costed(off, None, seconds, cpu["off"])}
                for variant in variants.values():
                    variant()  # warm up
                    del cpu["on"][:], cpu["off"][:]
                results = interleaved(variants, rounds)
                ours, base = median(results["on"]), median(results["off"])
                figures.append(Figure(
                    "11. shared service", f"row 3 with roles+audit+metrics, {delay} ms delay",
                    ours, base, "calls/s", "≥ 0.95x", ours / base >= 0.95,
                    f"{sum(1 for _ in audit.open())} audit lines written, "
                    f"{counted(on.port)} calls counted in /metrics",
                    {"on": results["on"], "off": results["off"]}))
                ours, base = median(cpu["on"]), median(cpu["off"])
                figures.append(Figure(
                    "11. shared service", f"service CPU per call, {delay} ms delay", ours, base,
                    "ms", "≤ 1.05x", ours / base <= 1.05, "", cpu))
    return figures


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure.__dict__, default=str))
