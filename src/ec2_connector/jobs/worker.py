"""Celery workers: `ec2-connector worker` runs jobs from a Redis broker and store.

Only the job id travels: the task is `lifecycle.run(job_id)`, and the worker rebuilds
the request from the record in the Redis store, with its own connector config (or the
AWS chain of its machine) for credentials. No job is lost and none runs twice:

- `acks_late` and `reject_on_worker_lost`: a message is acknowledged only once its job
  has ended, so a worker that dies leaves its messages to be delivered again (kombu keeps
  them in Redis meanwhile, in `unacked`: jobs/broker.py);
- the visibility timeout is longer than the longest job deadline (a day), so Celery never
  redelivers a message whose job is still running;
- the claim is a compare-and-set on the record: a second delivery of a job that is
  running or has ended is dropped;
- a worker killed outright stops renewing its leases; a sweeper in every worker sees the
  lapse within lease + sweep interval and queues the job again, at most MAX_RERUNS times,
  where its action says a second run is safe (`requeue`), instead of Celery's redelivery
  a day later.

All of this assumes Redis forgets nothing: a worker refuses to start on a Redis without
AOF persistence or with an eviction policy (`RedisJobStore.check_durable`), unless told
that losing jobs is accepted.

With `--metrics-port` a worker serves its metrics (metrics.py) from a thread of its own.
Its pool is Celery's threads pool, always: every job of the worker runs in this one
process, so one registry counts them all, and none of prometheus_client's multiprocess
mode (a directory of files shared by prefork children) is needed.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..config import Connectors
from ..errors import InvalidRequest
from ..runtime import Runtime
from ..settings import Settings
from ..transport import startup
from ..transport.throttle import TokenBucket
from . import lifecycle
from .record import JobRecord, JobStatus, new_holder, rerun_advice, rerun_safe

if TYPE_CHECKING:
    from celery import Celery
    from prometheus_client.core import Metric

    from ..metrics import Metrics, Served
    from .redis import RedisJobStore

TASK = "ec2_connector.run_job"
QUEUE = "ec2-connector"  # Celery's queue: a list of that name in the broker's Redis
MAX_RERUNS = 2
VISIBILITY_TIMEOUT_S = 86_400 + 3_600  # the longest job deadline (a day), and an hour
RERUN_NOTE = (
    "run again after the worker running it was lost (its lease lapsed); the first run may "
    "have reached EC2, and "
)
log = logging.getLogger("ec2_connector.worker")


def make_app(broker: str) -> Celery:
    """The Celery app for one broker; the same settings for submitters and workers."""
    from celery import Celery

    app = Celery("ec2_connector", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        # kombu's Redis transport with each message's ack bookkeeping one script call.
        broker_transport="ec2_connector.jobs.broker:Transport",
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "socket_timeout": 5,
            "socket_connect_timeout": 2,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # Nothing here uses `celery inspect`/`control` or task rate limits; without them a
        # worker keeps no broadcast channel to poll and checks no bucket per message.
        worker_enable_remote_control=False,
        worker_disable_rate_limits=True,
        task_serializer="json",
        accept_content=["json"],
    )
    app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True,
             ignore_result=True)(_run_job)
    return app


def send(app: Celery, job_id: str) -> None:
    """Queue a job id; a broker that is down fails at once (exitcode 4), never hangs."""
    from kombu.exceptions import OperationalError

    from ..errors import EndpointUnreachable
    from .redis import masked_url

    try:
        app.send_task(TASK, args=[job_id], retry=False)
    except (OperationalError, OSError) as exc:
        raise EndpointUnreachable(
            f"the broker at {masked_url(str(app.conf.broker_url))} is unreachable: "
            f"{type(exc).__name__}") from None


def close_app(app: Celery) -> None:
    app.close()


class WorkerState:
    """What one worker process shares across its threads: store, config, lease holder."""

    def __init__(self, app: Celery) -> None:
        from .redis import RedisJobStore

        self.app = app
        # One runtime for the worker: its threads share the clients, session and I/O pool.
        self.runtime = Runtime(Settings.from_env())
        settings = self.runtime.settings
        self.sweep_s = float(settings.sweep_s)
        self.store: RedisJobStore = RedisJobStore(
            str(app.conf.broker_url), job_ttl_s=settings.job_ttl_s,
            max_response_bytes=settings.max_response_bytes, thread_connections=True)
        self.connectors = Connectors(app.conf.get("ec2_connector_config") or settings.config)
        self.holder = new_holder()
        self.leases = lifecycle.Leases(self.store, settings.lease_s)
        self.runtime.throttle = TokenBucket(self.store.client, settings.throttle_rate,
                                            settings.throttle_burst, self.runtime.counts)
        self.metrics: Metrics | None = None
        self.served: Served | None = None
        self._stop = threading.Event()

    def run(self, job_id: str) -> None:
        # Its metrics (if served) count the job when lifecycle records its end.
        response = lifecycle.run(job_id, self.store, self.connectors, self.holder, self.leases,
                                 runtime=self.runtime)
        if response is not None:
            log.info("job %s ended: exitcode %s", job_id, response.exitcode)

    def serve_metrics(self, host: str, port: int) -> None:
        """Serve this worker's metrics on host:port; one line (exitcode 2) if it cannot."""
        from ..metrics import Metrics, jobs_by_status

        self.metrics = Metrics(self.runtime)
        self.metrics.read(lambda: (queue_depth(self.store), jobs_by_status(self.store)))
        try:
            self.served = self.metrics.serve(host, port)
        except OSError as exc:
            raise InvalidRequest(f"worker: cannot serve metrics on {host}:{port}: "
                                 f"{exc.strerror or exc}") from None
        log.info("metrics at http://%s:%d/metrics", host, self.served.port)

    def sweep(self) -> None:
        """Interrupt lapsed jobs; queue again those a lost worker held, up to MAX_RERUNS."""
        counts = self.runtime.counts
        for record in lifecycle.sweep(self.store, counts=counts):
            if record.status is not JobStatus.INTERRUPTED:
                continue
            if requeue(self.app, self.store, record):
                counts.add("reruns")
            else:
                log.warning("job %s: %s", record.id, record.message)
        self.store.tidy()  # the ids of expired jobs leave the indexes

    def sweep_forever(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception as exc:  # the store is down for now: sweep again later
                log.warning("sweep failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self.leases.stop()
        if self.served is not None:
            self.served.close()


def queue_depth(store: RedisJobStore) -> Metric:
    """Job messages waiting in the broker's queue for a worker."""
    from ..metrics import gauge

    return gauge("queue_depth", "Job messages waiting in the broker's queue.",
                 store.client.llen(QUEUE))


def requeue(app: Celery, store: RedisJobStore, record: JobRecord) -> bool:
    """Queue an interrupted Celery job again (once per rerun, whoever gets there first)."""
    if record.executor != "celery" or record.secrets_held or record.reruns >= MAX_RERUNS:
        return False
    if record.started_at is not None and not rerun_safe(record):
        return False  # it stays interrupted: `jobs resume` is a person's decision
    note = RERUN_NOTE + rerun_advice(record)
    won = store.transition(
        record.id, [JobStatus.INTERRUPTED], status=JobStatus.QUEUED, reruns=record.reruns + 1,
        message=note, holder=None, lease_until=None, started_at=None, finished_at=None)
    if won:
        log.warning("job %s: %s", record.id, note)
        send(app, record.id)
    return won


_state: WorkerState | None = None
_state_lock = threading.Lock()


def state(app: Celery) -> WorkerState:
    global _state
    with _state_lock:
        if _state is None:
            _state = WorkerState(app)
        return _state


def _run_job(task: Any, job_id: str) -> None:
    state(task.app).run(job_id)


def quiet_task_lines() -> None:
    """Celery's own two INFO lines per task ("received", "succeeded in") name its task
    uuid, not the job; the job's end is logged once, by job id, in `WorkerState.run`.
    Failures of a task still reach the log (Celery logs them at ERROR)."""
    for name in ("celery.worker.strategy", "celery.app.trace"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def _settle(**_: Any) -> None:
    startup.settle()


def serve(broker: str, concurrency: int, config: str | None = None,
          loglevel: str = "INFO", allow_volatile_store: bool = False,
          metrics: tuple[str, int] | None = None) -> int:
    """Run a worker in this process until it is stopped (threads pool); refused (exitcode
    2) on a Redis that can lose jobs, unless `allow_volatile_store` (or its setting), or
    when its `metrics` (host, port) cannot be served."""
    from celery.signals import worker_ready

    app = make_app(broker)
    if config is not None:
        app.conf.ec2_connector_config = config
    logging.basicConfig(level=loglevel, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_task_lines()
    worker_state = state(app)
    if metrics is not None:
        worker_state.serve_metrics(*metrics)
    allowed = allow_volatile_store or worker_state.runtime.settings.allow_volatile_store
    warning = worker_state.store.check_durable(allowed)
    if warning is not None:
        log.warning("%s", warning)
    sweeper = threading.Thread(target=worker_state.sweep_forever, args=(worker_state.sweep_s,),
                               name="ec2-connector-sweeper", daemon=True)
    sweeper.start()
    # The worker's start-up ends when Celery says it is ready: then the collector settles.
    worker_ready.connect(_settle, weak=False)
    argv: list[Any] = [
        "worker", "--pool=threads", f"--concurrency={concurrency}", f"--loglevel={loglevel}",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    try:
        app.worker_main(argv)
    finally:
        worker_state.stop()
    return 0
