"""Every process-wide setting and default in one place: `Settings.from_env()`.

The `EC2_CONNECTOR_*` variables are read here and nowhere else; the defaults that a
request, a connector or the service falls back to are named here too, so a reader finds
what a value is when nobody set it without searching the package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field, fields
from pathlib import Path

from .errors import InvalidRequest
from .spec.records import record

PREFIX = "EC2_CONNECTOR_"
CONFIG_ENV = PREFIX + "CONFIG"
HOME_ENV = PREFIX + "HOME"
TOKEN_ENV = PREFIX + "TOKEN"
WORKERS_ENV = PREFIX + "WORKERS"
FULL_MODEL_ENV = PREFIX + "FULL_MODEL"
BROKER_ENV = PREFIX + "BROKER"
ALLOW_VOLATILE_ENV = PREFIX + "ALLOW_VOLATILE_STORE"

DEFAULT_TIMEOUT_MS = 60_000
DEFAULT_WAIT_INTERVAL_MS = 2000
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_MODE = "standard"
DEFAULT_WORKERS = 16
DEFAULT_HOME = Path.home() / ".local" / "share" / "ec2-connector"
IO_THREADS = 64
# Calls in flight to one endpoint: half the I/O threads, so one endpoint that never
# answers leaves the other half to every other endpoint.
MAX_IN_FLIGHT = 32
MAX_CLIENTS = 128  # least recently used clients beyond this are dropped
# The HTTP service: a request must arrive whole (headers and body) within this many
# seconds, and at most this many are served at once (the next gets a 503).
REQUEST_READ_S = 30
MAX_REQUESTS = 256
DEFAULT_LEASE_S = 10  # a job's holder renews its lease every third of this
DEFAULT_SWEEP_S = 5  # how often each worker looks for lapsed leases
# A long-running process's threshold for collecting the cyclic GC's youngest generation
# (Python's is 700), set once its start-up is over (transport/startup.settle, the service
# and a worker): a call allocates thousands of container objects (its answer's dicts),
# nearly all freed by their reference counts, so at 700 the generation was collected
# about every other call, its survivors walked again by the older ones: ~0.15 ms of CPU
# a worker's job; in the service, with 16 calls in flight, 0.25 ms a call.
SERVER_GC_YOUNG = 10_000
DEFAULT_STORE_BUSY_MS = 10_000  # how long a write waits for another process's lock
DEFAULT_THROTTLE_RATE = 50  # requests per second per account and region, across workers
DEFAULT_JOB_TTL_S = 7 * 86_400  # an ended job is kept this long (Redis EXPIRE, SQLite prune)
# The most of a response a job record keeps (its JSON, in bytes): a describe of a big
# account would otherwise grow the shared store by megabytes per job.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024
DEFAULT_CALLBACK_ATTEMPTS = 5  # a completion callback: 1 s, 2 s, 4 s, 8 s between tries
DEFAULT_CALLBACK_BACKOFF_MS = 1000
DEFAULT_CALLBACK_TIMEOUT_MS = 10_000  # one try, connect to answer, however it trickles
DEFAULT_CONSOLE_SESSION_S = 8 * 3600  # a working day signed in to the web console
# How long `region: "*"` reuses a connector's list of enabled regions before asking again.
DEFAULT_REGIONS_TTL_S = 3600


# What each setting means, by its variable's suffix (docs/configuration.md is generated
# from it, and from the fields below). The default is shown from the field itself unless
# a text is given here: `None` says too little, and a path under
# the home directory would make the page differ from one user to the next.
SETTING_DOCS: dict[str, tuple[str | None, str]] = {
    "CONFIG": ("unset", "the connector config file ([connectors](#connectors))"),
    "HOME": ("`~/.local/share/ec2-connector`", "where the SQLite job store lives"),
    "TOKEN": ("unset", "the service's bearer token"),
    "TIMEOUT": (None, "a call's timeout in ms when the request gives none"),
    "MAX_IN_FLIGHT": (None, "calls in flight to one endpoint (a connector's "
                            "`max-in-flight` beats it)"),
    "IO_THREADS": (None, "threads the service's calls run on"),
    "WORKERS": (None, "threads jobs run on"),
    "MAX_CLIENTS": (None, "EC2 clients kept (least recently used dropped)"),
    "FULL_MODEL": ("off", "load botocore's whole EC2 model instead of the trimmed one"),
    "REGIONS_TTL_S": (None, "seconds `region: \"*\"` reuses a connector's list of enabled "
                      "regions (asked again sooner when a region refuses the account)"),
    "COMPILED_PARSER": ("on", "parse EC2's answers with functions compiled from the model "
                              "(botocore's result, faster); `off` for botocore's own"),
    "FENCING": ("on", "check before each mutating request of a job that it still holds the "
                      "job (`0` only to measure what the check costs)"),
    "REQUEST_READ_TIMEOUT": (None, "seconds a service request may take to arrive"),
    "MAX_REQUESTS": (None, "service requests served at once"),
    "AUDIT_FILE": ("unset", "the service's audit trail (one JSON line per request)"),
    "PUBLIC_OPENAPI": ("off", "serve `/openapi.json` without a token"),
    "PUBLIC_METRICS": ("off", "serve `/metrics` without a token"),
    "METRICS": ("on", "count the service's calls and serve `/metrics` (`off` only to "
                      "measure what counting costs)"),
    "CALLBACK_URLS": ("unset", "URL prefixes a job's `notify-url` may start with "
                               "(comma-separated)"),
    "CALLBACK_ATTEMPTS": (None, "tries of one completion callback"),
    "CALLBACK_BACKOFF_MS": (None, "pause before the second try, doubling after"),
    "CALLBACK_TIMEOUT_MS": (None, "bound on one try, from connect to answer"),
    "CONSOLE_SESSION_S": (None, "how long a sign-in to the web console lasts, in seconds"),
    "BROKER": ("unset (local)", "`redis://HOST:PORT/DB`: Celery broker and job store"),
    "SEAL_KEY": ("unset", "a Fernet key shared by submitters and workers: a request's "
                          "secret parameters travel to workers sealed with it (several, "
                          "comma-separated, to rotate: the first seals)"),
    "LEASE_S": (None, "a job's lease in seconds, renewed every third of it"),
    "SWEEP_S": (None, "how often (seconds) each worker looks for lapsed leases"),
    "STORE_BUSY_MS": (None, "how long a SQLite write waits for another process's lock"),
    "PRUNE_AFTER": ("unset", "prune ended jobs older than this (e.g. `7d`) when a store "
                             "is opened"),
    "JOB_TTL_S": ("604800 (7 days)", "how long an ended job is kept (both stores)"),
    "MAX_RESPONSE_BYTES": (None, "the most of a response's JSON a job record keeps"),
    "ALLOW_VOLATILE_STORE": ("off", "start workers and the service on a Redis that can lose "
                                    "jobs (`--allow-volatile-store`)"),
    "THROTTLE_RATE": (None, "EC2 requests per second per account and region, all "
                            "workers together"),
    "THROTTLE_BURST": ("the rate", "the bucket's size"),
}


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off")


@record(frozen=True)
class Settings:
    """The process's settings; `from_env()` reads them, tests build one directly."""

    timeout_ms: int = field(default=DEFAULT_TIMEOUT_MS, metadata={"env": "TIMEOUT"})
    io_threads: int = field(default=IO_THREADS, metadata={"env": "IO_THREADS"})
    max_in_flight: int = field(default=MAX_IN_FLIGHT, metadata={"env": "MAX_IN_FLIGHT"})
    workers: int = field(default=DEFAULT_WORKERS, metadata={"env": "WORKERS"})
    max_clients: int = field(default=MAX_CLIENTS, metadata={"env": "MAX_CLIENTS"})
    home: Path | None = field(default=None, metadata={"env": "HOME"})
    config: str | None = field(default=None, metadata={"env": "CONFIG"})
    token: str | None = field(default=None, repr=False, metadata={"env": "TOKEN"})
    full_model: bool = field(default=False, metadata={"env": "FULL_MODEL"})
    request_read_s: int = field(default=REQUEST_READ_S, metadata={"env": "REQUEST_READ_TIMEOUT"})
    max_requests: int = field(default=MAX_REQUESTS, metadata={"env": "MAX_REQUESTS"})
    broker: str | None = field(default=None, repr=False, metadata={"env": "BROKER"})
    # A Fernet key shared by submitters and workers: a request's secrets travel sealed.
    seal_key: str | None = field(default=None, repr=False, metadata={"env": "SEAL_KEY"})
    lease_s: int = field(default=DEFAULT_LEASE_S, metadata={"env": "LEASE_S"})
    sweep_s: int = field(default=DEFAULT_SWEEP_S, metadata={"env": "SWEEP_S"})
    store_busy_ms: int = field(default=DEFAULT_STORE_BUSY_MS, metadata={"env": "STORE_BUSY_MS"})
    prune_after: str | None = field(default=None, metadata={"env": "PRUNE_AFTER"})
    throttle_rate: int = field(default=DEFAULT_THROTTLE_RATE, metadata={"env": "THROTTLE_RATE"})
    throttle_burst: int | None = field(default=None, metadata={"env": "THROTTLE_BURST"})
    # The operator accepts a Redis that can lose jobs (no AOF, or an eviction policy).
    allow_volatile_store: bool = field(default=False,
                                       metadata={"env": "ALLOW_VOLATILE_STORE"})
    job_ttl_s: int = field(default=DEFAULT_JOB_TTL_S, metadata={"env": "JOB_TTL_S"})
    max_response_bytes: int = field(default=DEFAULT_MAX_RESPONSE_BYTES,
                                    metadata={"env": "MAX_RESPONSE_BYTES"})
    # EC2 responses parsed by functions compiled from the model (xmlparser.py); off:
    # botocore's own parser.
    compiled_parser: bool = field(default=True, metadata={"env": "COMPILED_PARSER"})
    # The shared service: where its audit trail goes, and which of its routes answer
    # without a token (both need one by default).
    audit_file: str | None = field(default=None, metadata={"env": "AUDIT_FILE"})
    public_openapi: bool = field(default=False, metadata={"env": "PUBLIC_OPENAPI"})
    public_metrics: bool = field(default=False, metadata={"env": "PUBLIC_METRICS"})
    metrics: bool = field(default=True, metadata={"env": "METRICS"})
    # Completion callbacks: the URL prefixes a job may notify (comma-separated), and how
    # often a delivery is tried, the pause doubling from the first.
    callback_urls: str | None = field(default=None, metadata={"env": "CALLBACK_URLS"})
    callback_attempts: int = field(default=DEFAULT_CALLBACK_ATTEMPTS,
                                   metadata={"env": "CALLBACK_ATTEMPTS"})
    callback_backoff_ms: int = field(default=DEFAULT_CALLBACK_BACKOFF_MS,
                                     metadata={"env": "CALLBACK_BACKOFF_MS"})
    callback_timeout_ms: int = field(default=DEFAULT_CALLBACK_TIMEOUT_MS,
                                     metadata={"env": "CALLBACK_TIMEOUT_MS"})
    regions_ttl_s: int = field(default=DEFAULT_REGIONS_TTL_S, metadata={"env": "REGIONS_TTL_S"})
    console_session_s: int = field(default=DEFAULT_CONSOLE_SESSION_S,
                                   metadata={"env": "CONSOLE_SESSION_S"})
    # Off only to measure what the check before each mutating request of a job costs.
    fencing: bool = field(default=True, metadata={"env": "FENCING"})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings given by `EC2_CONNECTOR_*` variables, defaults for the rest.

        A value that is not what its setting needs is a mistake to report at once
        (exitcode 2), naming the variable but not the value: it may be the token.
        """
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for spec in fields(cls):
            name = PREFIX + spec.metadata["env"]
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[spec.name] = _convert(spec.type, raw, name)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def home_dir(self) -> Path:
        return self.home or DEFAULT_HOME


def _convert(kind: object, raw: str, name: str) -> object:
    if kind in ("int", int, "int | None"):
        try:
            value = int(raw)
        except ValueError:
            raise InvalidRequest(f"{name} must be a positive integer") from None
        if value < 1:
            raise InvalidRequest(f"{name} must be a positive integer")
        return value
    if kind in ("bool", bool):
        return _flag(raw)
    if kind in ("Path | None",):
        return Path(raw)
    return raw
