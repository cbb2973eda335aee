"""The `ec2-connector` command: parse, call `Call`, render, exit with the response's exitcode.

Start-up time matters (a one-shot call is compared with the AWS CLI), so boto3, FastAPI
and moto are imported only by the commands that need them: `actions` never loads boto3.
Every failure leaves through `main()`: one line on stderr, the envelope on stdout, and
the exit code of the error's class; no traceback for a user's mistake, nor for a Ctrl-C
at any moment: this package imports nothing until `main()` has taken SIGINT, and the
rest of the command is imported from there.

parser.py builds the argument parser, request.py turns words into a request, output.py
prints envelopes, commands.py runs each command, detached.py runs `--async` jobs.
"""

from __future__ import annotations

# The C half of `signal`, loaded by the interpreter itself before any code of ours: the
# public module adds enums, and importing those (~3 ms) would be a moment in which a
# Ctrl-C still ends in a traceback.
import _signal
import os
import sys

from .prog import PROG

TYPE_CHECKING = False  # not `typing` either (~8 ms): a type checker reads it as typing's
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .options import UsageError
    from .parser import build_parser

__all__ = ["PROG", "UsageError", "build_parser", "main", "run"]
INTERRUPTED = f"{PROG}: interrupted\n".encode()
# Python's exit status when stdout cannot be flushed as the interpreter ends.
FLUSH_FAILED = 120
# Set by a command that left nothing for the interpreter's teardown to finish (`run`).
_nothing_left = False
# Set by `run`: this process is the command's own, which ends when the command does.
_script = False


def run(argv: Sequence[str] | None = None) -> None:
    """The `ec2-connector` script and `python -m ec2_connector.cli`: `main()`, then the
    process's end with its exit code.

    After a command that leaves nothing behind (a sync `call`: no thread of ours but the
    daemon watchdog, no job store, no file open for writing), the process ends without
    the interpreter's teardown: freeing every module's objects and a last full
    collection cost ~40 ms, a fifth of a one-shot call, and change nothing outside the
    process. atexit handlers still run and the standard streams are still flushed;
    every other command (and a stdout that cannot be flushed) ends the usual way. Its
    start-up runs with the garbage collector held (transport/startup.py).
    """
    global _script
    _script = True
    code = main(argv)
    if _nothing_left and _only_daemons_left():
        try:
            sys.stdout.flush()
        except OSError:
            sys.exit(code)  # the interpreter's own report and status, as before
        import atexit

        atexit._run_exitfuncs()  # as at any exit (logging's flush, weakref finalizers)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:
            os._exit(FLUSH_FAILED)
        os._exit(code)
    sys.exit(code)


def _only_daemons_left() -> bool:
    # A thread the interpreter would join at its exit (an I/O pool's) must finish first.
    import threading

    main_thread = threading.main_thread()
    return all(t.daemon or t is main_thread for t in threading.enumerate())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (the response's exitcode for calls).

    It takes SIGINT for the process, from its first line to the process's end: a Ctrl-C
    is one line and exit 130 (the commands that serve stop their servers first)."""
    previous = _take_sigint()
    from ..transport import startup

    if _script:
        startup.hold()  # until the first request, or the command's work (startup.py)
    try:
        return _run(argv, previous)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # A call still running on an I/O thread would hold the interpreter's exit until
        # its deadline; Ctrl-C means now. (A job of this process is then marked
        # interrupted.)
        os._exit(130)
    except BrokenPipeError:
        # The reader went away (`| head`) having read what it wanted, from a command
        # whose output is not a response (help, catalog, listing): that is no failure.
        # (A response's own exit code is kept by emit.) stdout goes to /dev/null so the
        # interpreter's last flush cannot complain on stderr.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        _take_sigint()  # whatever the command left, until the process is gone
        startup.release(freeze=False)


def _interrupted(signum: int, frame: Any) -> None:
    # Until a command takes SIGINT itself (`interrupt.install`): nothing of the command
    # has started that would need recording or stopping.
    try:
        os.write(2, INTERRUPTED)
    finally:
        os._exit(130)


def _take_sigint() -> Any:
    """Handle SIGINT with `_interrupted`; return the handler it replaces (None off the
    main thread, where Python lets no code take signals). A process started with SIGINT
    ignored (a script's background job: `ec2-connector call ... &`) keeps ignoring it,
    as Python itself does: a Ctrl-C meant for the foreground is not for it."""
    try:
        if _signal.getsignal(_signal.SIGINT) is _signal.SIG_IGN:
            return _signal.SIG_IGN
        return _signal.signal(_signal.SIGINT, _interrupted)
    except ValueError:
        return None


def _run(argv: Sequence[str] | None, previous: Any) -> int:
    global _nothing_left
    _nothing_left = False
    import signal

    from ..errors import ConnectorError, translate
    from ..response import error_envelope
    from ..transport import startup
    from . import interrupt
    from .options import command_parser
    from .output import chosen_output, emit
    from .parser import build_parser

    args = None
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        # The command named first is the only one parsed: only its parser is built (an
        # option first, e.g. --help, or no command, gets them all).
        parser = build_parser(words[0] if words and not words[0].startswith("-") else None)
        args, extra = parser.parse_known_args(words)
        if args.command is None:  # no command: how to use it, on stderr
            parser.print_help(sys.stderr)
            return 2
        if extra and args.command != "call":
            command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
        if args.command in ("call", "jobs"):
            interrupt.install(PROG)
        elif previous is not None:  # the others stop their own servers on Ctrl-C
            signal.signal(signal.SIGINT, previous)
        if not getattr(args, "startup_until_request", False):
            startup.release(freeze=False)
        code = int(args.run(args, extra))
        _nothing_left = bool(getattr(args, "nothing_left", False))
        return code
    except ConnectorError as exc:
        return emit(error_envelope(exc), chosen_output(args))
    except SystemExit as exc:  # --help and --version: their text is printed
        return exc.code if isinstance(exc.code, int) else 0
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:  # a bug of ours: still one line and an envelope
        return emit(error_envelope(translate(exc)), chosen_output(args))


def __getattr__(name: str) -> Any:
    if name == "UsageError":
        from .options import UsageError

        return UsageError
    if name == "build_parser":
        from .parser import build_parser

        return build_parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
