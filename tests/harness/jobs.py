"""Job records as the job tests make them."""

from __future__ import annotations

from typing import Any

from ec2_connector.jobs.record import JobRecord


def record(job_id: str, **values: Any) -> JobRecord:
    fields: dict[str, Any] = {"connector": "aws-ec2", "action": "list-instances",
                              "params": {"filters": {}, "ids": []}, "timeout_ms": 5000,
                              "target": {"region": "us-east-1"}, **values}
    return JobRecord(job_id, **fields)
