"""The SQLite store's grouped commits (jobs/groupcommit.py): many threads' writes in one
transaction still act as compare-and-sets one by one, a refused statement fails alone,
and a job `async_()` accepted is in the file even if the process is killed at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ec2_connector.errors import StoreError
from ec2_connector.jobs.record import JobStatus
from ec2_connector.jobs.store import SQLiteJobStore
from tests.harness.canned_process import CannedProcess
from tests.harness.jobs import record

THREADS = 16


def _together(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(60)


def test_threads_racing_for_jobs_each_win_a_job_once(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path)
    jobs = [f"j{n}" for n in range(120)]
    for job_id in jobs:
        store.add(record(job_id))
    won: dict[str, list[str]] = {}
    start = threading.Barrier(THREADS)

    def claimer(name: str) -> None:
        start.wait()
        for job_id in jobs:
            claimed = store.claim(job_id, name, 30)
            if claimed is not None:
                assert claimed.holder == name and claimed.status is JobStatus.RUNNING
                won.setdefault(job_id, []).append(name)
                assert store.finish(job_id, name, JobStatus.SUCCEEDED, "ok", {"n": job_id},
                                    claimed.fence)

    _together([threading.Thread(target=claimer, args=(f"t{n}",)) for n in range(THREADS)])
    assert sorted(won) == sorted(jobs) and all(len(names) == 1 for names in won.values())
    reopened = SQLiteJobStore(tmp_path)  # what is in the file, not in a connection
    for job_id in jobs:
        found = reopened.get(job_id)
        assert found is not None and found.status is JobStatus.SUCCEEDED
        assert found.holder == won[job_id][0] and found.fence == 1
    reopened.close()
    store.close()


def test_a_refused_write_fails_alone_in_its_group(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path)
    store.add(record("taken"))
    refused: list[str] = []
    start = threading.Barrier(THREADS)

    def adder(n: int) -> None:
        start.wait()
        for k in range(20):
            job_id = "taken" if k % 5 == 0 else f"a{n}-{k}"
            try:
                store.add(record(job_id))
            except StoreError:
                refused.append(job_id)

    _together([threading.Thread(target=adder, args=(n,)) for n in range(THREADS)])
    assert refused == ["taken"] * (THREADS * 4)  # the duplicates, and nothing else
    names = {r.id for r in store.list(limit=10_000)}
    assert names == {"taken"} | {f"a{n}-{k}" for n in range(THREADS) for k in range(20)
                                 if k % 5}
    store.close()


CHILD = """
import sys
from ec2_connector import Call
from tests.harness.calls import config_for

call = Call(config=config_for(sys.argv[1]), home=sys.argv[2])
builder = call.connector("aws-ec2").set("action", "describe-instances")
for _ in range(400):
    print(builder.async_().id, flush=True)
"""


@pytest.mark.parametrize("after", [1, 40])
def test_a_job_accepted_is_on_disk_when_the_process_is_killed_at_once(
    tmp_path: Path, after: int
) -> None:
    """kill -9 as soon as `after` jobs were accepted, while the pool's threads commit
    their claims and finishes in groups: every accepted job is in the file."""
    home = tmp_path / "home"
    with CannedProcess(instances=3, delay_ms=20) as canned:
        child = subprocess.Popen([sys.executable, "-c", CHILD, canned.url, str(home)],
                                 stdout=subprocess.PIPE, text=True, cwd=Path.cwd())
        accepted: list[str] = []
        try:
            assert child.stdout is not None
            while len(accepted) < after:
                line = child.stdout.readline()
                assert line, "the child ended before accepting its jobs"
                accepted.append(line.strip())
            os.kill(child.pid, signal.SIGKILL)
            # Whatever it printed before it died was accepted too.
            accepted += [line.strip() for line in child.stdout.read().splitlines()]
        finally:
            child.kill()
            child.wait(10)
            if child.stdout is not None:
                child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    store = SQLiteJobStore(home)
    try:
        missing = [job_id for job_id in accepted if store.get(job_id) is None]
        assert not missing, f"{len(missing)} of {len(accepted)} accepted jobs were lost"
        assert len(accepted) >= after
    finally:
        store.close()


def test_a_store_closed_refuses_writes_and_reads_from_any_thread(tmp_path: Path) -> None:
    store = SQLiteJobStore(tmp_path)
    store.add(record("one"))
    store.close()
    with pytest.raises(StoreError):
        store.add(record("two"))
    errors: list[BaseException] = []

    def read() -> None:  # a thread with no connection of its own yet: none is made
        try:
            store.get("one")
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], StoreError)


def test_a_pool_s_writes_are_grouped(tmp_path: Path) -> None:
    """Under contention, commits carry more than one write (else nothing is gained)."""
    store = SQLiteJobStore(tmp_path)
    start = threading.Barrier(THREADS)

    def adder(n: int) -> None:
        start.wait()
        for k in range(25):
            store.add(record(f"g{n}-{k}"))

    _together([threading.Thread(target=adder, args=(n,)) for n in range(THREADS)])
    assert len(store.list(limit=10_000)) == THREADS * 25
    group = store._group
    assert group.writes == THREADS * 25 and group.commits < group.writes
    store.close()
