"""How a completion callback ended, kept in the job's record by both stores: written only
once the job has ended, read back as written, and absent (null) from a record written
before the field existed."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from pathlib import Path

import pytest

from ec2_connector.jobs.record import JobRecord, JobStatus
from ec2_connector.jobs.store import DONE, JobStore, SQLiteJobStore
from tests.harness.jobs import record

SAID = {"url": "http://127.0.0.1:9/hook", "attempts": 3, "outcome": "failed",
        "last-error": "answered 500", "at": "2026-01-01T00:00:00.000Z"}


@pytest.fixture
def store(job_store: JobStore) -> JobStore:
    return job_store  # each store implementation (tests/conftest.py)


def test_the_outcome_is_written_once_the_job_has_ended(store: JobStore) -> None:
    store.add(record("cb1"))
    assert store.claim("cb1", "me", 10) is not None
    assert not store.transition("cb1", DONE, callback=SAID)  # still running: not yet
    assert store.get("cb1").public()["callback"] is None  # type: ignore[union-attr]
    assert store.finish("cb1", "me", JobStatus.SUCCEEDED, "done", {"exitcode": 0})
    assert store.transition("cb1", DONE, callback=SAID)
    ended = store.get("cb1")
    assert ended is not None and ended.callback == SAID
    assert ended.public()["callback"] == SAID
    # Only that field changed.
    assert ended.status is JobStatus.SUCCEEDED and ended.response == {"exitcode": 0}


def test_a_store_from_before_the_field_reads_no_callback(tmp_path: Path) -> None:
    older = [f.name for f in fields(JobRecord) if f.name != "callback"]
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as db:
        db.execute(f"CREATE TABLE jobs ({', '.join(older)})")
        db.execute("INSERT INTO jobs (id, connector, action, params, timeout_ms, status, "
                   "created_at) VALUES ('old1', 'aws-ec2', 'describe-vpc', '{}', 5000, "
                   "'succeeded', 1000.0)")
    db.close()
    store = SQLiteJobStore(tmp_path)
    try:
        old = store.get("old1")
        assert old is not None and old.public()["callback"] is None
        assert store.transition("old1", DONE, callback=SAID)
        assert store.get("old1").callback == SAID  # type: ignore[union-attr]
    finally:
        store.close()
