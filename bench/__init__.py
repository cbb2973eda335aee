"""Benchmarks of issue 5: the connector against boto3 and the AWS CLI, side by side.

Run them all with ``.venv/bin/python -m bench`` (or ``bash bench/run``); the results go
to docs/benchmarks.md. Every figure is measured next to its baseline in the same run,
in interleaved rounds, and reported as the median of the rounds and as a ratio.
"""
