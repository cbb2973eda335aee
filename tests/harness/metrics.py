"""A metrics exposition read back as Prometheus reads it: `prometheus_client`'s own parser,
and the checks a scraper makes where that parser is lax."""

from __future__ import annotations

import math

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, tuple[tuple[str, str], ...]]  # a sample's name and its sorted labels
Values = dict[Key, float]


def key(name: str, **labels: str) -> Key:
    return "ec2_connector_" + name, tuple(sorted(labels.items()))


def parse(text: str) -> Values:
    """The exposition as Prometheus' client library reads it, checked where that parser is
    lax: every family documented and typed (a sample outside its declared family comes
    back untyped), each named once, a histogram's buckets cumulative and ending at +Inf
    with its count."""
    assert text.endswith("\n")
    families = list(text_string_to_metric_families(text))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), names
    values: Values = {}
    for family in families:
        assert family.type in ("counter", "gauge", "histogram"), family.name
        assert family.documentation, family.name
        for sample in family.samples:
            values[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
        if family.type == "histogram":
            check_buckets(family)
    return values


def check_buckets(family: Metric) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts = {}
    for sample in family.samples:
        labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        if sample.name.endswith("_bucket"):
            series.setdefault(labels, []).append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            counts[labels] = sample.value
    assert series.keys() == counts.keys(), family.name
    for labels, buckets in series.items():
        cumulative = [count for _, count in sorted(buckets)]
        assert cumulative == sorted(cumulative), (family.name, labels)
        assert max(buckets)[0] == math.inf and cumulative[-1] == counts[labels]


def scrape(client: httpx.Client, path: str = "/metrics") -> Values:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def grown(before: Values, after: Values, name: str) -> dict[tuple[str, ...], float]:
    """How much each series of the metric `name` grew, by its label values."""
    full = "ec2_connector_" + name
    return {tuple(v for _, v in labels): after[k] - before.get(k, 0.0)
            for k in after if k[0] == full and after[k] != before.get(k, 0.0)
            for labels in (k[1],)}


def series(values: Values, name: str) -> dict[tuple[str, ...], float]:
    """The series of the metric `name` by their label values (what `grown` is from zero)."""
    return grown({}, values, name) | {
        tuple(v for _, v in k[1]): 0.0 for k, v in values.items()
        if k[0] == "ec2_connector_" + name and v == 0}


# What a label may hold: a name from a short fixed list, never an id or a principal
# (`generation`: the collector's, 0 to 2).
LABELS = {"action", "exitcode", "le", "rule", "code", "status", "outcome", "generation"}


def label_values(values: Values) -> dict[str, set[str]]:
    """Every label's values in an exposition, by label name."""
    seen: dict[str, set[str]] = {}
    for _, labels in values:
        for name, value in labels:
            seen.setdefault(name, set()).add(value)
    return seen
