"""The job store: records without secrets, and recovery of jobs whose process died."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ec2_connector.store import JobRecord, JobStatus, JobStore, owner_alive, process_identity


def dead_owner() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = process_identity(child.pid)
    child.wait()
    return owner


def test_owner_identity() -> None:
    assert owner_alive(process_identity())
    assert not owner_alive(dead_owner())
    assert not owner_alive("not-a-pid")


def test_recovery_says_what_may_have_happened(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    gone = dead_owner()
    records = [
        JobRecord("queued1", "aws-ec2", "stop-instances", {"instance-id": "i-12345678"}, None,
                  owner=gone),
        JobRecord("running1", "aws-ec2", "create-instance", {"client-token": "tok-1"}, None,
                  status=JobStatus.RUNNING, owner=gone),
        JobRecord("running2", "aws-ec2", "terminate-instances", {}, None,
                  status=JobStatus.RUNNING, owner=gone, secrets_held=True),
        JobRecord("alive1", "aws-ec2", "list-instances", {}, None, status=JobStatus.RUNNING,
                  owner=process_identity()),
    ]
    for record in records:
        store.add(record)
    store.close()

    reopened = JobStore(tmp_path)
    queued, running, secret, alive = (reopened.get(r.id) for r in records)
    assert queued and queued.status is JobStatus.INTERRUPTED
    assert "before it started: nothing was sent to EC2" in (queued.message or "")
    assert running and running.status is JobStatus.INTERRUPTED
    assert "may or may not have reached EC2" in (running.message or "")
    assert "client-token 'tok-1'" in (running.message or "")
    assert secret and "cannot be resumed without the credentials" in (secret.message or "")
    assert alive and alive.status is JobStatus.RUNNING  # its process still runs
    assert [r.id for r in reopened.list(status="interrupted")] != []
    reopened.close()
