"""A process's metrics in Prometheus' text format, through the `prometheus_client` library.

Each process that serves metrics (the service, a worker with `--metrics-port`) owns one
`Metrics`: its own `CollectorRegistry`, never the library's global one, so two apps (or
two tests) in one process count apart. Calls are counted as they end (a counter by
action and exitcode, a latency histogram, EC2 retries). What the process already
counts where it happens (the bulkheads' calls in flight and waiting; `Runtime.counts`:
throttle waits, jobs ended, leases seen lapsed, reruns, fencing refusals) is read by a
collector at scrape time, so nothing is counted twice.

Labels stay bounded: an action is a catalog name (anything else is `unknown`), an
exitcode one of the error tree's, a status one of a job's; never an id or a principal.
Only the service app and the worker import this module: the one-shot CLI never loads
the library.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from .actions import catalog
from .errors import InvalidRequest

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from .jobs.store import JobStore
    from .response import Response
    from .runtime import Runtime

PREFIX = "ec2_connector_"
# What generate_latest writes: Prometheus' text format 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a cached describe to a wait that runs for minutes.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Runtime.counts kinds, each a counter: (name, help, label name or "" for none).
COUNTED = (
    ("throttle_waits", "Requests to EC2 that waited for the shared request rate.", ""),
    ("throttle_wait_seconds", "Time requests to EC2 waited for the shared request rate.", ""),
    ("jobs_ended", "Jobs this process ran to their end and recorded, by status.", "status"),
    ("lease_expiries", "Jobs whose lease this process saw lapsed and marked interrupted.", ""),
    ("reruns", "Jobs this process queued again after their worker was lost.", ""),
    ("fencing_refusals", "Jobs this process stopped acting on: their lease had passed to "
     "another holder (nothing more sent, no result recorded).", ""),
)
# Label values shown from the start, at 0, so a rate over them has a series to start from.
SHOWN = {"jobs_ended": ("succeeded", "failed", "timed-out", "cancelled")}


class Reader(Collector):
    """A collector whose families are read from the process at scrape time."""

    def __init__(self, read: Callable[[], Iterable[Metric]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        return self.read()


class Metrics:
    """The registry of one process: calls counted as they end, the rest read at scrape."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry()
        # What the library's default registry shows of any process (this one is our own):
        # its CPU seconds, memory and open files, and the cyclic collector's passes.
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.calls = self.counter("calls", "Calls that ran or were refused at validation, "
                                  "by action and exitcode.", ("action", "exitcode"))
        self.latency = Histogram(
            PREFIX + "call_duration_seconds", "Time from a call's arrival to its answer (a "
            "job: from its claim to its recorded end), by action.", ("action",),
            buckets=BUCKETS, registry=self.registry)
        self.retries = self.counter("ec2_retries", "Requests to EC2 sent again (throttled, or "
                                    "a transient failure), by action.", ("action",))
        self.read(self._runtime_families)
        # A job this process runs (a worker's, or one on the service's own threads) is a
        # call when it ends and is recorded, with its own exit code.
        runtime.job_observers.append(self._job_ended)

    def _job_ended(self, response: Response, seconds: float) -> None:
        self.observe_call(response.meta.get("action"), response.exitcode, seconds,
                          response.meta)

    def counter(self, name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
        """A counter in this registry (`name` without the prefix or `_total`)."""
        return Counter(PREFIX + name, doc, tuple(labels), registry=self.registry)

    def read(self, read: Callable[[], Iterable[Metric]]) -> None:
        """Add families read at each scrape."""
        self.registry.register(Reader(read))

    def observe_call(self, action: Any, exitcode: int, seconds: float,
                     meta: Mapping[str, Any] | None = None) -> None:
        """One call of `action` (any name; an alias counts as its action) ended: count
        it, its time, and the requests EC2 had to be sent again."""
        name = known_action(action) or "unknown"
        self.calls.labels(name, str(exitcode)).inc()
        self.latency.labels(name).observe(seconds)
        attempts = (meta or {}).get("attempts")
        if isinstance(attempts, int) and attempts > 1:
            self.retries.labels(name).inc(attempts - 1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> Served:
        """Serve the exposition over HTTP from threads of this process (OSError if the
        address cannot be listened on)."""
        server, thread = start_http_server(port, host, self.registry)
        return Served(server, thread)

    def _runtime_families(self) -> Iterable[Metric]:
        bulkheads = self.runtime.bulkheads
        yield gauge("calls_in_flight", "Calls to EC2 in flight, every endpoint.",
                    bulkheads.in_flight())
        yield gauge("calls_waiting", "Calls waiting for a place in their endpoint's bulkhead.",
                    bulkheads.waiting())
        yield gauge("gc_frozen_objects", "Objects start-up built, kept out of the cyclic "
                    "collector's passes (0 unless a long-running process settled).",
                    gc.get_freeze_count())
        counts = self.runtime.counts
        for kind, doc, label in COUNTED:
            family = CounterMetricFamily(PREFIX + kind, doc, labels=[label] if label else None)
            seen = counts.of(kind)
            if label:
                for value in sorted({*SHOWN.get(kind, ()), *seen}):
                    family.add_metric([value], seen.get(value, 0))
            else:
                family.add_metric([], seen.get("", 0))
            yield family


class Served:
    """The exposition served over HTTP; `close` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        self.port = int(server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def known_action(action: Any) -> str | None:
    """The catalog's name for `action` (an alias gives its action), None if unknown."""
    if not action or not isinstance(action, str):
        return None
    try:
        return catalog.get(action).name
    except InvalidRequest:
        return None


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    """A gauge without labels, read now."""
    return GaugeMetricFamily(PREFIX + name, doc, value=value)


def jobs_by_status(store: JobStore, window: int = 10_000) -> GaugeMetricFamily:
    """Jobs queued and running in the store (at most `window` of each): the queue depth."""
    family = GaugeMetricFamily(PREFIX + "jobs", "Jobs in the store that are queued or "
                               "running (the queue depth).", labels=["status"])
    for status in ("queued", "running"):
        family.add_metric([status], len(store.list(window, status)))
    return family
