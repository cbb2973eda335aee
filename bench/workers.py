"""Benchmark 7: jobs on Celery workers (Redis broker and store) against the local pool.

`describe-instances` jobs against the canned endpoint with 50 ms per request, from the
first submit to the last result read back from the store: with 1, 2 and 4 worker
processes (`ec2-connector worker --concurrency 16` each), and with the in-process pool
of 16 threads. Goals (issue 10): N workers at least 0.85·N times one worker's rate, and
one worker at least 0.85x the in-process pool. Also the submit latency of `async_()`
(p50 and p99) to Redis and to SQLite.

On a 2-core machine the worker count stops scaling once the CPUs are busy (each job
costs the submitter, the broker and a worker some CPU); the notes say so.

CPU (issue 19): one worker's CPU seconds per 1,000 `describe-instances` jobs, read from
the worker's /proc/PID/stat, against the worker of issue 19's "today" (the tree before
its first change, exported from git history: bench/today.py), each fed by its own code's
submitter, rounds interleaved ABBA with the same Redis and canned endpoint. Goal: at
least 30 % less. Beside it, informative: the compiled parser on and off
(`EC2_CONNECTOR_COMPILED_PARSER`), which keeps every other saving in its baseline.

Fencing (issue 16): `stop-instances` jobs (one mutating request each, so one fence
check each) on one worker with the check on and off (`EC2_CONNECTOR_FENCING`), rounds
interleaved ABBA in one run. Goal: the check costs under 5 % of a job. Beside it, the
Redis script calls per job, on and off (claim, the shared rate's tokens, the check,
finish, and kombu's record of the message taken and acknowledged): claim and finish
stay one round trip each, the check adds one, and at the benchmark's rate one call
takes the tokens of 16 requests.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import today
from bench.endpoints import CannedProcess, connector_config, instance_id
from bench.jobs import jobs_rate
from bench.measure import Figure, interleaved, median, ratio_interval
from ec2_connector import Call
from tests.harness.processes import terminate
from tests.harness.redis import RedisServer

DELAY_MS = 50
CONCURRENCY = 16


def start_workers(count: int, broker: str, config: Path, work: Path,
                  **settings: str) -> list[Any]:
    env_extra = {"EC2_CONNECTOR_CONFIG": str(config), "EC2_CONNECTOR_THROTTLE_RATE": "100000",
                 **settings}
    procs, logs = [], []
    for n in range(count):
        log = work / f"worker{count}-{n}.log"
        logs.append(log)
        with log.open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "ec2_connector.cli", "worker", "--broker", broker,
                 "--concurrency", str(CONCURRENCY)],
                env={**os.environ, **env_extra}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True))
    deadline = time.monotonic() + 60
    for proc, log in zip(procs, logs, strict=True):
        while b"ready" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                for started in procs:
                    terminate(started)
                raise RuntimeError(f"worker did not start: {log.read_text()[-1000:]}")
            time.sleep(0.1)
    return procs


def submit_latency_ms(call: Call, count: int) -> list[float]:
    builder = call.connector("aws-ec2").set("action", "describe-instances")
    samples, jobs = [], []
    for _ in range(count):
        started = time.perf_counter()
        jobs.append(builder.async_())
        samples.append((time.perf_counter() - started) * 1000)
    for job in jobs:
        job.wait(600_000)
    return samples


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


def run(rounds: int = 2, jobs: int = 1000, latency: int = 300) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp, \
            CannedProcess(instances=5, delay_ms=DELAY_MS) as canned:
        work = Path(tmp)
        redis = RedisServer()
        try:
            config = work / "connectors.json"
            config.write_text(json.dumps(connector_config(canned.url)))
            with Call(config=connector_config(canned.url), home=work / "home",
                      workers=CONCURRENCY) as local:
                jobs_rate(local, 50)
                pool = median([jobs_rate(local, jobs) for _ in range(rounds)])
                sqlite_ms = submit_latency_ms(local, latency)
            rates: dict[int, float] = {}
            redis_ms: list[float] = []
            for count in (1, 2, 4):
                procs = start_workers(count, redis.url, config, work)
                try:
                    with Call(config=connector_config(canned.url), broker=redis.url) as call:
                        jobs_rate(call, 50)
                        rates[count] = median([jobs_rate(call, jobs) for _ in range(rounds)])
                        if count == 1:
                            redis_ms = submit_latency_ms(call, latency)
                finally:
                    for proc in procs:
                        terminate(proc)
                redis.flush()
        finally:
            redis.stop()
    figures.append(Figure(
        "7. workers", f"1 worker vs in-process pool ({DELAY_MS} ms delay)", rates[1], pool,
        "jobs/s", "≥ 0.85x", rates[1] / pool >= 0.85,
        f"{jobs} jobs; concurrency {CONCURRENCY} each"))
    for count in (2, 4):
        figures.append(Figure(
            "7. workers", f"{count} workers vs 1 worker", rates[count], rates[1], "jobs/s",
            f"≥ {0.85 * count:.2f}x", rates[count] / rates[1] >= 0.85 * count,
            f"{jobs} jobs; the submitter, Redis and the workers share the machine's cores"))
    figures += fencing(rounds=max(2, rounds), jobs=max(100, jobs // 3))
    figures += worker_cpu(rounds=max(4, 2 * rounds), jobs=jobs)
    figures.append(Figure(
        "7. workers", "async_() submit latency p50, Redis vs SQLite",
        statistics.median(redis_ms), statistics.median(sqlite_ms), "ms", "informative", None,
        f"p99: Redis {p99(redis_ms):.2f} ms, SQLite {p99(sqlite_ms):.2f} ms; "
        f"{latency} submits each", {"redis": redis_ms, "sqlite": sqlite_ms}))
    return figures


def fencing(rounds: int = 4, jobs: int = 300) -> list[Figure]:
    """Fencing on vs off: stop-instances jobs on one worker, and Redis calls per job."""
    with tempfile.TemporaryDirectory() as tmp, \
            CannedProcess(instances=5, delay_ms=DELAY_MS) as canned:
        work = Path(tmp)
        redis = RedisServer()
        try:
            config = work / "connectors.json"
            config.write_text(json.dumps(connector_config(canned.url)))
            scripts: dict[str, list[float]] = {"on": [], "off": []}
            rates: dict[str, list[float]] = {"on": [], "off": []}

            def variant(name: str) -> Any:
                def sample() -> float:
                    procs = start_workers(1, redis.url, config, work,
                                          EC2_CONNECTOR_FENCING="1" if name == "on" else "0")
                    try:
                        with Call(config=connector_config(canned.url), broker=redis.url) as call:
                            _stop_jobs(call, 30)
                            before = _script_calls(redis)
                            rate, job_ms = _stop_jobs(call, jobs)
                            scripts[name].append((_script_calls(redis) - before) / jobs)
                            rates[name].append(rate)
                    finally:
                        for proc in procs:
                            terminate(proc)
                    redis.flush()
                    return job_ms
                return sample

            job_ms = interleaved({"on": variant("on"), "off": variant("off")}, rounds)
            check_ms = _check_ms(redis.url)
        finally:
            redis.stop()
    on, off = median(job_ms["on"]), median(job_ms["off"])
    return [
        Figure("7. workers", "fencing on vs off: a stop-instances job's time in the worker",
               on, off, "ms", "cost < 5 % of a job", on <= 1.05 * off,
               f"median claim → finish of {jobs} jobs x {rounds} rounds ABBA, one worker; "
               f"per round on {[round(v, 1) for v in job_ms['on']]}, off "
               f"{[round(v, 1) for v in job_ms['off']]}; jobs/s on {median(rates['on']):.0f}, "
               f"off {median(rates['off']):.0f}", {"on": job_ms["on"], "off": job_ms["off"]}),
        Figure("7. workers", "fencing: one check's round trip vs a job", check_ms, off,
               "ms", "< 5 %", check_ms < 0.05 * off,
               f"Redis script calls per job: on {median(scripts['on']):.2f}, off "
               f"{median(scripts['off']):.2f} (claim and finish: one each; kombu's record of "
               "the message, taken and acknowledged: one each; the rate's tokens: one call "
               "per 16 requests at this rate; the check: one per mutating request)",
               {"script-calls-on": scripts["on"], "script-calls-off": scripts["off"]}),
    ]


def _stop_jobs(call: Call, count: int) -> tuple[float, float]:
    """Jobs per second, and the median claim → finish time of a job (ms)."""
    builder = call.connector("aws-ec2").set("action", "stop-instances") \
        .set("instance-id", [instance_id(0)])
    started = time.perf_counter()
    jobs = [builder.async_() for _ in range(count)]
    failed = [r.message for r in (job.wait(600_000) for job in jobs) if r.exitcode != 0]
    rate = count / (time.perf_counter() - started)
    if failed:
        raise RuntimeError(f"{len(failed)} jobs failed: {failed[0]}")
    records = [job.record() for job in jobs]
    return rate, median([((r.finished_at or 0) - (r.started_at or 0)) * 1000
                         for r in records])


def _script_calls(redis: RedisServer) -> int:
    import redis as client

    stats = client.Redis.from_url(redis.url).info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
               for name in ("evalsha", "eval"))


def _check_ms(url: str, count: int = 2000) -> float:
    """The median time of one fence check (`holds`) against this Redis."""
    from ec2_connector.jobs.record import JobRecord
    from ec2_connector.jobs.redis import RedisJobStore

    store = RedisJobStore(url)
    try:
        store.add(JobRecord("fence-bench", "aws-ec2", "stop-instances", {}, None))
        record = store.claim("fence-bench", "bench", 60)
        assert record is not None
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            store.holds("fence-bench", "bench", record.fence, 60)
            samples.append((time.perf_counter() - started) * 1000)
        return statistics.median(samples)
    finally:
        store.close()


def worker_cpu(rounds: int = 4, jobs: int = 1000) -> list[Figure]:
    """One worker's CPU seconds per 1,000 jobs: the current worker against the worker
    of issue 19's "today" (bench/today.py), and with the compiled parser on vs off."""
    with tempfile.TemporaryDirectory() as tmp, \
            CannedProcess(instances=5, delay_ms=0) as canned:
        work = Path(tmp)
        old = today.export(work / "today")
        redis = RedisServer()
        try:
            config = work / "connectors.json"
            config.write_text(json.dumps(connector_config(canned.url)))

            def variant(pythonpath: Path | None, **settings: str) -> Any:
                def sample() -> float:
                    code = {"PYTHONPATH": str(pythonpath or today.ROOT / "src")}
                    procs = start_workers(1, redis.url, config, work, **code, **settings)
                    try:
                        with today.Submitter(config, redis.url, pythonpath) as submitter:
                            submitter.batch(30)
                            before = _cpu_s(procs[0].pid)
                            submitter.batch(jobs)
                            return (_cpu_s(procs[0].pid) - before) * 1000 / jobs
                    finally:
                        for proc in procs:
                            terminate(proc)
                        redis.flush()
                return sample

            variants = {"on": variant(None, EC2_CONNECTOR_COMPILED_PARSER="on"),
                        "off": variant(None, EC2_CONNECTOR_COMPILED_PARSER="off")}
            if isinstance(old, Path):
                variants["today"] = variant(old)
            cpu = interleaved(variants, rounds)
        finally:
            redis.stop()
    setup = (f"{jobs} jobs x {rounds} rounds ABBA on one worker (concurrency {CONCURRENCY}), "
             "5 instances a page, no delay, each worker fed by its own code's submitter")
    on, off = median(cpu["on"]), median(cpu["off"])
    parser = Figure(
        "7. workers", "one worker's CPU per 1,000 describe jobs: compiled parser vs botocore's",
        on, off, "CPU s", "informative", None,
        f"{setup}; the baseline keeps every other saving since {today.TODAY}",
        {"on": cpu["on"], "off": cpu["off"]})
    name = f"one worker's CPU per 1,000 describe jobs: now vs today ({today.TODAY})"
    if not isinstance(old, Path):
        return [Figure("7. workers", name, on, float("nan"), "CPU s", "≤ 0.7x", None,
                       f"not measured: {old}"), parser]
    ratio, low, high = ratio_interval(cpu["on"], cpu["today"])
    return [Figure(
        "7. workers", name, on, median(cpu["today"]), "CPU s", "≤ 0.7x",
        on <= 0.7 * median(cpu["today"]),
        f"{setup}; today: the tree at {today.TODAY}, run from its exported src/ on the same "
        f"virtualenv; per-round ratio {ratio:.3f}x, 95 % CI [{low:.3f}, {high:.3f}]",
        {"now": cpu["on"], "today": cpu["today"]}), parser]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
