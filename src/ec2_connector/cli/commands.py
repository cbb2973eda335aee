"""One function per command: parse what is left, call `Call`, print, return the exit code."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..config import DEFAULT_CONNECTOR
from .options import (
    UsageError,
    add_allow_volatile,
    add_broker,
    add_output_options,
    port,
    positive,
    register,
)
from .output import chosen_output, emit, make_view
from .prog import PROG
from .render import LineSink, ProgressLine, View, to_json
from .request import builder_for, find_action, flag_hint, gather_request

if TYPE_CHECKING:
    from ..call import RequestBuilder
    from ..spec.action import Action


def cmd_call(args: argparse.Namespace, extra: list[str]) -> int:
    if args.help:
        return _call_help(args)
    words = _words(args, extra)
    if args.profile and args.async_ and not args.wait_job:
        raise UsageError("--profile does not reach a detached job: use --wait-job, or a "
                         "connector with \"profile\" in its config")
    request = gather_request(words, args.request, _flags(args))
    if args.timeout is not None:
        request["timeout"] = args.timeout  # the flag beats a timeout in the request file
    action = find_action(str(request.get("action")))
    view = make_view(args, action.result if action else None, curated_columns(action))
    output = chosen_output(args)
    from ..call import Call

    if args.async_ or args.wait_job:  # a job: this process may wait or run it for long
        from ..transport import startup

        startup.release(freeze=False)
    if args.async_ and not args.wait_job:
        from .jobs import submit_async

        return submit_async(args.config, args.connector, request, args.broker, output, view)

    progress = ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    try:
        with Call(config=args.config, broker=args.broker) as call:
            if args.profile:
                call.connectors.use_profile(args.connector, args.profile)
            builder = builder_for(call, args.connector, request)
            response = _run(builder, args, output, view, progress)
    finally:
        if progress is not None:
            progress.close()
    # After `| head` took what it wanted (LineSink.reader_gone), emit's write finds the pipe
    # closed and leaves quietly, with the call's exit code.
    code = emit(response.to_dict(), output, view)
    # A sync call leaves no store, pool or file behind: the process may end at once.
    args.nothing_left = not (args.async_ or args.wait_job)
    return code


def _words(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The action and pairs; an unknown --flag is refused with the pair it likely means."""
    for position, word in enumerate(extra):
        if word.startswith("-") and word != "-":
            value = word.split("=", 1)[1] if "=" in word else None
            if value is None and position + 1 < len(extra):
                following = extra[position + 1]
                value = None if following.startswith("-") or "=" in following else following
            first = args.words[0] if args.words and "=" not in args.words[0] else ""
            raise UsageError(flag_hint(word, value, find_action(first), args.parser))
    # parse_known_args leaves pairs that came after an option in `extra`: same meaning.
    return [*args.words, *extra]


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """The AWS CLI's flags as the pairs they equal."""
    flags: dict[str, Any] = {"region": args.region, "endpoint-url": args.endpoint_url}
    if args.dry_run:
        flags["dry-run"] = True
    return {k: v for k, v in flags.items() if v is not None}


def _call_help(args: argparse.Namespace) -> int:
    words = [w for w in args.words if "=" not in w]
    if words:
        from ..actions import catalog
        from .helptext import action_help

        print(action_help(catalog.get(words[0])))
    else:
        args.parser.print_help()
    return 0


def _run(
    builder: RequestBuilder, args: argparse.Namespace, output: str, view: View,
    progress: ProgressLine | None,
) -> Any:
    if args.async_ or args.wait_job:
        return _waited(builder.async_(), progress is not None)
    if progress is not None:
        builder.on_progress(progress)
    if output != "ndjson" or view.query is not None:
        return builder.sync()
    # NDJSON streams a listing's items as their pages arrive, in bounded memory; the
    # final envelope line then carries an empty list and meta "streamed-items".
    give_back_page_buffers()
    sink = LineSink(sys.stdout)
    builder.on_item(sink)
    try:
        return builder.sync()
    finally:
        sink.close()


def give_back_page_buffers() -> None:
    """Have the C allocator return each page's body to the system when it is freed.

    glibc serves a big block (a 4 MB page body) with its own mapping, freed at once, but
    then raises that threshold to the freed block's size, so the next page's body comes
    from the heap and stays resident after it is freed: a 10,000-instance listing then
    peaked ~1.13x a 1,000-instance one. A fixed threshold keeps it flat. Elsewhere (no
    glibc) nothing changes.
    """
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 256 * 1024)
    except (OSError, AttributeError):  # not glibc: its allocator, its own behaviour
        pass


M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def _waited(job: Any, on_terminal: bool) -> Any:
    """`call --wait-job`: the job's response, with its status drawn on the terminal while
    it runs (as `jobs wait` draws it), and erased before the response is printed."""
    if not on_terminal:
        return job.wait()
    from .jobs import JobProgress

    drawn = JobProgress(sys.stderr)
    try:
        return job.wait(on_poll=drawn)
    finally:
        drawn.close()


def curated_columns(action: Action | None) -> tuple[str, ...]:
    """The columns a table of the action's result shows, as its declaration says."""
    return tuple(action.table_columns()) if action is not None else ()


def cmd_actions(args: argparse.Namespace, extra: list[str]) -> int:
    from ..actions import catalog
    from .helptext import action_help, actions_list

    if args.action:
        action = catalog.get(args.action)
        print(to_json(action.describe()) if args.json else action_help(action))
    else:
        entries = catalog.describe()
        print(to_json(entries) if args.json else actions_list(entries))
    return 0


def cmd_completion(args: argparse.Namespace, extra: list[str]) -> int:
    from .completion import script

    sys.stdout.write(script(args.shell, args.call_parser))
    return 0


def cmd_serve(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        from ..service.app import serve
    except ImportError as exc:
        raise UsageError(
            f"the HTTP service needs {exc.name}: pip install 'ec2-connector[service]'"
        ) from None
    _check_free(args.host, args.port)
    from ..settings import Settings
    from .jobs import check_store_at_start

    settings = Settings.from_env()
    if settings.broker:
        check_store_at_start(settings.broker,
                             args.allow_volatile_store or settings.allow_volatile_store)
    return serve(args.host, args.port, config=args.config)


def _check_free(host: str, port: int) -> None:
    """A port already taken is a mistake to say in one line (exitcode 2), before the
    service starts; the server would otherwise fail during its own start-up."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                + (" (is another server running there?)" if exc.errno == errno.EADDRINUSE else "")
            ) from None


def cmd_sandbox(args: argparse.Namespace, extra: list[str]) -> int:
    from ..sandbox.server import serve_until_stopped

    return serve_until_stopped(args.port, sys.stdout, args.write_config)


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    from ..sandbox.demo import run

    return run(sys.stdout)


# ---------------------------------------------------------------- the commands' parsers

@register("call", 10)
def add_call(commands: Any) -> argparse.ArgumentParser:
    call: argparse.ArgumentParser = commands.add_parser(
        "call", help="run one action", add_help=False, allow_abbrev=False,
        usage=f"{PROG} call ACTION [key=value | key:=json ...] [options]",
        description="Run ACTION once and print its response; the exit code is the "
        "response's exitcode. 'call ACTION --help' shows that action's parameters.",
        epilog="Values: key=value is a string; key:=json a JSON value (list, object, number, "
        "true/false). A list parameter may be repeated (instance-id=i-1 instance-id=i-2) or "
        "given as 'i-1,i-2' or 'i-1 i-2'. key=@FILE or key=file://FILE reads the value from "
        "a file (bytes for user-data, so gzip'd cloud-init works), key=fileb://FILE as "
        "bytes, key=@- from stdin; \\@ keeps a leading @.",
    )
    call.add_argument("words", nargs="*", metavar="ACTION [key=value ...]",
                      help="the action, then its parameters")
    call.add_argument("-h", "--help", action="store_true",
                      help="this help, or with ACTION that action's parameters")
    aws = call.add_argument_group("as in the AWS CLI (each equal to its pair)")
    aws.add_argument("--region", help="AWS region (region=...)")
    aws.add_argument("--endpoint-url", metavar="URL", help="EC2 endpoint (endpoint-url=...)")
    aws.add_argument("--profile", help="take credentials from this AWS profile")
    aws.add_argument("--dry-run", action="store_true",
                     help="ask EC2 whether the call would succeed, change nothing (dry-run=true)")
    call.add_argument("--connector", default=DEFAULT_CONNECTOR,
                      help="connector name (default: %(default)s)")
    call.add_argument("--config", metavar="FILE",
                      help="connector config (JSON; default: $EC2_CONNECTOR_CONFIG)")
    call.add_argument("--timeout", type=positive, metavar="MS",
                      help="bound on the whole call, ms (default: 60000)")
    call.add_argument("--async", dest="async_", action="store_true",
                      help="submit as a job and print its id at once")
    call.add_argument("--wait-job", action="store_true",
                      help="run as a job and wait for its response")
    call.add_argument("--request", metavar="FILE", help="a JSON request object; - for stdin")
    add_output_options(call)
    add_broker(call)
    # A sync call's start-up lasts until its first request (transport/startup.py).
    call.set_defaults(run=cmd_call, parser=call, startup_until_request=True)
    return call


@register("actions", 20)
def add_actions(commands: Any) -> None:
    actions = commands.add_parser(
        "actions", help="the action catalog, or one action's parameters and an example",
        description="Without ACTION: every action with its one-line description. With "
        "ACTION: its parameters (types, choices, defaults, which are secret), its result "
        "and a ready-to-run example.")
    actions.add_argument("action", nargs="?", metavar="ACTION", help="one action in detail")
    actions.add_argument("--json", action="store_true", help="the catalog entry as JSON")
    actions.set_defaults(run=cmd_actions)


@register("serve", 50)
def add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="the HTTP service (needs the 'service' extra)",
        description="Serve the connector over HTTP (POST /v1/connectors/NAME/sync, jobs, "
        "the catalog; the OpenAPI schema at /openapi.json) until Ctrl-C or SIGTERM.",
        epilog="Environment: EC2_CONNECTOR_TOKEN is an admin's bearer token (Authorization: "
        "Bearer <token>); 'ec2-connector token create' adds principals with roles and "
        "limits. Without either there is no auth, and the service refuses to listen beyond "
        "loopback. EC2_CONNECTOR_CONFIG: the config when --config is not given; "
        "EC2_CONNECTOR_AUDIT_FILE: the audit trail.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=port, default=8700,
                       help="port to listen on (default: %(default)s)")
    serve.add_argument("--config", metavar="FILE",
                       help="connector config (JSON; default: $EC2_CONNECTOR_CONFIG)")
    add_allow_volatile(serve)
    serve.set_defaults(run=cmd_serve)


@register("sandbox", 80)
def add_sandbox(commands: Any) -> None:
    sandbox = commands.add_parser(
        "sandbox", help="a local EC2-compatible endpoint to try calls on (moto)",
        description="Run an EC2-compatible endpoint on 127.0.0.1 until Ctrl-C; it prints the "
        "settings to point calls at it. Needs the 'sandbox' extra.")
    sandbox.add_argument("--port", type=port, default=5000,
                         help="loopback port to listen on (default: %(default)s)")
    sandbox.add_argument("--write-config", metavar="FILE",
                         help="also write the connector config it prints to FILE")
    sandbox.set_defaults(run=cmd_sandbox)


@register("demo", 90)
def add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="a tour: launch, tag, stop and terminate in an embedded sandbox",
        description="Walk through a typical script (launch, describe, tag, stop, terminate) "
        "against an embedded EC2-compatible sandbox; touches no AWS account.")
    demo.set_defaults(run=cmd_demo)


@register("completion", 100, needs=("call",))
def add_completion(commands: Any) -> None:
    completion = commands.add_parser(
        "completion", help="a shell completion script: bash, zsh or fish",
        description="Print a completion script for subcommands, action names and each "
        "action's parameter names. bash: eval \"$(ec2-connector completion bash)\"; zsh: "
        "the same in ~/.zshrc; fish: ec2-connector completion fish | source.")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    # The script reads the call's options from its parser, so that it cannot drift.
    completion.set_defaults(run=cmd_completion, call_parser=commands.choices["call"])
