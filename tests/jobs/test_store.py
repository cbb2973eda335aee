"""One suite, both stores: SQLite (one machine) and Redis (shared), each test from a
clean store. Compare-and-set transitions, leases, prefixes, pruning."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ec2_connector.jobs import lifecycle
from ec2_connector.jobs.record import JobRecord, JobStatus
from ec2_connector.jobs.redis import RedisJobStore
from ec2_connector.jobs.store import JobStore, SQLiteJobStore, parse_age
from tests.harness.jobs import record


@pytest.fixture
def store(job_store: JobStore) -> JobStore:
    return job_store  # every store test runs against every store (tests/jobs/conftest.py)


def test_a_record_round_trips(store: JobStore) -> None:
    original = record("r1", created_at=1000.5, expires_at=1005.5, secrets_held=True)
    store.add(original)
    assert store.get("r1") == original
    assert JobRecord.from_dict(original.to_dict()) == original
    assert store.get("missing") is None


def test_claim_is_compare_and_set(store: JobStore) -> None:
    store.add(record("c1"))
    results: list[JobRecord | None] = []
    threads = [threading.Thread(target=lambda n=n: results.append(
        store.claim("c1", f"holder-{n}", 10))) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [r for r in results if r is not None]
    assert len(won) == 1 and won[0].status is JobStatus.RUNNING
    assert store.claim("c1", "late", 10) is None  # a second delivery is dropped


def test_only_the_holder_renews_and_finishes(store: JobStore) -> None:
    store.add(record("f1"))
    claimed = store.claim("f1", "me", 10)
    assert claimed is not None and claimed.holder == "me"
    assert not store.renew("f1", "someone-else", 10)
    assert store.renew("f1", "me", 30)
    again = store.get("f1")
    assert again is not None and again.lease_until is not None
    assert again.lease_until > time.time() + 20
    envelope = {"exitcode": 0, "message": "success", "data": {"x": None}, "meta": {}}
    assert not store.finish("f1", "someone-else", JobStatus.SUCCEEDED, "success", envelope)
    assert store.finish("f1", "me", JobStatus.SUCCEEDED, "success", envelope)
    done = store.get("f1")
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.response == envelope and done.lease_until is None
    assert not store.finish("f1", "me", JobStatus.FAILED, "again", envelope)


def test_leases_are_renewed_together_only_for_their_holder(store: JobStore) -> None:
    for job_id in ("m1", "m2", "m3", "m4"):
        store.add(record(job_id))
        assert store.claim(job_id, "me", 10) is not None
    envelope = {"exitcode": 0, "message": "success", "data": {}, "meta": {}}
    assert store.finish("m3", "me", JobStatus.SUCCEEDED, "success", envelope)
    held = [("m1", "me"), ("m2", "me"), ("m3", "me"), ("m4", "someone-else"), ("gone", "me")]
    assert store.renew_many(held, 60) == ["m3", "m4", "gone"]
    for job_id in ("m1", "m2"):
        renewed = store.get(job_id)
        assert renewed is not None and renewed.lease_until is not None
        assert renewed.lease_until > time.time() + 50
    mine = store.get("m4")
    assert mine is not None and mine.lease_until is not None
    assert mine.lease_until < time.time() + 11  # another holder's lease is not extended
    assert store.renew_many([], 60) == []


def test_a_lapsed_lease_is_seen_and_swept(store: JobStore) -> None:
    store.add(record("l1", lease_until=time.time() - 1, holder="gone"))
    store.add(record("l2", lease_until=time.time() + 60, holder="alive"))
    store.add(record("l3", status=JobStatus.RUNNING, holder="dead", lease_until=time.time() - 5,
                     params={"client-token": "tok-1"}, action="create-instance"))
    assert sorted(r.id for r in store.expired(time.time())) == ["l1", "l3"]
    swept = {r.id: r for r in lifecycle.sweep(store)}
    assert set(swept) == {"l1", "l3"}
    assert swept["l1"].status is JobStatus.INTERRUPTED
    assert "nothing was sent to EC2" in (swept["l1"].message or "")
    assert "may or may not have reached EC2" in (swept["l3"].message or "")
    assert "client-token 'tok-1'" in (swept["l3"].message or "")
    alive = store.get("l2")
    assert alive is not None and alive.status is JobStatus.QUEUED
    assert store.expired(time.time()) == []
    # A holder that was only late to renew may still record its (real) result.
    assert store.finish("l3", "dead", JobStatus.SUCCEEDED, "success", {"exitcode": 0})


def test_an_interrupted_job_is_resumed_once(store: JobStore) -> None:
    store.add(record("i1", status=JobStatus.INTERRUPTED))
    outcomes: list[bool] = []
    threads = [threading.Thread(target=lambda: outcomes.append(store.transition(
        "i1", [JobStatus.INTERRUPTED], status=JobStatus.RESUMED))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 5 + [True]


def test_list_find_and_prune(store: JobStore) -> None:
    now = time.time()
    store.add(record("aaa111", created_at=now - 10 * 86400, status=JobStatus.SUCCEEDED,
                     finished_at=now - 9 * 86400))
    store.add(record("aaa222", created_at=now - 8 * 86400))  # still queued: kept
    store.add(record("bbb333", created_at=now - 60, status=JobStatus.FAILED, finished_at=now))
    assert [r.id for r in store.list()] == ["bbb333", "aaa222", "aaa111"]
    assert [r.id for r in store.list(limit=1)] == ["bbb333"]
    assert [r.id for r in store.list(status="queued")] == ["aaa222"]
    assert store.find("bbb") == ["bbb333"]
    assert sorted(store.find("aaa")) == ["aaa111", "aaa222"]
    assert store.find("zzz") == [] and store.find("a%") == []
    assert store.prune(now - parse_age("7d")) == 1
    assert sorted(r.id for r in store.list()) == ["aaa222", "bbb333"]


def test_ages() -> None:
    assert parse_age("7d") == 7 * 86400 and parse_age("90") == 90 and parse_age("2h") == 7200
    with pytest.raises(Exception, match="not an age"):
        parse_age("soon")


def test_a_big_response_is_bounded_with_a_marker(store: JobStore) -> None:
    store.add(record("b1"))
    assert store.claim("b1", "me", 10) is not None
    items = [{"instance-id": f"i-{n:08d}", "note": "x" * 200} for n in range(5000)]
    envelope = {"exitcode": 0, "message": "success", "data": {"count": 5000, "items": items},
                "meta": {"region": "us-east-1"}}
    assert store.finish("b1", "me", JobStatus.SUCCEEDED, "success", envelope)
    kept = store.get("b1")
    assert kept is not None and kept.response is not None
    assert len(json.dumps(kept.response)) <= 256 * 1024 < len(json.dumps(envelope))
    assert kept.response["exitcode"] == 0 and kept.response["data"]["count"] == 5000
    shown = kept.response["data"]["items"]
    assert 100 < len(shown) < 5000 and shown == items[:len(shown)]  # the first, in order
    marker = kept.response["meta"]["truncated"]
    assert f"data.items kept {len(shown)} of its 5000 items" in marker
    assert "MAX_RESPONSE_BYTES" in marker and kept.response["meta"]["region"] == "us-east-1"


def test_an_ended_job_expires_on_redis_and_leaves_the_indexes(redis_server: Any) -> None:
    redis_server.flush()
    store = RedisJobStore(redis_server.url, job_ttl_s=1)
    try:
        plain = store.client
        store.add(record("e1", created_at=time.time() - 5))
        assert store.claim("e1", "me", 10) is not None
        assert plain.ttl("ec2-connector:job:e1") == -1  # a live job never expires
        assert store.finish("e1", "me", JobStatus.SUCCEEDED, "success", {"exitcode": 0})
        assert plain.ttl("ec2-connector:job:e1") == 1
        deadline = time.monotonic() + 10
        while plain.exists("ec2-connector:job:e1") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.tidy() == 1
        assert store.find("e1") == [] and store.list() == []
        assert plain.zcard("ec2-connector:jobs") == plain.zcard("ec2-connector:ids") == 0
    finally:
        store.close()
    week = RedisJobStore(redis_server.url)  # the default: a week
    try:
        week.add(record("w1", status=JobStatus.INTERRUPTED))
        assert week.transition("w1", [JobStatus.INTERRUPTED], status=JobStatus.RESUMED)
        assert 7 * 86400 - 5 < week.client.ttl("ec2-connector:job:w1") <= 7 * 86400
        week.add(record("w2", status=JobStatus.INTERRUPTED))
        assert week.transition("w2", [JobStatus.INTERRUPTED], status=JobStatus.FAILED)
        assert week.transition("w2", [JobStatus.FAILED], status=JobStatus.QUEUED)
        assert week.client.ttl("ec2-connector:job:w2") == -1  # queued again: kept
    finally:
        week.close()


def test_sqlite_prunes_ended_jobs_when_opened(tmp_path: Path) -> None:
    now = time.time()
    first = SQLiteJobStore(tmp_path)
    first.add(record("old", status=JobStatus.SUCCEEDED, finished_at=now - 8 * 86400))
    first.add(record("recent", status=JobStatus.FAILED, finished_at=now - 6 * 86400))
    first.add(record("live", created_at=now - 9 * 86400))
    first.close()
    reopened = SQLiteJobStore(tmp_path)
    try:
        assert sorted(r.id for r in reopened.list()) == ["live", "recent"]
    finally:
        reopened.close()
    short = SQLiteJobStore(tmp_path, job_ttl_s=5 * 86400)
    try:
        assert [r.id for r in short.list()] == ["live"]
    finally:
        short.close()


def test_a_store_that_lost_its_data_is_told_from_a_missing_id(
    store: JobStore, redis_server: Any
) -> None:
    store.add(record("k1"))
    assert store.get("nothing") is None and store.lost() is None  # a mistyped id
    if isinstance(store, SQLiteJobStore):
        return
    redis_server.flush()  # what a restart without persistence leaves
    assert store.get("k1") is None
    assert "holds no epoch key" in (store.lost() or "")
    other = RedisJobStore(redis_server.url.replace("//", "//:pass-word@"))
    try:
        other.add(record("k2"))  # another process writes a new epoch
        assert "epoch key" in (store.lost() or "") and "changed" in (store.lost() or "")
        assert other.lost() is None
        redis_server.flush()
        named = other.lost() or ""
        assert "redis://***@127.0.0.1" in named and "pass-word" not in named
    finally:
        other.close()


def test_a_workers_threads_keep_their_own_connections_and_close_them(
    redis_server: Any,
) -> None:
    # A worker's store (thread_connections): each thread sends its scripts on a
    # connection it keeps, claims stay compare-and-set across them, and closing the store
    # leaves no connection open behind it.
    import redis

    redis_server.flush()
    watcher = redis.Redis.from_url(redis_server.url)

    def connected() -> int:
        return int(watcher.info("clients")["connected_clients"])

    baseline = connected()
    store = RedisJobStore(redis_server.url, thread_connections=True)
    for n in range(8):
        store.add(record(f"t{n}"))
    won: list[str] = []

    together = threading.Barrier(4)

    def claim_all(holder: str) -> None:
        won.extend(f"{n}:{holder}" for n in range(8)
                   if store.claim(f"t{n}", holder, 10) is not None)
        # Held by all four at once: a thread that ended first gives its connection back
        # to the pool, where the next thread to start would take it again.
        together.wait(30)

    threads = [threading.Thread(target=claim_all, args=(f"h{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(int(w.split(":")[0]) for w in won) == list(range(8))  # each once
    for entry in won:
        n, holder = entry.split(":")
        assert store.transition(f"t{n}", [JobStatus.RUNNING], held_by=holder,
                                status=JobStatus.SUCCEEDED, finished_at=time.time())
    assert {r.status for r in store.list()} == {JobStatus.SUCCEEDED}
    assert connected() >= baseline + 4  # the four threads' own, still open
    store.close()
    deadline = time.monotonic() + 5
    while connected() > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connected() == baseline
    watcher.close()
