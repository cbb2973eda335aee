"""The argument parser: commands, their options, and errors as one line (exitcode 2)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from ..config import DEFAULT_CONNECTOR
from ..errors import InvalidRequest
from . import PROG

OUTPUTS = ("json", "table", "text", "ndjson")
GAVE_UP = 75  # `jobs wait --timeout` gave up; the job goes on (sysexits EX_TEMPFAIL)


class UsageError(InvalidRequest):
    """A mistake on the command line itself: nothing was sent to EC2 (exitcode 2)."""


class _Parser(argparse.ArgumentParser):
    # argparse would print the usage and exit; one line and the envelope are our contract.
    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix(PROG).strip()
        hint = _close_option(self, message) or f" (see '{self.prog} --help')"
        raise UsageError((f"{command}: {message}" if command else message) + hint)


def _close_option(parser: argparse.ArgumentParser, message: str) -> str:
    """' (did you mean ...?)' for a misspelt option or choice (`--ouput`, `-o tabel`)."""
    import re

    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        known, typed = re.findall(r"'([^']*)'", choice[2]), choice[1]
    else:
        unknown = re.search(r"unrecognized arguments: (--?[\w-]+)", message)
        if not unknown:
            return ""
        known, typed = _option_strings(parser), unknown[1]
    return _closest(typed, known)


def option_hint(parser: argparse.ArgumentParser, flag: str) -> str:
    """' (did you mean ...?)' for an option `parser` does not have, if one is close."""
    return _closest(flag.split("=", 1)[0], _option_strings(parser))


def _closest(typed: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(typed, known, n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option of `parser` and of its commands (argparse reports a command's unknown
    options from the top parser)."""
    found = [s for s in parser._option_string_actions if s.startswith("--")]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _option_strings(sub)
    return list(dict.fromkeys(found))


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from .commands import cmd_actions, cmd_completion, cmd_demo, cmd_sandbox

    parser = _Parser(
        prog=PROG, description="Flint's AWS-EC2 connector: run EC2 actions from a shell, as "
        "jobs, or behind an HTTP service.", epilog=f"'{PROG} COMMAND --help' for one command; "
        f"'{PROG} actions' for the actions a call can run.", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_call(commands)
    actions = commands.add_parser(
        "actions", help="the action catalog, or one action's parameters and an example",
        description="Without ACTION: every action with its one-line description. With "
        "ACTION: its parameters (types, choices, defaults, which are secret), its result "
        "and a ready-to-run example.")
    actions.add_argument("action", nargs="?", metavar="ACTION", help="one action in detail")
    actions.add_argument("--json", action="store_true", help="the catalog entry as JSON")
    actions.set_defaults(run=cmd_actions)
    _add_jobs(commands)
    _add_serve(commands)
    sandbox = commands.add_parser(
        "sandbox", help="a local EC2-compatible endpoint to try calls on (moto)",
        description="Run an EC2-compatible endpoint on 127.0.0.1 until Ctrl-C; it prints the "
        "settings to point calls at it. Needs the 'sandbox' extra.")
    sandbox.add_argument("--port", type=_port, default=5000,
                         help="loopback port to listen on (default: %(default)s)")
    sandbox.add_argument("--write-config", metavar="FILE",
                         help="also write the connector config it prints to FILE")
    sandbox.set_defaults(run=cmd_sandbox)
    demo = commands.add_parser(
        "demo", help="a tour: launch, tag, stop and terminate in an embedded sandbox",
        description="Walk through a typical script (launch, describe, tag, stop, terminate) "
        "against an embedded EC2-compatible sandbox; touches no AWS account.")
    demo.set_defaults(run=cmd_demo)
    completion = commands.add_parser(
        "completion", help="a shell completion script: bash, zsh or fish",
        description="Print a completion script for subcommands, action names and each "
        "action's parameter names. bash: eval \"$(ec2-connector completion bash)\"; zsh: "
        "the same in ~/.zshrc; fish: ec2-connector completion fish | source.")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    completion.set_defaults(run=cmd_completion)
    return parser


def command_parser(parser: argparse.ArgumentParser,
                   args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command `args` were parsed for: its errors name it."""
    for dest in ("command", "jobs_command"):
        commands = next((a for a in parser._actions
                         if isinstance(a, argparse._SubParsersAction) and a.dest == dest), None)
        chosen = getattr(args, dest, None)
        if commands is None or chosen not in commands.choices:
            break
        parser = commands.choices[chosen]
    return parser


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """How a response is shown: the same options on every command that prints one."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "-o", "--output", choices=OUTPUTS, default=None,
        help="json: the whole envelope (the default when stdout is not a terminal); "
        "table: the result for people (the default on a terminal); text: tab-separated "
        "rows, no header; ndjson: one line per result item, then the envelope")
    group.add_argument("--query", metavar="EXPR",
                       help="JMESPath over the response's data, e.g. "
                       "'instance-list[].instance-id' (hyphenated names need no quotes)")
    group.add_argument("--columns", metavar="A,B,...", type=_names,
                       help="table/text columns: labels of the curated ones, or item keys "
                       "and paths such as tags.Env")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="also show transport details: HTTP headers and the whole meta")


def _add_call(commands: Any) -> None:
    from .commands import cmd_call

    call = commands.add_parser(
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
    call.add_argument("--timeout", type=_positive, metavar="MS",
                      help="bound on the whole call, ms (default: 60000)")
    call.add_argument("--async", dest="async_", action="store_true",
                      help="submit as a job and print its id at once")
    call.add_argument("--wait-job", action="store_true",
                      help="run as a job and wait for its response")
    call.add_argument("--request", metavar="FILE", help="a JSON request object; - for stdin")
    add_output_options(call)
    _add_broker(call)
    call.set_defaults(run=cmd_call, parser=call)


def _add_jobs(commands: Any) -> None:
    from .jobs import add_jobs, add_worker

    add_jobs(commands, OUTPUTS, _positive)
    add_worker(commands, _positive)


def _add_broker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", metavar="URL",
                        help="redis:// URL: jobs on Celery workers (default $EC2_CONNECTOR_BROKER)")


def _add_serve(commands: Any) -> None:
    from .commands import cmd_serve

    serve = commands.add_parser(
        "serve", help="the HTTP service (needs the 'service' extra)",
        description="Serve the connector over HTTP (POST /v1/connectors/NAME/sync, jobs, "
        "the catalog; OpenAPI at /docs) until Ctrl-C or SIGTERM.",
        epilog="Environment: EC2_CONNECTOR_TOKEN is the bearer token every /v1 request "
        "must send (Authorization: Bearer <token>); without it there is no auth, and the "
        "service refuses to listen beyond loopback. EC2_CONNECTOR_CONFIG: the connector "
        "config when --config is not given.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8700,
                       help="port to listen on (default: %(default)s)")
    serve.add_argument("--config", metavar="FILE",
                       help="connector config (JSON; default: $EC2_CONNECTOR_CONFIG)")
    serve.set_defaults(run=cmd_serve)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected column names, e.g. id,state")
    return names


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


