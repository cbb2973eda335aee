"""`python -m bench`: run the benchmarks, update docs/benchmarks.md.

    python -m bench                 all benchmarks (~5 min on 2 cores)
    python -m bench --quick         fewer rounds, for a smoke run
    python -m bench --only 1,3      some benchmarks only: their rows replaced, the rest kept
    python -m bench --render-only   rewrite the doc from bench/results.json

bench/results.json keeps the raw figures of every row of the doc, each with the date it
was measured; a run merges its figures into it (`report.merge`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import profiles, report
from bench.measure import machine
from bench.suite import BENCHMARKS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results.json"


def one_pass(only: str, quick: bool) -> list[dict[str, Any]]:
    """Run the benchmarks in a fresh process; return its figures."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "figures.json"
        command = [sys.executable, "-m", "bench.suite", str(out), "--only", only]
        subprocess.run(command + (["--quick"] if quick else []), cwd=ROOT, check=True)
        figures: list[dict[str, Any]] = json.loads(out.read_text())
        return figures


def missed(figures: list[dict[str, Any]]) -> list[str]:
    return sorted({f["bench"].split(".")[0] for f in figures if f["met"] is False})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-profiles", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    run = json.loads(RESULTS.read_text()) if args.render_only else measure(args, argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report.write(out, **run)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def measure(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """Run the pass and the profiles; merge them into bench/results.json."""
    started = time.perf_counter()
    figures = one_pass(args.only, args.quick)
    if args.quick:
        figures = [{**f, "note": (f["note"] + " (quick run)").strip()} for f in figures]
    found = {} if args.no_profiles else profiles.run(missed(figures))
    words = " ".join(argv if argv is not None else sys.argv[1:])
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    before = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    ran = args.only.split(",")
    run = {"machine": machine(), "command": f"python -m bench {words}".strip(),
           "minutes": (time.perf_counter() - started) / 60,
           "figures": report.merge(before.get("figures", []), figures, ran, date),
           "profiles": report.merge_profiles(before.get("profiles", {}), found, ran),
           "date": date}
    RESULTS.write_text(json.dumps(run, indent=1))
    return run


if __name__ == "__main__":
    sys.exit(main())
