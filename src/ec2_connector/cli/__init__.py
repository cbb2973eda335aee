"""The `ec2-connector` command: parse, call `Call`, render, exit with the response's exitcode.

Start-up time matters (a one-shot call is compared with the AWS CLI), so boto3, FastAPI
and moto are imported only by the commands that need them: `actions` never loads boto3.
Every failure leaves through `main()`: one line on stderr, the envelope on stdout, and
the exit code of the error's class; no traceback for a user's mistake.

parser.py builds the argument parser, request.py turns words into a request, output.py
prints envelopes, commands.py runs each command, detached.py runs `--async` jobs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import ConnectorError, translate
from . import interrupt
from .output import chosen_output, emit, error_envelope
from .parser import PROG, UsageError, build_parser

__all__ = ["PROG", "UsageError", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (the response's exitcode for calls)."""
    args = None
    try:
        try:
            parser = build_parser()
            args, extra = parser.parse_known_args(argv)
            if args.command is None:  # no command: how to use it, on stderr
                parser.print_help(sys.stderr)
                return 2
            if extra and args.command != "call":
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            if args.command in ("call", "jobs"):  # the others stop their own servers on Ctrl-C
                interrupt.install(PROG)
            return int(args.run(args, extra))
        except ConnectorError as exc:
            return emit(error_envelope(exc), chosen_output(args))
        except SystemExit as exc:  # --help and --version: their text is printed
            return exc.code if isinstance(exc.code, int) else 0
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
            sys.stdout.flush()
            # A call still running on an I/O thread would hold the interpreter's exit until
            # its deadline; Ctrl-C means now. (A job of this process is then marked
            # interrupted.)
            os._exit(130)
        except BrokenPipeError:
            raise
        except Exception as exc:  # a bug of ours: still one line and an envelope
            return emit(error_envelope(translate(exc)), chosen_output(args))
    except BrokenPipeError:
        # The reader went away (`| head`) having read what it wanted: nothing more can be
        # shown, and that is no failure. stdout goes to /dev/null so the interpreter's
        # last flush cannot complain on stderr.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
