"""What the job tests share: the same tests against every store implementation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ec2_connector.jobs.store import SQLiteJobStore


@pytest.fixture(params=["sqlite", "redis"])
def job_store(request: Any, tmp_path: Path) -> Iterator[Any]:
    """Each store, empty: SQLite in a fresh folder, Redis flushed."""
    if request.param == "sqlite":
        made: Any = SQLiteJobStore(tmp_path)
    else:
        from ec2_connector.jobs.redis import RedisJobStore

        server = request.getfixturevalue("redis_server")
        server.flush()
        made = RedisJobStore(server.url)
    yield made
    made.close()
