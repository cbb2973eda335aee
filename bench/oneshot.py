"""Benchmark 2: a one-shot command, whole-process wall time.

`ec2-connector call describe-instances ...` against `aws ec2 describe-instances ...` (the
AWS CLI v1, when installed) and, for reference, a three-line boto3 script and the
floor of any botocore-based call (FLOOR_SCRIPT), all against the canned endpoint. Goal:
at most 0.35 of the AWS CLI's time, judged on the median of the rounds' ratios.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.endpoints import BENCH_ENV, CannedProcess
from bench.measure import Figure, interleaved, median, ratio_interval

INSTANCES = 50
BIN = Path(sys.executable).parent
BOTO3_SCRIPT = (
    "import boto3, json, sys; c = boto3.client('ec2', endpoint_url=sys.argv[1]); "
    "print(json.dumps(c.describe_instances(MaxResults=1000), default=str))"
)
# What bounds the row: any one-shot call through botocore pays at least this. The
# interpreter, botocore's import, one session and client (with our trimmed model and
# compiled parser, argv[2] the catalog's operations), the call, its JSON, and an end
# without the interpreter's teardown, the collector held until the request (as the
# command does): none of the command's own modules, parsing, checks or rendering.
FLOOR_SCRIPT = (
    "import gc; gc.disable(); import json, os, sys, botocore.session; "
    "from ec2_connector.transport import model, xmlparser; "
    "s = botocore.session.Session(); model.install(s, sys.argv[2].split(',')); "
    "xmlparser.install(s); c = s.create_client('ec2', endpoint_url=sys.argv[1]); "
    "gc.freeze(); gc.enable(); r = c.describe_instances(MaxResults=1000); "
    "sys.stdout.write(json.dumps(r, default=str, indent=2)); sys.stdout.flush(); os._exit(0)"
)


def aws_cli() -> str | None:
    """The AWS CLI next to this interpreter, else on PATH; None when not installed."""
    local = BIN / "aws"
    return str(local) if local.exists() else shutil.which("aws")


def commands(url: str) -> dict[str, list[str]]:
    connector = str(BIN / "ec2-connector")
    found = {
        "ec2-connector": [connector, "call", "describe-instances", f"endpoint-url={url}"],
        "boto3 script": [sys.executable, "-c", BOTO3_SCRIPT, url],
        "floor": [sys.executable, "-c", FLOOR_SCRIPT, url, ",".join(operations())],
    }
    aws = aws_cli()
    if aws:
        found["aws cli"] = [aws, "ec2", "describe-instances", "--endpoint-url", url,
                            "--output", "json"]
    return found


def operations() -> list[str]:
    from ec2_connector.actions import catalog

    return catalog.operations()


def wall_time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr.decode()[-500:]}")
    return elapsed


def compile_package() -> None:
    """Our bytecode, as installing the package writes it: an editable checkout run with
    PYTHONDONTWRITEBYTECODE (as some shells and CI set it) would otherwise compile every
    module on every run, while the AWS CLI and boto3 start from their installed .pyc."""
    import compileall

    import ec2_connector

    compileall.compile_dir(str(Path(ec2_connector.__file__).parent), quiet=1)


def run(rounds: int = 15) -> list[Figure]:
    with tempfile.TemporaryDirectory() as home, CannedProcess(instances=INSTANCES) as canned:
        env = {**os.environ, **BENCH_ENV, "EC2_CONNECTOR_HOME": home}
        env.pop("EC2_CONNECTOR_CONFIG", None)
        variants = {name: partial(wall_time, command, env)
                    for name, command in commands(canned.url).items()}
        compile_package()
        for fn in variants.values():
            fn()  # warm the page cache and the .pyc files
        results = interleaved(variants, rounds)
    return _figures(results)


def _figures(results: dict[str, list[float]]) -> list[Figure]:
    ours = median(results["ec2-connector"]) * 1000
    script = median(results["boto3 script"]) * 1000
    figures = [Figure("2. one-shot", "vs a boto3 script (reference)", ours, script, "ms",
                      "—", None, "", {"ours": results["ec2-connector"],
                                      "boto3": results["boto3 script"]})]
    floor = median(results["floor"]) * 1000
    if "aws cli" in results:
        aws = median(results["aws cli"]) * 1000
        # Judged, as row 1, on the median of the per-round ratios: the AWS CLI's own time
        # drifts by 10-15 % over a run on a shared machine, and each round compares
        # commands run moments apart.
        ratio, low, high = ratio_interval(results["ec2-connector"], results["aws cli"])
        floor_ratio = ratio_interval(results["floor"], results["aws cli"])[0]
        note = (f"per-round ratio {ratio:.3f}x, 95 % CI [{low:.3f}, {high:.3f}] over "
                f"{len(results['aws cli'])} rounds; floor {floor:.0f} ms "
                f"({floor_ratio:.2f}x): the interpreter, botocore's import, one client and "
                "the call, ended at once (FLOOR_SCRIPT)")
        figures.insert(0, Figure("2. one-shot", "ec2-connector call vs aws ec2", ours, aws, "ms",
                                 "≤ 0.35x", ratio <= 0.35, note,
                                 {"ours": results["ec2-connector"], "aws": results["aws cli"],
                                  "floor": results["floor"]}))
    else:
        figures.insert(0, Figure("2. one-shot", "ec2-connector call vs aws ec2", ours,
                                 float("nan"), "ms", "≤ 0.35x", None,
                                 "AWS CLI not installed: `pip install awscli` to compare"))
    return figures
