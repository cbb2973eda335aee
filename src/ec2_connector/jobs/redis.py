"""The shared job store: the `JobStore` protocol in Redis, readable from any machine.

Each job is a hash of JSON-encoded fields; every status change runs as one Lua script
that checks the expected status (and holder, and lapse) before writing, so it is a
compare-and-set on the server, atomic across workers. Two sorted sets index the jobs:
by creation time (listing, pruning) and by lease expiry (the sweeper's `expired`), and a
lexicographic set answers id prefixes. Socket timeouts are short: a Redis that is down
or silent is `EndpointUnreachable` (exitcode 4) within seconds, never a hang.

"No job lost" holds only if Redis itself forgets nothing: AOF persistence and no
eviction. Workers and the service check that at start (`check_durable`); an ended job
expires after `job_ttl_s`. A Redis that lost its data anyway (restarted without
persistence, evicted, flushed) is told from a mistyped id by the epoch key, written
with the first job: a missing job in a store whose epoch vanished or changed is a
`StoreError` saying the store lost its data, not "no job".
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import EndpointUnreachable, InvalidRequest, StoreError
from ..settings import ALLOW_VOLATILE_ENV, DEFAULT_JOB_TTL_S, DEFAULT_MAX_RESPONSE_BYTES
from ..transport.deadline import Deadline
from .record import LIVE, Encoded, JobRecord, JobStatus
from .store import INCREMENT, Transitions

PREFIX = "ec2-connector:"
_FIELDS = tuple(f.name for f in fields(JobRecord))
_KNOWN = frozenset(_FIELDS)
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0
MIN_ROUND_TRIP_S = 0.05  # what a round trip is given however little time is left
DEADLINE_SLACK_S = 0.2  # how far past a caller's deadline a round trip may end

# KEYS: job hash, lease index. ARGV: id, "1" to answer with the record (else 1), the
# number of expected statuses, the statuses, holder ("" for any), lapsed-before ("" for
# no check), fence ("" for no check), then field/value pairs; a value of +1 (never a JSON
# encoding) adds one to its field. Answers 0 when nothing changed.
_TRANSITION = """
local n = tonumber(ARGV[3])
local current = redis.call('HMGET', KEYS[1], 'status', 'holder', 'lease_until', 'fence')
local ok = false
for i = 4, 3 + n do if current[1] == ARGV[i] then ok = true end end
if not ok then return 0 end
local holder = ARGV[4 + n]
if holder ~= '' and current[2] ~= holder then return 0 end
local before = ARGV[5 + n]
if before ~= '' then
  local lease = tonumber(current[3])
  if lease == nil or lease >= tonumber(before) then return 0 end
end
local fence = ARGV[6 + n]
if fence ~= '' and (current[4] or '0') ~= fence then return 0 end
local lease_set, lease, sets = false, nil, {}
for i = 7 + n, #ARGV, 2 do
  if ARGV[i] == 'lease_until' then lease_set, lease = true, tonumber(ARGV[i + 1]) end
  if ARGV[i + 1] == '+1' then redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
  else sets[#sets + 1] = ARGV[i]; sets[#sets + 1] = ARGV[i + 1] end
end
if #sets > 0 then redis.call('HSET', KEYS[1], unpack(sets)) end
if lease_set then
  if lease == nil then redis.call('ZREM', KEYS[2], ARGV[1])
  else redis.call('ZADD', KEYS[2], lease, ARGV[1]) end
end
if ARGV[2] == '1' then return redis.call('HGETALL', KEYS[1]) end
return 1
"""

EPOCH = PREFIX + "epoch"
_DONE_STATUSES = [json.dumps(s.value) for s in JobStatus if s.done]


def _settling(transition: str, ttl_s: int) -> str:
    """`transition` (same keys and arguments), then, if it changed the job, an ended job
    expires in `ttl_s` and a live one (queued again after a lost worker) is kept: one
    script, so a finish stays one round trip (a pipelined script costs a SCRIPT EXISTS)."""
    ended = ", ".join(f"[{_lua_string(s)}] = true" for s in _DONE_STATUSES)
    return f"""
local function transition()
{transition}
end
local changed = transition()
if changed ~= 0 then
  local ended = {{{ended}}}
  local status = redis.call('HGET', KEYS[1], 'status')
  if status and ended[status] then redis.call('EXPIRE', KEYS[1], {int(ttl_s)})
  elseif status then redis.call('PERSIST', KEYS[1]) end
end
return changed
"""


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def masked_url(url: str) -> str:
    """A Redis URL as messages show it: never with a password in it."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"***@{host}{port}", parts.path, "", ""))


class RedisJobStore(Transitions):
    """Job records in one Redis database, shared by every submitter and worker."""

    # Set by a caller that waits under its own timeout (`jobs wait --timeout`): no round
    # trip then outlasts it (see `_within_deadline`).
    deadline: Deadline | None = None
    _bounded_at = SOCKET_TIMEOUT_S  # the timeout the pool's connections were made with

    def __init__(self, url: str, *, job_ttl_s: float = DEFAULT_JOB_TTL_S,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 thread_connections: bool = False) -> None:
        """`thread_connections`: each thread keeps a connection of its own for the
        scripts (see `_own_client`): a worker's, whose few threads make most calls."""
        import redis

        self.url = url
        self.location = masked_url(url)
        self.job_ttl_s, self.max_response_bytes = job_ttl_s, max_response_bytes
        # The epoch this process first saw (None: not read yet, or there was none).
        self._epoch: str | None = None
        self._errors = redis.exceptions
        try:
            self._redis = redis.Redis.from_url(
                url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S,
                health_check_interval=30, decode_responses=True)
        except ValueError as exc:
            raise StoreError(f"not a Redis URL: {self.location} ({exc})") from None
        self._own = threading.local() if thread_connections else None
        self._transition = self._redis.register_script(_TRANSITION)
        self._settle = self._redis.register_script(
            _settling(_TRANSITION, max(1, int(job_ttl_s))))

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        if self.deadline is not None:
            self._within_deadline(self.deadline)
        try:
            yield
        except (self._errors.ConnectionError, self._errors.TimeoutError) as exc:
            raise EndpointUnreachable(
                f"the job store and broker at {self.location} is unreachable: "
                f"{type(exc).__name__}"
            ) from None
        except self._errors.RedisError as exc:
            raise StoreError(f"job store {self.location}: {exc}") from None

    def _within_deadline(self, deadline: Deadline) -> None:
        """Socket timeouts no longer than the time left (nor than the usual ones). A
        connection keeps the timeout it was made with, so the pool's connections are
        made again once the bound is 0.2 s below it (in the last 5 s of a wait only)."""
        bound = min(SOCKET_TIMEOUT_S, max(MIN_ROUND_TRIP_S, deadline.remaining()))
        pool = self._redis.connection_pool
        pool.connection_kwargs.update(socket_timeout=bound,
                                      socket_connect_timeout=min(CONNECT_TIMEOUT_S, bound))
        if self._bounded_at - bound > DEADLINE_SLACK_S:
            pool.disconnect()
            pool.reset()
            self._bounded_at = bound

    @property
    def client(self) -> Any:
        """The Redis client (the workers' shared throttle lives in the same Redis)."""
        return self._redis

    def _key(self, job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    def ping(self) -> None:
        with self._guard():
            self._redis.ping()

    def add(self, record: JobRecord) -> None:
        values = record.to_dict()
        with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._key(record.id), mapping={k: json.dumps(values[k]) for k in _FIELDS})
            pipe.zadd(f"{PREFIX}jobs", {record.id: record.created_at})
            pipe.zadd(f"{PREFIX}ids", {record.id: 0})
            if record.lease_until is not None:
                pipe.zadd(f"{PREFIX}leases", {record.id: record.lease_until})
            pipe.set(EPOCH, uuid.uuid4().hex, nx=True)  # the first job writes the epoch
            pipe.get(EPOCH)
            epoch = pipe.execute()[-1]
        self._epoch = self._epoch or epoch

    def transition(self, job_id: str, expect: Iterable[JobStatus], *,
                   held_by: str | None = None, lapsed_before: float | None = None,
                   fenced: int | None = None, **changes: Any) -> bool:
        if "status" not in changes:
            return bool(self._cas(job_id, expect, held_by, lapsed_before, False, changes,
                                  fenced))
        args = _cas_args(job_id, expect, held_by, lapsed_before, False, changes, fenced)
        with self._guard():
            return bool(self._eval(self._settle, self._keys(job_id), args))

    def renew_many(self, held: builtins.list[tuple[str, str]],
                   lease_s: float) -> builtins.list[str]:
        # Each renewal is still its own compare-and-set script; the pipeline only sends
        # them together, so a worker holding many jobs pays one round trip per round.
        until = time.time() + lease_s
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for job_id, holder in held:
                self._transition(keys=self._keys(job_id), client=pipe, args=_cas_args(
                    job_id, LIVE, holder, None, False, {"lease_until": until}, None))
            done = pipe.execute()
        return [job_id for (job_id, _), ok in zip(held, done, strict=True) if not ok]

    def claim(self, job_id: str, holder: str, lease_s: float) -> JobRecord | None:
        # One round trip: the script answers with the claimed record, not a flag to be
        # followed by a read.
        now = time.time()
        row = self._cas(job_id, [JobStatus.QUEUED], None, None, True,
                        {"status": JobStatus.RUNNING, "holder": holder,
                         "lease_until": now + lease_s, "started_at": now, "fence": INCREMENT})
        if not row:
            return None
        return _decode(dict(zip(row[::2], row[1::2], strict=True)))

    def _cas(self, job_id: str, expect: Iterable[JobStatus], held_by: str | None,
             lapsed_before: float | None, answer_record: bool, changes: dict[str, Any],
             fenced: int | None = None) -> Any:
        args = _cas_args(job_id, expect, held_by, lapsed_before, answer_record, changes,
                         fenced)
        with self._guard():
            return self._eval(self._transition, self._keys(job_id), args)

    def _eval(self, script: Any, keys: builtins.list[str], args: builtins.list[Any]) -> Any:
        """`script(keys=keys, args=args)` without what redis-py's Script does on every
        call (two imports, pipeline checks): EVALSHA, and the script's text only if the
        server has forgotten it (a restart, SCRIPT FLUSH)."""
        client = self._redis if self._own is None or self.deadline else self._own_client()
        try:
            return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        except self._errors.NoScriptError:
            return script(keys=keys, args=args, client=client)

    def _own_client(self) -> Any:
        """The calling thread's own connection of the pool, kept for the scripts (a
        worker's claims, finishes and fence checks): a check-out per call costs a poll of
        the socket (its readiness check) and a release of the interpreter lock. Not under
        a caller's deadline, whose timeouts are set on the pool's connections as they are
        made; made again in a forked child, which must not share its parent's socket."""
        own = self._own
        assert own is not None
        if getattr(own, "pid", None) != os.getpid():
            own.client = type(self._redis)(connection_pool=self._redis.connection_pool,
                                           single_connection_client=True)
            own.pid = os.getpid()
        return own.client

    def _keys(self, job_id: str) -> builtins.list[str]:
        return [self._key(job_id), f"{PREFIX}leases"]

    def get(self, job_id: str) -> JobRecord | None:
        with self._guard():
            if self._epoch is None:  # first use: note the epoch, in the same round trip
                pipe = self._redis.pipeline(transaction=False)
                pipe.hgetall(self._key(job_id))
                pipe.get(EPOCH)
                raw, self._epoch = pipe.execute()
            else:
                raw = self._redis.hgetall(self._key(job_id))
        return _decode(raw) if raw else None

    def lost(self) -> str | None:
        with self._guard():
            epoch = self._redis.get(EPOCH)
        if epoch is None:
            return (f"{self.location} holds no epoch key, which its first job wrote: Redis "
                    "restarted without persistence, or its keys were evicted or flushed, or "
                    "no job was ever stored there")
        if self._epoch is not None and epoch != self._epoch:
            return (f"the epoch key of {self.location} changed since this process first "
                    "read it: Redis restarted without persistence, or was flushed")
        return None

    def _many(self, ids: Any) -> builtins.list[JobRecord]:
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(self._key(job_id))
            rows = pipe.execute()
        self._unindex([i for i, row in zip(ids, rows, strict=True) if not row])
        return [_decode(row) for row in rows if row]

    def _unindex(self, ids: builtins.list[str]) -> None:
        """Drop ids whose record is gone (expired) from the indexes."""
        if ids:
            with self._guard():
                pipe = self._redis.pipeline(transaction=False)
                for index in ("jobs", "ids", "leases"):
                    pipe.zrem(f"{PREFIX}{index}", *ids)
                pipe.execute()

    def tidy(self, limit: int = 500) -> int:
        """Drop from the indexes up to `limit` ids whose record expired; how many. Only
        ids created more than `job_ttl_s` ago can have expired (a job expires that long
        after it ended), so this is one cheap query when there is nothing to drop."""
        with self._guard():
            ids = [str(i) for i in self._redis.zrangebyscore(
                f"{PREFIX}jobs", "-inf", time.time() - self.job_ttl_s, start=0, num=limit)]
            if not ids:
                return 0
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.exists(self._key(job_id))
            gone = [i for i, there in zip(ids, pipe.execute(), strict=True) if not there]
        self._unindex(gone)
        return len(gone)

    def check_durable(self, allow_volatile: bool) -> str | None:
        """Refuse (exitcode 2, one line) a Redis that can lose jobs, unless the operator
        accepts that; then the warning to log once. None for a Redis that keeps jobs."""
        problem, checked = self._volatility()
        if problem is None:
            return None
        override = f"--allow-volatile-store ({ALLOW_VOLATILE_ENV}=1)"
        if not allow_volatile:
            if not checked:
                raise InvalidRequest(f"{problem}: if it has appendonly yes and "
                                     f"maxmemory-policy noeviction, start with {override}")
            raise InvalidRequest(f"{problem}; or start with {override} to accept losing jobs")
        return f"{problem}; starting anyway ({override}): jobs may be lost"

    def _volatility(self) -> tuple[str | None, bool]:
        """What lets this Redis forget jobs, in one line, or None; and whether its
        configuration could be read at all."""
        with self._guard():
            try:
                config = {**self._redis.config_get("appendonly"),
                          **self._redis.config_get("maxmemory-policy")}
            except self._errors.ResponseError as exc:  # a managed Redis may refuse CONFIG
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return (f"could not check that the job store {self.location} keeps jobs: "
                        f"CONFIG GET was refused ({why.strip()})"), False
        problems = []
        if config.get("appendonly") != "yes":
            problems.append(f"appendonly is {config.get('appendonly')} (a restart loses "
                            "every job): set appendonly yes")
        policy = config.get("maxmemory-policy")
        if policy != "noeviction":
            problems.append(f"maxmemory-policy is {policy} (a full Redis evicts jobs and "
                            "queued messages): set maxmemory-policy noeviction")
        if not problems:
            return None, True
        return (f"the job store {self.location} can lose jobs: {'; '.join(problems)} "
                "(CONFIG SET and redis.conf)"), True

    def list(self, limit: int = 50, status: str | None = None) -> builtins.list[JobRecord]:
        out: builtins.list[JobRecord] = []
        start, chunk = 0, max(limit, 100)
        while len(out) < limit:
            with self._guard():
                ids = self._redis.zrevrange(f"{PREFIX}jobs", start, start + chunk - 1)
            if not ids:
                break
            out += [r for r in self._many(ids) if status is None or r.status.value == status]
            start += chunk
        return out[:limit]

    def find(self, prefix: str) -> builtins.list[str]:
        with self._guard():
            ids = self._redis.zrangebylex(f"{PREFIX}ids", f"[{prefix}", f"[{prefix}\xff",
                                          start=0, num=2)
        return [str(i) for i in ids]

    def expired(self, now: float) -> builtins.list[JobRecord]:
        with self._guard():
            ids = self._redis.zrangebyscore(f"{PREFIX}leases", "-inf", f"({now}")
        return [r for r in self._many(ids) if r.lapsed(now)]

    def prune(self, before: float) -> int:
        with self._guard():
            ids = self._redis.zrangebyscore(f"{PREFIX}jobs", "-inf", f"({before}")
        gone = [r.id for r in self._many(ids)
                if r.status.done and (r.finished_at or r.created_at) < before]
        if gone:
            with self._guard():
                self._redis.delete(*(self._key(i) for i in gone))
            self._unindex(gone)
        return len(gone)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._redis.close()


def _cas_args(job_id: str, expect: Iterable[JobStatus], held_by: str | None,
              lapsed_before: float | None, answer_record: bool,
              changes: dict[str, Any], fenced: int | None) -> builtins.list[Any]:
    """The transition script's ARGV (see `_TRANSITION`)."""
    expected = [json.dumps(JobStatus(s).value) for s in expect]
    args: builtins.list[Any] = [job_id, "1" if answer_record else "", len(expected), *expected,
                                json.dumps(held_by) if held_by is not None else "",
                                "" if lapsed_before is None else repr(lapsed_before),
                                "" if fenced is None else str(int(fenced))]
    for name, value in changes.items():
        if value is INCREMENT:
            args += [name, "+1"]
            continue
        if isinstance(value, Encoded):  # a response measured as JSON: that text, once
            args += [name, value.text]
            continue
        encoded = value.value if isinstance(value, JobStatus) else value
        args += [name, json.dumps(encoded)]
    return args


def _decode(raw: dict[str, str]) -> JobRecord:
    names = [k for k in raw if k in _KNOWN]
    # One parse of all the fields (each a JSON text we wrote), not one call per field.
    try:
        values = json.loads("[" + ",".join([raw[k] for k in names]) + "]")
    except ValueError:
        values = None
    if values is None or len(values) != len(names):  # a field that is not one JSON value
        values = [json.loads(raw[k]) for k in names]
    return JobRecord.from_dict(dict(zip(names, values, strict=True)))
