"""One function per command: parse what is left, call `Call`, print, return the exit code."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from .options import UsageError
from .output import chosen_output, emit, make_view
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
    return emit(response.to_dict(), output, view)


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
    if progress is not None:
        builder.on_progress(progress)
    if args.async_ or args.wait_job:
        return builder.async_().wait()
    if output != "ndjson" or view.query is not None:
        return builder.sync()
    # NDJSON streams a listing's items as their pages arrive, in bounded memory; the
    # final envelope line then carries an empty list and meta "streamed-items".
    sink = LineSink(sys.stdout)
    builder.on_item(sink)
    try:
        return builder.sync()
    finally:
        sink.close()


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
