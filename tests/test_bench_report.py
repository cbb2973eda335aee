"""docs/benchmarks.md never loses rows: a run of some benchmarks replaces only their rows.

The merge and the page are our own code, fed two made-up result sets; no benchmark runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench import report
from bench.__main__ import RESULTS, main

EARLIER, LATER = "2026-11-27 11:15 UTC", "2026-12-07 03:00 UTC"
MACHINE = {"CPUs (nproc)": "2"}


def _row(bench: str, name: str, ours: float, date: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"bench": bench, "name": name, "ours": ours, "baseline": 100.0,
                           "unit": "ms", "goal": "≤ 1.0x", "met": ours <= 100, "note": "",
                           "samples": {"ours": [ours]}}
    return {**row, "date": date} if date else row


def _earlier_run() -> list[dict[str, Any]]:
    return [_row("1. call overhead", "describe", 90, EARLIER),
            _row("1. call overhead", "stop+start", 110, EARLIER),
            _row("2. one-shot", "call vs aws", 50, EARLIER),
            _row("2. one-shot", "a measurement no longer made", 60, EARLIER),
            _row("5. big account", "time", 64, EARLIER)]


def _later_run() -> list[dict[str, Any]]:  # `--only 3,2`: as the suite returns them
    return [_row("3. service throughput", "16 clients", 95), _row("2. one-shot", "call vs aws", 40)]


def test_a_run_replaces_the_rows_of_what_ran_and_keeps_the_others() -> None:
    merged = report.merge(_earlier_run(), _later_run(), ["3", "2"], LATER)
    assert [(r["bench"], r["name"], r["ours"], r["date"]) for r in merged] == [
        ("1. call overhead", "describe", 90, EARLIER),
        ("1. call overhead", "stop+start", 110, EARLIER),
        ("2. one-shot", "call vs aws", 40, LATER),
        ("3. service throughput", "16 clients", 95, LATER),
        ("5. big account", "time", 64, EARLIER),
    ]


def test_merging_into_nothing_dates_every_row() -> None:
    merged = report.merge([], _later_run(), ["2", "3"], LATER)
    assert [r["bench"] for r in merged] == ["2. one-shot", "3. service throughput"]
    assert {r["date"] for r in merged} == {LATER}


def test_profiles_of_what_ran_are_replaced_or_dropped() -> None:
    kept = {"1": "profile of 1", "2": "old profile of 2", "7": "profile of 7"}
    assert report.merge_profiles(kept, {"3": "profile of 3"}, ["2", "3"]) == {
        "1": "profile of 1", "7": "profile of 7", "3": "profile of 3"}


def test_the_page_shows_every_row_with_its_date(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    figures = report.merge(_earlier_run(), _later_run(), ["2", "3"], LATER)
    report.write(page, machine=MACHINE, command="python -m bench --only 2,3", minutes=0.5,
                 figures=figures, profiles={}, date=LATER)
    rows = [line for line in page.read_text().splitlines() if re.match(r"\| \d\. ", line)]
    assert len(rows) == 5
    assert rows[0].endswith("| 2026-11-27 11:15 |") and rows[2].endswith("| 2026-12-07 03:00 |")
    assert "40.0 ms" in rows[2] and "a measurement no longer made" not in page.read_text()


def test_the_stored_results_render_a_row_for_every_benchmark_they_hold(tmp_path: Path) -> None:
    stored = json.loads(RESULTS.read_text())
    page = tmp_path / "benchmarks.md"
    assert main(["--render-only", "--out", str(page)]) == 0
    text = page.read_text()
    for row in stored["figures"]:
        start = f"| {row['bench']} | {row['name']} |"
        line = next(x for x in text.splitlines() if x.startswith(start))
        assert line.endswith(f"| {row['date'].removesuffix(' UTC')} |")
