"""Benchmark 5: an account with 10,000 instances, time and peak memory.

describe-instances over 10,000 instances (10 pages of 1,000) through `Call(...).sync()`
against boto3's paginator collecting the same instances, each in a fresh process so the
peak RSS is its own. Then the CLI with `--output ndjson` at 1,000 and at 10,000
instances: in bounded memory its peak RSS stays flat, and streaming prints the first line
after the first page, long before the last. And one 1,000-instance page through
`sync()` against one `describe_instances` of plain boto3, in this process, clients reused.
Goals (issue 19): 10,000 instances in ≤ 0.3x the paginator's time and ≤ 0.5x its peak
memory; one 1,000-instance page in ≤ 0.3x boto3's time; the CLI in bounded memory.

The CLI's peak is its own: it is started by a small launcher process (`LAUNCHER`, the
interpreter without site, ~10 MiB) whose `wait4` reads the CLI's `ru_maxrss`. A child's
`ru_maxrss` starts from what its parent had resident when it forked, so read from this
process (hundreds of MiB after the runs above) it would be this process's peak instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.endpoints import BENCH_ENV, CannedProcess, boto3_client, connector_config
from bench.measure import Figure, interleaved, median, peak_rss_kb, rss_kb

BIG = 10_000
SMALL = 1_000
BOUNDED = 1.1  # 10x the instances, at most this much more memory: not proportional to N
TIME_GOAL, MEMORY_GOAL, PAGE_GOAL = 0.3, 0.5, 0.3
PAGE_CALLS = 3  # describes of one 1,000-instance page per variant and round
ROOT = Path(__file__).resolve().parents[1]


def collect_ours(url: str) -> int:
    from ec2_connector import Call

    response = Call(config=connector_config(url)).connector("aws-ec2") \
        .set("action", "describe-instances").timeout(600_000).sync()
    if response.exitcode != 0:
        raise RuntimeError(response.message)
    return len(response.get("instances-info"))


def collect_boto3(url: str) -> int:
    from bench.endpoints import boto3_client

    pages = boto3_client(url).get_paginator("describe_instances").paginate(
        PaginationConfig={"PageSize": 1000})
    return len([i for page in pages for r in page["Reservations"] for i in r["Instances"]])


def child(kind: str, url: str) -> None:
    """In a fresh process: collect, then print seconds, peak RSS and the count as JSON."""
    import boto3  # noqa: F401  (imports are not part of the measured time)

    import ec2_connector  # noqa: F401

    base_kb = rss_kb()
    started = time.perf_counter()
    count = (collect_ours if kind == "ours" else collect_boto3)(url)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_kb": peak_rss_kb(), "count": count,
                      "base_kb": base_kb}))


def in_child(kind: str, url: str) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-m", "bench.bigaccount", kind, url], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    found: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    if found["count"] != BIG:
        raise RuntimeError(f"{kind} collected {found['count']} instances, not {BIG}")
    return found


# Run with `python -S -c`: spawns argv[2:], waits, writes the child's exit code and its
# ru_maxrss, then its own peak (VmHWM: its own ru_maxrss would carry over what the process
# that started it had when it forked) to argv[1].
LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open("/proc/self/status") as status_file:
    own = next(line.split()[1] for line in status_file if line.startswith("VmHWM:"))
with open(sys.argv[1], "w") as out:
    out.write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {own}")
"""


def cli_run(url: str, home: str) -> dict[str, float]:
    """`ec2-connector call describe-instances --output ndjson`: first line, total, the CLI's
    own peak RSS (and the launcher's, to show it is small)."""
    command = [str(Path(sys.executable).parent / "ec2-connector"), "call", "describe-instances",
               f"endpoint-url={url}", "--output", "ndjson", "--timeout", "600000"]
    env = {**os.environ, **BENCH_ENV, "EC2_CONNECTOR_HOME": home}
    with tempfile.TemporaryDirectory() as work:
        said = Path(work) / "rusage"
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-S", "-c", LAUNCHER, str(said), *command],
                                env=env, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        first = time.perf_counter() - started
        lines = 1 + sum(1 for _ in proc.stdout)
        proc.wait()
        total = time.perf_counter() - started
        proc.stdout.close()
        code, peak_kb, launcher_kb = (int(word) for word in said.read_text().split())
    if code != 0:
        raise RuntimeError(f"ec2-connector exited {code}")
    return {"first": first, "total": total, "peak_kb": float(peak_kb), "lines": lines,
            "launcher_kb": float(launcher_kb)}


def run(rounds: int = 3) -> list[Figure]:
    with CannedProcess(instances=BIG) as big:
        samples: dict[str, list[dict[str, float]]] = {"ours": [], "boto3": []}

        def sample(kind: str) -> float:
            samples[kind].append(in_child(kind, big.url))
            return samples[kind][-1]["seconds"]

        interleaved({kind: partial(sample, kind) for kind in samples}, rounds)
        with tempfile.TemporaryDirectory() as home, CannedProcess(instances=SMALL) as small:
            cli = {"small": cli_run(small.url, home), "big": cli_run(big.url, home)}
            page = one_page(small.url, rounds * 2)
    return [*_figures(samples, cli), page]


def one_page(url: str, rounds: int) -> Figure:
    """One 1,000-instance page: `sync()` against plain boto3's describe_instances, each
    with its client made and used once before the rounds; seconds per call."""
    from ec2_connector import Call

    call, client = Call(config=connector_config(url)), boto3_client(url)

    def ours() -> None:
        response = call.connector("aws-ec2").set("action", "describe-instances") \
            .timeout(600_000).sync()
        if response.exitcode != 0 or len(response.get("instances-info")) != SMALL:
            raise RuntimeError(response.message)

    def boto3() -> None:
        if len(client.describe_instances(MaxResults=1000)["Reservations"]) != SMALL:
            raise RuntimeError("boto3 did not get the page")

    def timed(fn: Callable[[], None]) -> float:
        started = time.perf_counter()
        for _ in range(PAGE_CALLS):
            fn()
        return (time.perf_counter() - started) / PAGE_CALLS

    ours()  # clients, connections, compiled functions
    boto3()
    results = interleaved({"ours": partial(timed, ours), "boto3": partial(timed, boto3)},
                          rounds)
    try:
        mine, base = median(results["ours"]), median(results["boto3"])
        return Figure("5. big account", f"describe {SMALL:,} instances (one page), sync()",
                      mine * 1000, base * 1000, "ms", f"≤ {PAGE_GOAL}x",
                      mine <= PAGE_GOAL * base,
                      f"plain boto3's describe_instances on a reused client; "
                      f"{PAGE_CALLS} calls a round, {rounds} rounds", results)
    finally:
        call.close()


def _base_mib(samples: dict[str, list[dict[str, float]]]) -> float:
    return median([s["base_kb"] for v in samples.values() for s in v]) / 1024


def _figures(samples: dict[str, list[dict[str, float]]],
             cli: dict[str, dict[str, float]]) -> list[Figure]:
    def med(kind: str, key: str) -> float:
        return median([s[key] for s in samples[kind]])

    seconds = {k: [s["seconds"] for s in v] for k, v in samples.items()}
    peaks = {k: [s["peak_kb"] / 1024 for s in v] for k, v in samples.items()}
    ours_s, base_s = med("ours", "seconds"), med("boto3", "seconds")
    ours_m, base_m = med("ours", "peak_kb") / 1024, med("boto3", "peak_kb") / 1024
    small, big = cli["small"]["peak_kb"] / 1024, cli["big"]["peak_kb"] / 1024
    per_instance_kb = (big - small) * 1024 / (BIG - SMALL)  # reported, allocator noise
    first, total = cli["big"]["first"], cli["big"]["total"]
    launcher = max(c["launcher_kb"] for c in cli.values()) / 1024
    return [
        Figure("5. big account", f"describe {BIG:,} instances: time", ours_s, base_s, "s",
               f"≤ {TIME_GOAL}x", ours_s <= base_s * TIME_GOAL,
               "paged by 1,000; each in a fresh process", seconds),
        Figure("5. big account", f"describe {BIG:,} instances: peak RSS", ours_m, base_m, "MiB",
               f"≤ {MEMORY_GOAL}x", ours_m <= base_m * MEMORY_GOAL,
               f"the process's own peak; after imports ~{_base_mib(samples):.0f} MiB", peaks),
        Figure("5. big account", f"CLI --output ndjson: peak RSS {BIG:,} vs {SMALL:,}", big,
               small, "MiB", f"bounded (≤ {BOUNDED}x for 10x the instances)",
               big <= small * BOUNDED,
               f"baseline column: the same command at {SMALL:,} instances; the CLI "
               f"process's own peak (launcher {launcher:.0f} MiB); "
               f"{per_instance_kb:.2f} KiB more per instance"),
        Figure("5. big account", f"CLI --output ndjson, {BIG:,} instances: first line", first,
               total, "s", "streams (≤ 0.3x)", first <= 0.3 * total,
               f"baseline column: the whole command; {int(cli['big']['lines']):,} lines"),
    ]


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2])
