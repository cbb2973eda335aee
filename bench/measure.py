"""Timing, interleaving, statistics and the machine description shared by the benchmarks."""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

Sample = Callable[[], float]


@dataclass
class Figure:
    """One row of the results table: our figure, the baseline's, and the goal."""

    bench: str
    name: str
    ours: float
    baseline: float
    unit: str
    goal: str
    met: bool | None  # None: informative, no goal
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")


def interleaved(variants: Mapping[str, Sample], rounds: int) -> dict[str, list[float]]:
    """Run each variant once per round, alternating the order (ABBA) to cancel drift."""
    names = list(variants)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(rounds):
        order = names if round_no % 2 == 0 else names[::-1]
        for name in order:
            results[name].append(variants[name]())
    return results


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio_interval(ours: list[float], base: list[float], level: float = 0.95,
                   resamples: int = 4000) -> tuple[float, float, float]:
    """The median of the per-round ratios ours/base and its bootstrap interval.

    Rounds are paired (interleaved), so each round's ratio cancels the drift both
    variants saw; the interval is the percentile bootstrap of that median, with a fixed
    seed so a run's figures can be reproduced from its rounds.
    """
    ratios = [o / b for o, b in zip(ours, base, strict=True)]
    draw = random.Random(19)
    medians = sorted(statistics.median(draw.choices(ratios, k=len(ratios)))
                     for _ in range(resamples))
    tail = (1 - level) / 2
    return (statistics.median(ratios), medians[int(tail * resamples)],
            medians[min(resamples - 1, int((1 - tail) * resamples))])


def load_average() -> float:
    """The one-minute load average: how busy the machine was while a row ran."""
    return os.getloadavg()[0]


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Mean seconds per call over `calls` back-to-back calls."""
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls


def rss_kb(pid: int | None = None) -> int:
    """Resident set size of a process, from /proc."""
    return _status_field(pid, "VmRSS")


def peak_rss_kb(pid: int | None = None) -> int:
    """Peak resident set size (high-water mark) of a process, from /proc."""
    return _status_field(pid, "VmHWM")


def _status_field(pid: int | None, name: str) -> int:
    text = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    return {
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": _cpu_model(),
        "Kernel": platform.release(),
        "Python": platform.python_version(),
        **{name: _version(name) for name in ("boto3", "botocore", "moto", "awscli", "fastapi",
                                              "uvicorn")},
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
