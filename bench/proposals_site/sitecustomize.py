"""Applies bench.proposals in a child process when the benchmark asks for it."""

import os

if os.environ.get("EC2_CONNECTOR_BENCH_PROPOSALS"):
    from bench import proposals

    proposals.apply()
