"""A fan-out on a terminal: each row says where it came from (REGION, and CONNECTOR when
there are several), and one line says how many of the calls answered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from tests.conftest import launch
from tests.harness.cli import run_cli, run_tty
from tests.harness.faults import free_port


def rows_by_id(lines: list[str], ids: list[str]) -> dict[str, list[str]]:
    return {i: line.split() for line in lines for i in ids if i in line}


def test_rows_carry_their_region_and_a_line_counts_the_regions(
    env: dict[str, str], ec2: Any, image_id: str, endpoint: str
) -> None:
    east = launch(ec2, image_id)
    west_ec2 = boto3.client("ec2", region_name="us-west-2", endpoint_url=endpoint)
    west_image = sorted(i["ImageId"] for i in west_ec2.describe_images(Owners=["amazon"])[
        "Images"])[0]
    west = launch(west_ec2, west_image, 2)
    shown = run_tty(env, "call", "describe-instances", "region=us-east-1,us-west-2",
                    columns=200)
    assert shown.returncode == 0, shown.stderr
    lines = shown.plain.splitlines()
    assert lines[0].split()[0] == "REGION" and "CONNECTOR" not in lines[0]
    rows = rows_by_id(lines, east + west)
    assert {i: r[0] for i, r in rows.items()} == {
        east[0]: "us-east-1", west[0]: "us-west-2", west[1]: "us-west-2"}
    assert "2 of 2 regions answered, 3 items" in lines
    chosen = run_tty(env, "call", "describe-instances", "region=us-east-1,us-west-2",
                     "--columns", "id,state", columns=200)
    assert chosen.plain.splitlines()[0].split() == ["ID", "STATE"]  # as chosen, no more
    text = run_cli(env, "call", "describe-instances", "region=us-east-1,us-west-2", "-o", "text")
    assert all("us-west-2" not in row.split("\t")[:1] for row in text.stdout.splitlines())


def test_several_connectors_and_one_that_fails(
    config: dict[str, Any], env: dict[str, str], ec2: Any, image_id: str, tmp_path: Path
) -> None:
    ids = launch(ec2, image_id)
    entry = config["connectors"]["aws-ec2"]
    dead = {**entry, "endpoint-url": f"http://127.0.0.1:{free_port()}", "max-attempts": 1}
    path = tmp_path / "several.json"
    path.write_text(json.dumps({"connectors": {"aws-ec2": entry, "other": entry,
                                               "dead": dead}}))
    env = {**env, "EC2_CONNECTOR_CONFIG": str(path)}
    both = run_tty(env, "call", "describe-instances", "connectors=aws-ec2,other", columns=200)
    assert both.returncode == 0, both.stderr
    lines = both.plain.splitlines()
    assert lines[0].split()[:2] == ["CONNECTOR", "REGION"]
    assert sorted(line.split()[0] for line in lines if ids[0] in line) == ["aws-ec2", "other"]
    assert "2 of 2 calls answered (1 region, 2 connectors), 2 items" in lines
    partial = run_tty(env, "call", "describe-instances", "connectors=aws-ec2,dead",
                      columns=200)
    assert partial.returncode == 8, partial.stderr
    assert "1 of 2 calls answered (1 region, 2 connectors), 1 item" in partial.plain.splitlines()
    assert "dead" in partial.stderr and len(partial.stderr.splitlines()) == 1
