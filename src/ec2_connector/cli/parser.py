"""The whole command line, put together: the top parser and every registered command.

Each command is added by the module that runs it (`options.register`): the call, actions,
serve, sandbox, demo and completion commands in commands.py, jobs and worker in jobs.py,
token and audit in sharing.py.
"""

from __future__ import annotations

import argparse
import importlib

from .options import COMMANDS, NEEDS, Parser
from .prog import PROG

# The module registering each command (tests/cli/test_help.py holds it to the registry):
# a run of one command imports only its own (jobs and sharing, with the table drawing
# they import, are ~2 ms that a one-shot call does without).
MODULE_OF = {"call": "commands", "actions": "commands", "serve": "commands",
             "sandbox": "commands", "demo": "commands", "completion": "commands",
             "jobs": "jobs", "worker": "jobs", "token": "sharing", "audit": "sharing"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with `command` (a registered command's name), only that
    command's parser (and those it reads) under the top one: a run parses one command,
    and adding all of them (~4 ms) is a share of a one-shot call's start-up."""
    from .. import __version__

    if command in MODULE_OF:
        importlib.import_module(f".{MODULE_OF[command]}", __package__)
        for needed in NEEDS.get(command, ()):
            importlib.import_module(f".{MODULE_OF[needed]}", __package__)
    if command not in COMMANDS:
        from . import commands, jobs, sharing  # noqa: F401  (each registers its commands)

    parser = Parser(
        prog=PROG, description="Flint's AWS-EC2 connector: run EC2 actions from a shell, as "
        "jobs, or behind an HTTP service.", epilog=f"'{PROG} COMMAND --help' for one command; "
        f"'{PROG} actions' for the actions a call can run.", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    names = [*NEEDS[command], command] if command in COMMANDS else COMMANDS
    for _, add in sorted((COMMANDS[name] for name in names), key=lambda entry: entry[0]):
        add(subparsers)
    return parser
