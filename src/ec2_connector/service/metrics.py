"""The service's metrics: every process metric (ec2_connector/metrics.py), and what only
the service counts, in the same registry.

Counted as requests end: refusals by rule, HTTP answers by status code, jobs accepted,
completion callbacks by outcome. Read at scrape time: audit lines that could not be
written, principals, jobs queued and running in the store. Labels stay bounded: a rule
is one of a handful, a code an HTTP status, an outcome delivered or failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, Metric

from ..errors import ConnectorError
from ..metrics import CONTENT_TYPE, PREFIX, Metrics, gauge, jobs_by_status

if TYPE_CHECKING:
    from ..call import Call
    from .audit import AuditTrail
    from .principals import Principals

__all__ = ["CONTENT_TYPE", "ServiceMetrics"]


class ServiceMetrics(Metrics):
    """The metrics of one service process."""

    def __init__(self, call: Call, principals: Principals, trail: AuditTrail) -> None:
        super().__init__(call.runtime)
        self.refusals = self.counter("refusals", "Requests refused by a principal's role or "
                                     "limits, by rule.", ("rule",))
        self.responses = self.counter("http_responses", "HTTP answers, by status code.",
                                      ("code",))
        self.jobs_submitted = self.counter("jobs_submitted", "Jobs accepted by the service.")
        self.callbacks = self.counter("callbacks", "Completion callbacks, by outcome "
                                      "(delivered, failed after every attempt).", ("outcome",))
        self._call, self._principals, self._trail = call, principals, trail
        self.read(self._service_families)

    def _service_families(self) -> Iterable[Metric]:
        failures = CounterMetricFamily(PREFIX + "audit_write_failures",
                                       "Audit lines that could not be written.")
        failures.add_metric([], self._trail.failures)
        yield failures
        yield gauge("principals", "Principals the service knows.",
                    len(self._principals.by_name))
        with contextlib.suppress(ConnectorError):  # a store out of reach: no job gauge
            yield jobs_by_status(self._call.jobs.store)
