"""docs/benchmarks.md: the machine, the command, the figures against their goals, the rest."""

from __future__ import annotations

import math
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


def results_table(figures: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | measurement | ec2-connector | baseline | ratio | goal | met | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for row in figures:
        cells = [row["bench"], row["name"], _num(row["ours"], row["unit"]),
                 _num(row["baseline"], row["unit"]), _ratio(row), row["goal"], _met(row),
                 row["note"]]
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
        f"Reproduce: `.venv/bin/{command}` or `bash bench/run` (this run took "
        f"{minutes:.1f} min, {date}).",
        "",
        "## Machine",
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
