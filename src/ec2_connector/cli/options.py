"""The parts every command's parser is made of: the parser class whose errors are one
line (exitcode 2), option groups shared by several commands, and argument types.

Command modules import from here, never from `parser` (which imports them to build the
whole command line), so the CLI's modules form no import circle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from ..errors import InvalidRequest
from ..settings import ALLOW_VOLATILE_ENV
from .prog import PROG

OUTPUTS = ("json", "table", "text", "ndjson")
GAVE_UP = 75  # `jobs wait --timeout` gave up; the job goes on (sysexits EX_TEMPFAIL)


class UsageError(InvalidRequest):
    """A mistake on the command line itself: nothing was sent to EC2 (exitcode 2)."""


class Parser(argparse.ArgumentParser):
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


def command_parser(parser: argparse.ArgumentParser,
                   args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command `args` were parsed for: its errors name it."""
    for dest in ("command", "jobs_command", "token_command"):
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
    group.add_argument("--columns", metavar="A,B,...", type=names,
                       help="table/text columns: labels of the curated ones, or item keys "
                       "and paths such as tags.Env")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="also show transport details: HTTP headers and the whole meta")


def add_broker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", metavar="URL",
                        help="redis:// URL: jobs on Celery workers (default $EC2_CONNECTOR_BROKER)")


def names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected column names, e.g. id,state")
    return names


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def port(text: str) -> int:
    value = positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def add_allow_volatile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-volatile-store", action="store_true",
        help="start even on a Redis that can lose jobs (no appendonly, or an eviction "
        f"policy), or whose config cannot be read; also {ALLOW_VOLATILE_ENV}=1")


AddCommand = Callable[[Any], object]
# Every command of the command line, registered by the module that runs it (aws-cli's
# BasicCommand shape): name -> (its place in `--help`, the function adding its parser).
COMMANDS: dict[str, tuple[int, AddCommand]] = {}
# The commands whose parsers a command's own parser reads (completion reads call's
# options): a run of one command builds its parser and those (parser.build_parser).
NEEDS: dict[str, tuple[str, ...]] = {}


def register(name: str, place: int, needs: tuple[str, ...] = ()) -> Callable[
        [AddCommand], AddCommand]:
    """Register `add(subparsers)`, which adds the parser of command `name` (and sets
    its `run`); `place` orders `--help`; `needs`: the commands whose parsers `add` reads
    (`subparsers.choices[...]`), added before it. A new command is one such function."""
    def registered(add: AddCommand) -> AddCommand:
        COMMANDS[name] = (place, add)
        NEEDS[name] = needs
        return add

    return registered
