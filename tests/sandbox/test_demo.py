"""`ec2-connector demo`: the README's main command, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ACTIONS = (
    "create-instance", "describe-instances", "create-tags", "create-security-group",
    "security-group-add-rule", "stop-instances", "start-instances", "reboot-instances",
    "terminate-instances",
)


def test_demo_runs_the_seed_flow_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EC2_CONNECTOR_", "AWS_"))}
    env["EC2_CONNECTOR_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "ec2_connector.cli", "demo"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if "ok    exitcode 0" in line]
    assert [next(a for a in ACTIONS if f" {a} " in line) for line in steps] == list(ACTIONS)
    assert "203.0.113.0/24" in result.stdout and "terminated" in steps[-1]
    assert "demo finished" in result.stdout and "FAIL" not in result.stdout
    assert "Traceback" not in result.stderr
