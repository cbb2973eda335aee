"""What the job tests share: a clean broker, a workers' config (each store: tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness.calls import config_for
from tests.harness.redis import RedisServer


@pytest.fixture
def broker(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def config_file(endpoint: str, tmp_path: Path) -> Path:
    path = tmp_path / "workers.json"
    path.write_text(json.dumps(config_for(endpoint, region="us-east-1")))
    return path
