"""The whole command line, put together: the top parser and every registered command.

Each command is added by the module that runs it (`options.register`): the call, actions,
serve, sandbox, demo and completion commands in commands.py, jobs and worker in jobs.py,
token and audit in sharing.py.
"""

from __future__ import annotations

import argparse

from .options import COMMANDS, Parser
from .prog import PROG


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from . import commands, jobs, sharing  # noqa: F401  (each registers its commands)

    parser = Parser(
        prog=PROG, description="Flint's AWS-EC2 connector: run EC2 actions from a shell, as "
        "jobs, or behind an HTTP service.", epilog=f"'{PROG} COMMAND --help' for one command; "
        f"'{PROG} actions' for the actions a call can run.", allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for _, add in sorted(COMMANDS.values(), key=lambda entry: entry[0]):
        add(subparsers)
    return parser
