"""The argument parser: commands, their options, and errors as one line (exitcode 2)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from ..config import DEFAULT_CONNECTOR
from ..errors import InvalidRequest

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


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from .commands import cmd_actions, cmd_demo, cmd_sandbox, cmd_serve

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
    from .commands import cmd_call

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
    _add_broker(call)
    call.set_defaults(run=cmd_call)


def _add_jobs(commands: Any) -> None:
    from .jobs import add_jobs, add_worker

    add_jobs(commands, OUTPUTS, _positive)
    add_worker(commands, _positive)


def _add_broker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", metavar="URL",
                        help="redis:// URL: jobs on Celery workers (default $EC2_CONNECTOR_BROKER)")


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


