"""The service's metrics in Prometheus' text format (version 0.0.4), written by hand.

Counters and histograms are kept here, updated by the service as requests end; gauges
(calls in flight and waiting for a bulkhead place, jobs queued and running, audit
write failures) are read from what the runtime already knows when /metrics is scraped.
Labels stay bounded: an action is a catalog name (anything else is `unknown`), an
exitcode one of the error tree's, a refusal rule one of a handful; never an id or a
principal.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

PREFIX = "ec2_connector_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a cached describe to a wait that runs for minutes.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Counter:
    """A counter per combination of label values."""

    def __init__(self, name: str, doc: str, labels: Labels = ()) -> None:
        self.name, self.doc, self.label_names = PREFIX + name, doc, labels
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, *values: str, by: float = 1) -> None:
        with self._lock:
            self._values[values] = self._values.get(values, 0) + by

    def value(self, *values: str) -> float:
        return self._values.get(values, 0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        out = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} counter"]
        out += [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]
        return out


class Histogram:
    """A histogram (cumulative buckets, sum, count) per combination of label values."""

    def __init__(self, name: str, doc: str, labels: Labels = (),
                 buckets: Sequence[float] = BUCKETS) -> None:
        self.name, self.doc, self.label_names = PREFIX + name, doc, labels
        self.buckets = (*buckets, math.inf)
        self._values: dict[Labels, list[float]] = {}  # bucket counts, then sum
        self._lock = threading.Lock()

    def observe(self, seconds: float, *values: str) -> None:
        with self._lock:
            held = self._values.get(values)
            if held is None:
                held = self._values[values] = [0.0] * (len(self.buckets) + 1)
            for n, bound in enumerate(self.buckets):
                if seconds <= bound:
                    held[n] += 1
            held[-1] += seconds

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._values.items())
        out = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} histogram"]
        for key, held in items:
            for bound, count in zip(self.buckets, held, strict=False):
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} "
                           f"{_number(count)}")
            labels = _labels(self.label_names, key)
            out.append(f"{self.name}_sum{labels} {_number(held[-1])}")
            out.append(f"{self.name}_count{labels} {_number(held[len(self.buckets) - 1])}")
        return out


def gauge(name: str, doc: str, samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    """A gauge's lines, its samples read at scrape time."""
    full = PREFIX + name
    out = [f"# HELP {full} {doc}", f"# TYPE {full} gauge"]
    for labels, value in samples:
        out.append(f"{full}{_labels(list(labels), list(labels.values()))} {_number(value)}")
    return out


class ServiceMetrics:
    """What the service counts as requests end."""

    def __init__(self) -> None:
        self.calls = Counter("calls_total", "Calls that ran or were refused at validation, "
                             "by action and exitcode.", ("action", "exitcode"))
        self.latency = Histogram("call_duration_seconds", "Time from a call's arrival to its "
                                 "answer (a job: to its acceptance), by action.", ("action",))
        self.refusals = Counter("refusals_total", "Requests refused by a principal's role "
                                "or limits, by rule.", ("rule",))
        self.responses = Counter("http_responses_total", "HTTP answers, by status code.",
                                 ("code",))
        self.retries = Counter("ec2_retries_total", "Requests to EC2 sent again (throttled, "
                               "or a transient failure) by the service's calls, by action.",
                               ("action",))
        self.jobs_submitted = Counter("jobs_submitted_total", "Jobs accepted by the service.")
        self.callbacks = Counter("callbacks_total", "Completion callbacks, by outcome "
                                 "(delivered, failed after every attempt).", ("outcome",))

    def render(self, gauges: Iterable[list[str]] = ()) -> str:
        counted = (self.calls, self.latency, self.refusals, self.responses, self.retries,
                   self.jobs_submitted, self.callbacks)
        parts = [*(kind.lines() for kind in counted), *gauges]
        return "\n".join(line for part in parts for line in part) + "\n"
