"""The whole command line: every command's parser, put together (the parts: options.py)."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import DEFAULT_CONNECTOR
from .options import (
    OUTPUTS,
    Parser,
    add_allow_volatile,
    add_broker,
    add_output_options,
    port,
    positive,
)
from .prog import PROG


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from .commands import cmd_actions, cmd_completion, cmd_demo, cmd_sandbox

    parser = Parser(
        prog=PROG, description="Flint's AWS-EC2 connector: run EC2 actions from a shell, as "
        "jobs, or behind an HTTP service.", epilog=f"'{PROG} COMMAND --help' for one command; "
        f"'{PROG} actions' for the actions a call can run.", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    call = _add_call(commands)
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
    _add_sharing(commands)
    sandbox = commands.add_parser(
        "sandbox", help="a local EC2-compatible endpoint to try calls on (moto)",
        description="Run an EC2-compatible endpoint on 127.0.0.1 until Ctrl-C; it prints the "
        "settings to point calls at it. Needs the 'sandbox' extra.")
    sandbox.add_argument("--port", type=port, default=5000,
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
    # The script reads the call's options from its parser, so that it cannot drift.
    completion.set_defaults(run=cmd_completion, call_parser=call)
    return parser


def _add_call(commands: Any) -> argparse.ArgumentParser:
    from .commands import cmd_call

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
    call.set_defaults(run=cmd_call, parser=call)
    return call


def _add_jobs(commands: Any) -> None:
    from .jobs import add_jobs, add_worker

    add_jobs(commands, OUTPUTS, positive)
    add_worker(commands, positive)


def _add_sharing(commands: Any) -> None:
    from .sharing import add_audit, add_token

    add_token(commands, positive)
    add_audit(commands, positive)


def _add_serve(commands: Any) -> None:
    from .commands import cmd_serve

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


