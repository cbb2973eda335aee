"""The `jobs` and `worker` commands, and `call --async`: thin layers over `Call.jobs`."""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import TimedOut
from ..settings import BROKER_ENV
from ..transport.deadline import Deadline
from .options import (
    GAVE_UP,
    Parser,
    UsageError,
    add_allow_volatile,
    add_broker,
    add_output_options,
    port,
    positive,
    register,
)
from .output import chosen_output, emit, emit_accepted, make_view, use_colour
from .prog import PROG
from .render import View, aligned, render, to_json
from .request import builder_for, find_action
from .table import Column, paint, render_table, text_rows

if TYPE_CHECKING:
    # Only for hints: the parser imports this module for every command, and a one-shot
    # call needs neither the job record nor what it imports (uuid, platform).
    from ..jobs.record import JobRecord



@register("jobs", 30)
def add_jobs(commands: Any) -> None:
    jobs = commands.add_parser("jobs",
                               help="async jobs: list, show, wait, resume, cancel, prune")
    sub = jobs.add_subparsers(dest="jobs_command", required=True,
                              metavar="list|show|wait|resume|cancel|prune", parser_class=Parser)
    listing = sub.add_parser("list", help="the latest jobs, newest first")
    listing.add_argument("--limit", type=positive, default=50,
                         help="at most this many (default: %(default)s)")
    listing.add_argument("--status", metavar="STATUS", help="only jobs with this status")
    listing.add_argument("-o", "--output", choices=("json", "table", "text"),
                         help="table: id, status, action, age, message (the default on a "
                         "terminal); json: the records (the default into a pipe); text: the "
                         "table's rows, tab-separated, no header")
    show = sub.add_parser("show", help="one job and, when done, its response")
    show.add_argument("-o", "--output", choices=("json", "table", "text"),
                      help="table: the job as aligned 'key: value' lines, then its response "
                      "as 'call' shows it (the default on a terminal); json: the record (the "
                      "default into a pipe); text: key and value, tab-separated")
    show.add_argument("--query", metavar="EXPR",
                      help="JMESPath over the record, e.g. status or 'response.data'")
    wait = sub.add_parser(
        "wait", help="wait for a job; print its response, exit with its code",
        epilog=f"Exit code {GAVE_UP}: --timeout passed and the job is still going (the "
        "envelope's data has still-running: true); wait again later. A job that itself "
        "timed out exits 3.")
    wait.add_argument("--timeout", type=positive, metavar="MS",
                      help=f"give up after MS (exit {GAVE_UP}; the job goes on)")
    resume = sub.add_parser(
        "resume", help="run an interrupted job again, once, at the endpoint it was submitted "
        "to, and wait for it (a create keeps its client token and first looks for what the "
        "token made)")
    resume.add_argument("--config", metavar="FILE", help="connector config (JSON)")
    resume.add_argument("--force", action="store_true",
                        help="resume even though the connector's config now differs")
    cancel = sub.add_parser(
        "cancel", help="cancel a job: queued or interrupted, it ends now; running, it stops "
        "before its next change to EC2; prints the job as 'show' does",
        epilog="Exit code 2: the job already ended (nothing changed).")
    cancel.add_argument("-o", "--output", choices=("json", "table", "text"),
                        help="as for 'jobs show'")
    cancel.add_argument("--query", metavar="EXPR", help="JMESPath over the record")
    for command in (show, wait, resume, cancel):
        command.add_argument("id", metavar="ID", help="a job id, or a unique prefix of one")
    for command in (wait, resume):
        add_output_options(command)
    prune = sub.add_parser("prune", help="delete jobs that ended long ago")
    prune.add_argument("--older-than", required=True, metavar="AGE",
                       help="e.g. 7d, 12h, 30m")
    for command in (listing, show, wait, resume, cancel, prune):
        add_broker(command)
    jobs.set_defaults(run=cmd_jobs)


@register("worker", 40)
def add_worker(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="a Celery worker running jobs from the broker (needs the 'worker' extra)")
    worker.add_argument("--concurrency", type=positive, default=16,
                        help="jobs at once (threads), default 16")
    worker.add_argument("--config", metavar="FILE", help="connector config (JSON)")
    worker.add_argument("--loglevel", default="INFO",
                        help="DEBUG, INFO, WARNING or ERROR (default: %(default)s)")
    worker.add_argument("--metrics-port", type=port, metavar="N",
                        help="serve this worker's metrics (Prometheus text) on port N")
    worker.add_argument("--metrics-host", metavar="HOST",
                        help="the address the metrics are served on (default: 127.0.0.1)")
    add_allow_volatile(worker)
    add_broker(worker)
    worker.set_defaults(run=cmd_worker)


def submit_async(config: str | None, connector: str, request: dict[str, Any],
                 broker: str | None, output: str = "json", view: View | None = None) -> int:
    """`call --async`: validate first (exitcode 2 and no job if invalid), then submit to
    the workers (with a broker) or to a detached runner (without)."""
    from ..call import Call
    from ..jobs.manager import RefusedJob

    call = Call(config=config, broker=broker)
    call.check(connector, request, job=True)
    if call.settings.broker or broker:
        with call:
            job = builder_for(call, connector, request).async_()
            if isinstance(job, RefusedJob):
                return emit(job.response.to_dict(), "json")
            return emit_accepted({"job-id": job.id, "status": job.status}, output, view)
    from .detached import submit_detached

    accepted = submit_detached(config, connector, request)
    if "job-id" not in accepted:  # the runner could not submit the job
        return emit(accepted, "json")
    return emit_accepted(accepted, output, view)


def cmd_jobs(args: argparse.Namespace, extra: list[str]) -> int:
    from ..call import Call
    from ..jobs.store import parse_age

    # `jobs wait --timeout` counts from here: finding the job is part of the wait.
    deadline = Deadline(args.timeout) if getattr(args, "timeout", None) else None
    # A bad query is exit 2 before anything is read or changed.
    queried = make_view(args) if args.jobs_command in ("show", "cancel") else None
    with Call(config=getattr(args, "config", None), broker=args.broker) as call:
        if deadline is not None and hasattr(call.jobs.store, "deadline"):
            call.jobs.store.deadline = deadline  # a networked store: no round trip outlasts it
        if args.jobs_command == "list":
            jobs = call.jobs.list(limit=args.limit, status=args.status)
            _print_jobs([job.record() for job in jobs], chosen_output(args))
            return 0
        if args.jobs_command == "prune":
            removed = call.jobs.prune(parse_age(args.older_than))
            print(to_json({"pruned": removed}))
            return 0
        job = call.job(args.id)
        if args.jobs_command == "show":
            return _show(job.to_dict(), args, queried)
        if args.jobs_command == "cancel":
            return _show(job.cancel().public(), args, queried)
        if args.jobs_command == "resume":
            job = call.jobs.resume(job.id, force=args.force)
            args.timeout = deadline = None
        return _wait(job, args, deadline)


def _wait(job: Any, args: argparse.Namespace, deadline: Deadline | None) -> int:
    record = job.record()
    action = find_action(str(record.action))
    view = make_view(args, action.result if action else None,
                     tuple(action.table_columns()) if action else ())
    progress = JobProgress(sys.stderr) if sys.stderr.isatty() else None
    last = [record]

    def polled(record: JobRecord) -> None:
        last[0] = record
        if progress is not None:
            progress(record)

    try:
        left_ms = None if deadline is None else max(1, int(deadline.remaining() * 1000))
        response = job.wait(left_ms, on_poll=polled)
    except TimedOut:  # the status last read: the store is not asked again past the deadline
        return emit(_gave_up(job.id, last[0].status.value, args.timeout), chosen_output(args))
    finally:
        if progress is not None:
            progress.close()
    return emit(response.to_dict(), chosen_output(args), view)


def _show(record: dict[str, Any], args: argparse.Namespace, queried: View | None) -> int:
    output = chosen_output(args)
    if queried is not None and queried.query is not None:
        return emit({"exitcode": 0, "message": "", "data": record, "meta": {}}, output,
                    queried)
    if output == "json":
        print(to_json(record))
    elif output == "text":
        print("\n".join(text_rows(record.items())))
    else:
        print("\n".join(_show_lines(record, args)))
    return 0


def _show_lines(record: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """For people: the record's filled fields aligned, then its response as `call` shows
    the action's result (a table of its items)."""
    response = record.get("response")
    shown = {k: v for k, v in record.items() if v is not None and k != "response"}
    if not isinstance(response, dict):
        return aligned(shown)
    said = response.get("message")
    shown["response"] = f"exitcode {response.get('exitcode')}" + (
        "" if said == record.get("message") else f": {said}")  # not the message twice
    action = find_action(str(record.get("action")))
    view = make_view(args, action.result if action else None,
                     tuple(action.table_columns()) if action else ())
    result = list(render(response, "table", view))
    return [*aligned(shown), *(["", *result] if result else [])]


def _gave_up(job_id: str, status: str, waited: int) -> dict[str, Any]:
    # Not the job's own exitcode 3 (it timed out): the job goes on, a script may wait again.
    return {
        "exitcode": GAVE_UP,
        "message": f"gave up after waiting {waited} ms; the job is still {status}: wait "
        f"again with '{PROG} jobs wait {job_id}'",
        "data": {"job-id": job_id, "status": status, "still-running": True},
        "meta": {},
    }


def cmd_worker(args: argparse.Namespace, extra: list[str]) -> int:
    from ..settings import Settings

    broker = args.broker or Settings.from_env().broker
    if not broker:
        raise UsageError(f"worker: give --broker redis://HOST:PORT/DB or set {BROKER_ENV}")
    if args.metrics_host is not None and args.metrics_port is None:
        raise UsageError("worker: --metrics-host needs --metrics-port")
    try:
        from ..jobs.worker import serve
    except ImportError as exc:
        raise UsageError(
            f"the worker needs {exc.name}: pip install 'ec2-connector[worker]'") from None
    metrics = None if args.metrics_port is None else (
        args.metrics_host or "127.0.0.1", args.metrics_port)
    return serve(broker, args.concurrency, args.config, args.loglevel,
                 args.allow_volatile_store, metrics)


def check_store_at_start(broker: str, allow_volatile: bool) -> None:
    """`serve` with a broker: refuse a Redis that can lose jobs (exitcode 2, one line)
    unless allowed, then warn once on stderr."""
    from ..jobs.redis import RedisJobStore

    store = RedisJobStore(broker)
    try:
        warning = store.check_durable(allow_volatile)
    finally:
        store.close()
    if warning is not None:
        print(f"{PROG}: warning: {warning}", file=sys.stderr, flush=True)


def _print_jobs(records: list[JobRecord], output: str) -> None:
    rows = [_row(r) for r in records]
    if output == "json":
        print(to_json([r.public() for r in records]))
    elif output == "text":
        print("\n".join(text_rows(list(r.values()) for r in rows)))
    elif not rows:
        print("(no jobs)")
    else:
        terminal = sys.stdout.isatty()
        print("\n".join(job_table(
            rows, shutil.get_terminal_size().columns if terminal else None,
            colour=terminal and use_colour())))


def _row(record: JobRecord) -> dict[str, Any]:
    return {
        "id": record.id[:12],
        "status": record.status.value,
        "action": record.action,
        "age": age_text(time.time() - record.created_at),
        "message": record.message or "",
    }


_SGR = re.compile(r"\x1b\[[0-9;]*m")
_MESSAGE_ROOM = 24  # narrower than this, a message goes on lines of its own


def job_table(rows: list[dict[str, Any]], width: int | None, colour: bool) -> list[str]:
    """The jobs table with every message whole: MESSAGE last, wrapped in the width the
    other columns leave, or under its row when they leave too little."""
    head = render_table(rows, [Column(k, k) for k in rows[0] if k != "message"],
                        colour=colour)
    start = max(len(_SGR.sub("", line)) for line in head) + 2
    room = None if width is None else width - start
    label = paint("MESSAGE", "dim") if colour else "MESSAGE"
    out = []
    for n, (line, message) in enumerate(zip(head, [label, *(r["message"] for r in rows)],
                                            strict=True)):
        pad = " " * (start - len(_SGR.sub("", line)))
        if room is None:
            out.append((line + pad + message).rstrip())
        elif room >= _MESSAGE_ROOM:
            first, *rest = textwrap.wrap(message, room, break_on_hyphens=False) or [""]
            out.append((line + pad + first).rstrip())
            out.extend(" " * start + more for more in rest)
        else:
            out.append(line)
            if n and width is not None:
                parts = textwrap.wrap(message, width - 4, break_on_hyphens=False)
                out.extend("    " + part for part in parts)
    return out


def age_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


class JobProgress:
    """One line on a terminal while waiting for a job: its status and how long it ran."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._drawn = False
        self._started = time.monotonic()

    def __call__(self, record: JobRecord) -> None:
        waited = age_text(time.monotonic() - self._started)
        self._stream.write(f"\r\x1b[Kjob {record.id[:12]}: {record.status.value} ({waited})")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
