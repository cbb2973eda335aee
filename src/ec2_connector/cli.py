"""The `ec2-connector` command: parse, call `Call`, render, exit with the response's exitcode.

Start-up time matters (a one-shot call is compared with the AWS CLI), so boto3, FastAPI
and moto are imported only by the commands that need them: `actions` never loads boto3.
Every failure leaves through `main()`: one line on stderr, the envelope on stdout, and
the exit code of the error's class; no traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .config import DEFAULT_CONNECTOR
from .errors import ConnectorError, InvalidRequest, TimedOut, translate
from .render import (
    LineSink,
    ProgressLine,
    action_text,
    actions_text,
    ndjson_lines,
    table_text,
    to_json,
)

if TYPE_CHECKING:
    from .call import Call, RequestBuilder

PROG = "ec2-connector"
OUTPUTS = ("json", "table", "ndjson")


class UsageError(InvalidRequest):
    """A mistake on the command line itself: nothing was sent to EC2 (exitcode 2)."""


class _Parser(argparse.ArgumentParser):
    # argparse would print the usage and exit; one line and the envelope are our contract.
    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        hint = f" (see '{self.prog} --help')"
        raise UsageError((f"{command}: {message}" if command else message) + hint)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (the response's exitcode for calls)."""
    output = "json"
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        output = getattr(args, "output", "json")
        if extra and args.command != "call":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return int(args.run(args, extra))
    except ConnectorError as exc:
        return emit(_envelope(exc), output)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # A call still running on an I/O thread would hold the interpreter's exit until its
        # deadline; Ctrl-C means now. (A job of this process is then marked interrupted.)
        os._exit(130)
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more can be shown; leave quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug of ours: still one line and an envelope
        return emit(_envelope(translate(exc)), output)


def _envelope(exc: ConnectorError) -> dict[str, Any]:
    return {"exitcode": int(exc.exit_code), "message": exc.message, "data": exc.data, "meta": {}}


def emit(envelope: dict[str, Any], output: str, result_key: str | None = None) -> int:
    """Print an envelope in the chosen output; a failure also gets one line on stderr."""
    exitcode = int(envelope.get("exitcode", 1))
    if exitcode != 0:
        message = " ".join(str(envelope.get("message", "")).split())
        print(f"{PROG}: {message} (exitcode {exitcode})", file=sys.stderr, flush=True)
    if output == "ndjson":
        for line in ndjson_lines(envelope, result_key):
            print(line)
    elif output == "table":
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(table_text(envelope, result_key, width))
    else:
        print(to_json(envelope))
    sys.stdout.flush()
    return exitcode


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog=PROG, description="Flint's AWS-EC2 connector: calls, jobs, service.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_Parser)
    _add_call(commands)
    actions = commands.add_parser("actions", help="the action catalog")
    actions.add_argument("action", nargs="?", metavar="ACTION", help="one action in detail")
    actions.add_argument("--json", action="store_true", help="the catalog as JSON")
    actions.set_defaults(run=cmd_actions)
    _add_jobs(commands)
    serve = commands.add_parser("serve", help="the HTTP service (needs the 'service' extra)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8700)
    serve.add_argument("--config", metavar="FILE", help="connector config (JSON)")
    serve.set_defaults(run=cmd_serve)
    sandbox = commands.add_parser("sandbox", help="a local EC2-compatible endpoint (moto)")
    sandbox.add_argument("--port", type=_port, default=5000)
    sandbox.set_defaults(run=cmd_sandbox)
    demo = commands.add_parser("demo", help="the seed's flow against an embedded sandbox")
    demo.set_defaults(run=cmd_demo)
    return parser


def _add_call(commands: Any) -> None:
    call = commands.add_parser(
        "call", help="run one action",
        description="Values: key=value is a string, key:=json a JSON value (list, object, "
        "number, true/false). --request FILE (or - for stdin) gives a whole JSON request.",
    )
    call.add_argument("words", nargs="*", metavar="ACTION [key=value | key:=json ...]")
    call.add_argument("--connector", default=DEFAULT_CONNECTOR, help="connector name")
    call.add_argument("--config", metavar="FILE", help="connector config (JSON)")
    call.add_argument("--timeout", type=_positive, metavar="MS", help="bound on the call, ms")
    call.add_argument("--async", dest="async_", action="store_true",
                      help="submit as a job and print its id at once")
    call.add_argument("--wait-job", action="store_true",
                      help="run as a job and wait for its response")
    call.add_argument("--request", metavar="FILE", help="a JSON request object; - for stdin")
    call.add_argument("--output", choices=OUTPUTS, default="json")
    call.set_defaults(run=cmd_call)


def _add_jobs(commands: Any) -> None:
    jobs = commands.add_parser("jobs", help="async jobs: list, show, wait, resume")
    sub = jobs.add_subparsers(dest="jobs_command", required=True,
                              metavar="list|show|wait|resume", parser_class=_Parser)
    listing = sub.add_parser("list", help="the latest jobs, newest first")
    listing.add_argument("--limit", type=_positive, default=50)
    show = sub.add_parser("show", help="one job and, when done, its response")
    show.add_argument("id", metavar="ID")
    wait = sub.add_parser("wait", help="wait for a job; print its response, exit with its code")
    wait.add_argument("id", metavar="ID")
    wait.add_argument("--timeout", type=_positive, metavar="MS", help="give up after MS")
    wait.add_argument("--output", choices=OUTPUTS, default="json")
    resume = sub.add_parser(
        "resume", help="run an interrupted job again and wait for it (a create keeps its "
        "client token, so it never launches twice)")
    resume.add_argument("id", metavar="ID")
    resume.add_argument("--config", metavar="FILE", help="connector config (JSON)")
    resume.add_argument("--output", choices=OUTPUTS, default="json")
    jobs.set_defaults(run=cmd_jobs)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


# --- call -------------------------------------------------------------------------------


def cmd_call(args: argparse.Namespace, extra: list[str]) -> int:
    # parse_known_args leaves pairs that came after an option in `extra`: same meaning.
    unknown = [word for word in extra if word.startswith("-")]
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    request = gather_request([*args.words, *extra], args.request)
    if args.timeout is not None:
        request["timeout"] = args.timeout  # the flag beats a timeout in the request file
    result_key = result_key_of(request)
    from .call import Call

    if args.async_ and not args.wait_job:
        # An unknown connector or a broken config file is a mistake to report now, not
        # in a job that fails later (this starts no thread: the fork below stays safe).
        Call(config=args.config).connectors.get(args.connector)
        return submit_detached(args.config, args.connector, request)

    progress = ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    try:
        with Call(config=args.config) as call:
            response = _run(_builder(call, args.connector, request), args, progress)
    finally:
        if progress is not None:
            progress.close()
    return emit(response.to_dict(), args.output, result_key)


def _run(builder: RequestBuilder, args: argparse.Namespace, progress: ProgressLine | None) -> Any:
    if progress is not None:
        builder.on_progress(progress)
    if args.async_ or args.wait_job:
        return builder.async_().wait()
    if args.output != "ndjson":
        return builder.sync()
    # NDJSON streams a listing's items as their pages arrive, in bounded memory; the
    # final envelope line then carries an empty list and meta "streamed-items".
    sink = LineSink(sys.stdout)
    builder.on_item(sink)
    try:
        return builder.sync()
    finally:
        sink.close()


def submit_detached(config: str | None, connector: str, request: dict[str, Any]) -> int:
    """Submit a job from a background process that outlives this command.

    A job runs on the pool of the process that submitted it, and a job whose process
    exits is marked interrupted. So `--async` forks a detached process (its own session,
    stdio on /dev/null so a `$(...)` reading our stdout is not held open) which submits
    the job, reports its id through a pipe, and stays until the job has ended. The fork
    happens before any thread or client exists in this process.
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        # No fork (Windows), or threads that a fork would not copy: run the job here and
        # wait for it (its id is printed first).
        _submit_and_wait(config, connector, request, None)
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _background(config, connector, request, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        raw = pipe.read()
    os.waitpid(pid, 0)
    try:
        accepted: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise ConnectorError("the background process ended before submitting the job") from None
    if "job-id" not in accepted:  # the background process could not submit the job
        return emit(accepted, "json")
    print(to_json(accepted))
    return 0


def _background(config: str | None, connector: str, request: dict[str, Any], out: int) -> NoReturn:
    code = 0
    try:
        os.setsid()
        if os.fork() != 0:  # the session leader leaves; its child can never get a terminal
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _submit_and_wait(config, connector, request, out)
    except BaseException as exc:
        code = 1
        _report(out, _envelope(translate(exc)))
    finally:
        os._exit(code)


def _submit_and_wait(
    config: str | None, connector: str, request: dict[str, Any], out: int | None
) -> None:
    from .call import Call

    with Call(config=config) as call:
        job = _builder(call, connector, request).async_()
        accepted = {"job-id": job.id, "status": job.status}
        if out is None:
            print(to_json(accepted), flush=True)
        else:
            _report(out, accepted)
        job.wait()


def _builder(call: Call, connector: str, request: dict[str, Any]) -> RequestBuilder:
    builder = call.connector(connector)
    for key, value in request.items():
        builder.set(key, value)
    return builder


def _report(out: int, message: dict[str, Any]) -> None:
    try:
        os.write(out, json.dumps(message, default=str).encode())
        os.close(out)
    except OSError:
        pass  # already reported, or the command is gone: nobody left to tell


def gather_request(words: list[str], request_file: str | None) -> dict[str, Any]:
    """The flat request: the --request object, then ACTION, then key=value pairs over it."""
    request = read_request(request_file) if request_file else {}
    if words and "=" not in words[0]:
        request["action"] = words.pop(0)
    for position, word in enumerate(words, start=1):
        key, value = parse_pair(word, position)
        request[key] = value
    if not request.get("action"):
        raise UsageError(
            f"no action: give ACTION or an 'action' in --request (see '{PROG} actions')"
        )
    return request


def parse_pair(word: str, position: int) -> tuple[str, Any]:
    """`key=value` (a string) or `key:=json` (a JSON value), as httpie reads them.

    Errors name the key and the position, never the value: it may be a secret.
    """
    index = word.find("=")
    is_json = index > 0 and word[index - 1] == ":"
    key = word[: index - 1] if is_json else word[:index]
    if index < 0 or not key:
        raise UsageError(
            f"parameter {position} is not key=value or key:=json"
        )
    raw = word[index + 1 :]
    if not is_json:
        return key, raw
    try:
        return key, json.loads(raw)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
        raise UsageError(
            f"the value of '{key}' (given with :=) is not valid JSON: {reason}; "
            f"use {key}=text for a plain string"
        ) from None


def read_request(source: str) -> dict[str, Any]:
    """A whole JSON request object from a file, or from stdin for `-`."""
    where = "stdin" if source == "-" else f"file {source}"
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read the request {where}: {reason}") from None
    try:
        request = json.loads(text)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
        raise UsageError(f"the request {where} is not valid JSON: {reason}") from None
    if not isinstance(request, dict):
        kind = type(request).__name__.replace("dict", "object").replace("list", "array")
        raise UsageError(f"the request {where} must be a JSON object, not {kind}")
    return request


def result_key_of(request: dict[str, Any]) -> str | None:
    """The data key holding the action's result list (for table and ndjson output)."""
    from .actions import catalog

    try:
        return catalog.get(str(request.get("action"))).result
    except InvalidRequest:
        return None


# --- actions, jobs ----------------------------------------------------------------------


def cmd_actions(args: argparse.Namespace, extra: list[str]) -> int:
    from .actions import catalog

    if args.action:
        entry = catalog.get(args.action).describe()
        print(to_json(entry) if args.json else action_text(entry))
    else:
        entries = catalog.describe()
        print(to_json(entries) if args.json else actions_text(entries))
    return 0


def cmd_jobs(args: argparse.Namespace, extra: list[str]) -> int:
    from .call import Call

    with Call(config=getattr(args, "config", None)) as call:
        if args.jobs_command == "list":
            print(to_json([job.to_dict() for job in call.jobs.list(limit=args.limit)]))
            return 0
        job = call.job(args.id)
        if args.jobs_command == "resume":
            job = call.jobs.resume(job.id)
            args.timeout = None
        if args.jobs_command == "show":
            print(to_json(job.to_dict()))
            return 0
        try:
            response = job.wait(args.timeout)
        except TimedOut as exc:
            raise TimedOut(
                f"{exc.message} after waiting {args.timeout} ms; the job goes on: wait again "
                f"with '{PROG} jobs wait {job.id}'",
                data={"job-id": job.id, "status": job.status},
            ) from None
        action = job.to_dict().get("action")
        return emit(response.to_dict(), args.output, result_key_of({"action": action}))


# --- serve, sandbox, demo ---------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        from .service import serve
    except ImportError as exc:
        raise UsageError(
            f"the HTTP service needs {exc.name}: pip install 'ec2-connector[service]'"
        ) from None
    return serve(args.host, args.port, config=args.config)


def cmd_sandbox(args: argparse.Namespace, extra: list[str]) -> int:
    from .sandbox import serve_until_stopped

    return serve_until_stopped(args.port, sys.stdout)


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    from .demo import run

    return run(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
