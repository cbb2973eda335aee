"""docs/benchmarks.md: the machine, the command, the figures against their goals, the rest.

The page keeps a row for every benchmark ever run: a run of some of them (`--only 2`)
replaces their rows and keeps the others, each row with the date it was measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

NOTES = Path(__file__).resolve().parent / "notes.md"


def _num(value: float, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:,.{digits}f} {unit}"


def _ratio(row: dict[str, Any]) -> str:
    base = row["baseline"]
    if not base or math.isnan(base) or math.isnan(row["ours"]):
        return "—"
    return f"{row['ours'] / base:.2f}x"


def _met(row: dict[str, Any]) -> str:
    return {True: "yes", False: "**no**", None: "—"}[row["met"]]


def number(row: dict[str, Any]) -> str:
    """The benchmark a row belongs to: "2" for "2. one-shot", as `--only` names it."""
    return str(row["bench"]).split(".")[0]


def merge(kept: list[dict[str, Any]], fresh: list[dict[str, Any]], ran: Iterable[str],
          date: str) -> list[dict[str, Any]]:
    """The rows of a page after a run: every row of the benchmarks that ran is replaced by
    what the run measured (dated `date`), every other row is kept with its own date.

    A benchmark that ran replaces all its rows, not row by row, so a measurement it no
    longer makes does not linger with an old figure."""
    ran = set(ran)
    rows = [row for row in kept if number(row) not in ran]
    rows += [{**row, "date": row.get("date") or date} for row in fresh]
    return sorted(rows, key=lambda row: int(number(row)))  # stable: a benchmark's own order


def merge_profiles(kept: dict[str, str], fresh: dict[str, str],
                   ran: Iterable[str]) -> dict[str, str]:
    """Profiles of missed goals, by benchmark: those that ran are replaced, or dropped if
    the goal is now met."""
    ran = set(ran)
    return {**{name: text for name, text in kept.items() if name not in ran}, **fresh}


def results_table(figures: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | measurement | ec2-connector | baseline | ratio | goal | met | notes "
             "| measured (UTC) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in figures:
        cells = [row["bench"], row["name"], _num(row["ours"], row["unit"]),
                 _num(row["baseline"], row["unit"]), _ratio(row), row["goal"], _met(row),
                 row["note"], str(row.get("date", "—")).removesuffix(" UTC")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def samples_section(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        parts = [f"{name}: " + ", ".join(f"{v:.4g}" for v in values)
                 for name, values in row["samples"].items()]
        if parts:
            lines.append(f"- {row['bench']} / {row['name']} — " + "; ".join(parts))
    return "\n".join(lines)


def write(path: Path, *, machine: dict[str, str], command: str, minutes: float,
          figures: list[dict[str, Any]], profiles: dict[str, str], date: str) -> None:
    parts = [
        "# Benchmarks",
        "",
        "ec2-connector against plain boto3 and the AWS CLI (issue 5), measured side by side "
        "in the same run: each figure is the median of interleaved rounds (ABBA order), "
        "next to its baseline. All traffic is on loopback: moto's server, or the canned "
        "EC2 endpoint of tests/harness/canned.py run in its own process.",
        "",
        "Reproduce: `./dev bench` (every benchmark, ~5 min on 2 cores) or `./dev bench "
        "--only 1,3` (some of them: their rows are replaced, the others kept). Each row says "
        f"when it was measured. The last run: `{command}`, {minutes:.1f} min, {date}.",
        "",
        "## Machine",
        "",
        "The machine of the last run:",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
        "## Results",
        "",
        "Baselines: (1) a reused plain boto3 client, (2) `aws ec2 describe-instances` "
        "(AWS CLI v1), (3) 16 threads on one shared boto3 client, (4) a loop of sync "
        "calls, (5) boto3's paginator; (6) is not one of the issue's benchmarks: how far "
        "past its timeout a call against a silent endpoint returns.",
        "",
        results_table(figures),
        "",
    ]
    if profiles:
        parts += ["## Profiles of missed goals", ""]
        for name, text in sorted(profiles.items()):
            parts += [f"### Benchmark {name}", "", text, ""]
    if NOTES.exists():
        parts += [NOTES.read_text().strip(), ""]
    parts += ["## Rounds", "", samples_section(figures), ""]
    path.write_text("\n".join(parts))
