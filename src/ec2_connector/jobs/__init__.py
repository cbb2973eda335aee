"""Jobs: a record, a store protocol, one lifecycle, and executors that only call it.

- `record`: `JobRecord`, `JobStatus`: a job as stored (never a secret);
- `store`: the `JobStore` protocol, its compare-and-set transitions, and the SQLite
  store of one machine; `redis`: the same protocol in Redis, shared by many machines;
- `lifecycle`: one job's life, the same for every executor: claim → execute → finish;
- `executors`: where a job runs (this process's threads, Celery workers);
- `worker`: the Celery worker (`ec2-connector worker`);
- `backends`: which store and executor a process uses, by name (`STORES`, `EXECUTORS`:
  a new one is one line);
- `manager`: `JobManager`, `Job`, `RefusedJob`: submitting, reading and resuming jobs.
"""

from __future__ import annotations

from ..lazy import exports

_EXPORTS = {
    "JobRecord": "record", "JobStatus": "record",
    "JobStore": "store", "SQLiteJobStore": "store", "RedisJobStore": "redis",
    "Job": "manager", "RefusedJob": "manager", "JobManager": "manager",
    "ThreadExecutor": "executors", "CeleryExecutor": "executors",
    "STORES": "backends", "open_store": "backends",
    "EXECUTORS": "backends", "open_executor": "backends",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
