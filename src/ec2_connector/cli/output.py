"""How a command leaves: one line on stderr for a failure, the envelope on stdout."""

from __future__ import annotations

import shutil
import sys
from typing import Any

from ..errors import ConnectorError
from ..render import ndjson_lines, table_text, to_json
from .parser import PROG


def error_envelope(exc: ConnectorError) -> dict[str, Any]:
    return {"exitcode": int(exc.exit_code), "message": exc.message, "data": exc.data, "meta": {}}


def emit(envelope: dict[str, Any], output: str, result_key: str | None = None) -> int:
    """Print an envelope in the chosen output; a failure also gets one line on stderr."""
    exitcode = int(envelope.get("exitcode", 1))
    if exitcode != 0:
        message = " ".join(str(envelope.get("message", "")).split())
        print(f"{PROG}: {message} (exitcode {exitcode})", file=sys.stderr, flush=True)
    if output == "ndjson":
        for line in ndjson_lines(envelope, result_key):
            print(line)
    elif output == "table":
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(table_text(envelope, result_key, width))
    else:
        print(to_json(envelope))
    sys.stdout.flush()
    return exitcode
