"""The CLI as a real subprocess: piped, and under a pseudo-terminal of a chosen width."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cli import clean_env


@pytest.fixture
def env(config: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(config))
    return {**clean_env(tmp_path / "home"), "EC2_CONNECTOR_CONFIG": str(path)}


