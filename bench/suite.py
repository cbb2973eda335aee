"""One pass over the benchmarks, in its own process: `python -m bench.suite OUT.json`.

`python -m bench` runs it in a fresh process, so the figures never include the clients,
caches or imports left behind by the process that drives it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import (
    bigaccount,
    deadline,
    fanout,
    hung,
    jobs,
    oneshot,
    overhead,
    parser,
    sharing,
    throughput,
    workers,
)
from bench.measure import Figure, load_average

# name -> (full settings, quick settings)
BENCHMARKS: dict[str, tuple[Callable[..., list[Figure]], dict[str, int], dict[str, int]]] = {
    "1": (overhead.run, {"rounds": 16, "calls": 20, "budget": 120},
          {"rounds": 4, "calls": 5, "budget": 10}),
    "2": (oneshot.run, {"rounds": 15}, {"rounds": 3}),
    "3": (throughput.run, {"rounds": 3, "seconds": 4}, {"rounds": 1, "seconds": 2}),
    "4": (jobs.run, {"rounds": 3}, {"rounds": 1, "jobs": 300, "loop": 20}),
    "5": (bigaccount.run, {"rounds": 3}, {"rounds": 1}),
    "6": (deadline.run, {"rounds": 20}, {"rounds": 5}),
    "7": (workers.run, {"rounds": 2}, {"rounds": 1, "jobs": 300, "latency": 100}),
    "8": (hung.run, {"rounds": 5}, {"rounds": 1}),
    "9": (fanout.run, {"rounds": 5}, {"rounds": 2}),
    "10": (parser.run, {"rounds": 9}, {"rounds": 3}),
    "11": (sharing.run, {"rounds": 5, "seconds": 4}, {"rounds": 1, "seconds": 2}),
}


def run(only: list[str], quick: bool) -> list[dict[str, object]]:
    figures = []
    for name in only:
        fn, full, fast = BENCHMARKS[name]
        started, load = time.perf_counter(), load_average()
        found = fn(**(fast if quick else full))
        print(f"benchmark {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        figures += [dataclasses.asdict(with_load(f, load, load_average())) for f in found]
    return figures


def with_load(figure: Figure, before: float, after: float) -> Figure:
    """The figure with the machine's load average during its benchmark in its notes: on a
    shared two-core machine a ratio means little without it."""
    said = f"load average {before:.1f} → {after:.1f}"
    figure.note = f"{figure.note}; {said}" if figure.note else said
    return figure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    figures = run(args.only.split(","), args.quick)
    Path(args.out).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
