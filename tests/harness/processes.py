"""Stopping the child processes tests start, the same way everywhere."""

from __future__ import annotations

import subprocess
import sys
from typing import Any


def terminate(proc: subprocess.Popen[Any], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds; always reaped."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_cli_without(
    module: str, argv: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as on a machine where `module` (an optional extra) is not installed:
    None in sys.modules makes `import module` fail."""
    probe = (
        f"import sys; sys.modules[{module!r}] = None; from ec2_connector.cli import main; "
        f"sys.exit(main({argv!r}))"
    )
    return subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=timeout)
