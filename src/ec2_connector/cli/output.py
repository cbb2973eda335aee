"""How a command leaves: one line on stderr for a failure, the response on stdout.

On a terminal the response is shown for people (a table, or `key: value` lines); into
a pipe it is the JSON envelope, so scripts keep working. `--output` chooses either way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..response import SUCCESS_MESSAGE
from .options import UsageError
from .prog import PROG
from .render import View, render, to_json


def chosen_output(args: argparse.Namespace | None) -> str:
    """--output, else table on a terminal and json into a pipe or file."""
    given = getattr(args, "output", None) if args is not None else None
    if given:
        return str(given)
    return "table" if sys.stdout.isatty() else "json"


def make_view(
    args: argparse.Namespace, result: str | None = None, columns: Sequence[str] = ()
) -> View:
    """The view the output options ask for; a bad --query is refused before any call."""
    query = None
    if getattr(args, "query", None):
        from .table import compile_query

        try:
            query = compile_query(args.query)
        except ValueError as exc:
            raise UsageError(f"--query is not a JMESPath expression: {exc}") from None
    terminal = sys.stdout.isatty()
    return View(
        result=result,
        columns=tuple(columns),
        chosen=tuple(getattr(args, "columns", None) or ()),
        query=query,
        width=shutil.get_terminal_size().columns if terminal else None,
        colour=terminal and use_colour(),
        verbose=bool(getattr(args, "verbose", False)),
    )


def use_colour() -> bool:
    # https://no-color.org: NO_COLOR set to anything but empty turns colour off.
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def emit(envelope: dict[str, Any], output: str | None, view: View | None = None) -> int:
    """Print an envelope in the chosen output; a failure also gets one line on stderr."""
    exitcode = int(envelope.get("exitcode", 1))
    message = " ".join(str(envelope.get("message", "")).split())
    output = output or chosen_output(None)
    view = view or View()
    try:
        lines = list(render(envelope, output, view))
    except ValueError as exc:  # table.QueryFailed, imported only by what queries or draws
        from .table import QueryFailed

        if not isinstance(exc, QueryFailed):
            raise
        # The call's own outcome comes first: a failure keeps its code and its line. Only
        # a call that succeeded is failed by its query, saying that the call itself ran.
        lines = []
        if exitcode == 0:
            exitcode = int(UsageError.exit_code)
            message = (f"--query cannot apply to this result: {exc} (the call itself "
                       "succeeded)")
    if exitcode != 0:
        print(f"{PROG}: {message} (exitcode {exitcode})", file=sys.stderr, flush=True)
    try:
        for line in lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`) having read what it wanted; the exit code stays
        # the call's, so `set -o pipefail` still sees a failure.
        quiet_stdout()
    for note in dict.fromkeys(view.notes):
        print(f"{PROG}: note: {note}", file=sys.stderr, flush=True)
    return exitcode


def emit_accepted(accepted: dict[str, Any], output: str, view: View | None = None) -> int:
    """`call --async`'s answer, {"job-id", "status"}: that object in JSON, as scripts read
    it; through --query or another --output (`-o text --query job-id`: the id) as asked."""
    view = view or View()
    if output == "json" and view.query is None:
        print(to_json(accepted), flush=True)
        return 0
    shown = replace(view, result=None, columns=(), chosen=())
    return emit({"exitcode": 0, "message": SUCCESS_MESSAGE, "data": accepted, "meta": {}},
                output, shown)


def quiet_stdout() -> None:
    """stdout to /dev/null, so the interpreter's last flush cannot complain on stderr."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
