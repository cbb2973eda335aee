"""One function per command: parse what is left, call `Call`, print, return the exit code."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..render import LineSink, ProgressLine, action_text, actions_text, to_json
from .output import emit
from .parser import UsageError
from .request import builder_for, gather_request, result_key_of

if TYPE_CHECKING:
    from ..call import RequestBuilder


def cmd_call(args: argparse.Namespace, extra: list[str]) -> int:
    # parse_known_args leaves pairs that came after an option in `extra`: same meaning.
    unknown = [word for word in extra if word.startswith("-")]
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    request = gather_request([*args.words, *extra], args.request)
    if args.timeout is not None:
        request["timeout"] = args.timeout  # the flag beats a timeout in the request file
    result_key = result_key_of(request)
    from ..call import Call

    if args.async_ and not args.wait_job:
        from .jobs import submit_async

        return submit_async(args.config, args.connector, request, args.broker)

    progress = ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    try:
        with Call(config=args.config, broker=args.broker) as call:
            response = _run(builder_for(call, args.connector, request), args, progress)
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




def cmd_actions(args: argparse.Namespace, extra: list[str]) -> int:
    from ..actions import catalog

    if args.action:
        entry = catalog.get(args.action).describe()
        print(to_json(entry) if args.json else action_text(entry))
    else:
        entries = catalog.describe()
        print(to_json(entries) if args.json else actions_text(entries))
    return 0


def cmd_serve(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        from ..service import serve
    except ImportError as exc:
        raise UsageError(
            f"the HTTP service needs {exc.name}: pip install 'ec2-connector[service]'"
        ) from None
    return serve(args.host, args.port, config=args.config)


def cmd_sandbox(args: argparse.Namespace, extra: list[str]) -> int:
    from ..sandbox import serve_until_stopped

    return serve_until_stopped(args.port, sys.stdout)


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    from ..demo import run

    return run(sys.stdout)
