"""moto's server mode, as `python -m moto.server` runs it, answering one request at a time.

moto's EC2 models are not safe across threads (a describe walking an instance's block
devices while a launch adds them answers HTTP 500): the suite's jobs, fan-outs and
workers send requests at once, and a moto race must not read as a failure of ours. The
sandbox serves moto the same way (`ec2_connector.sandbox.server.serialized`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

from ec2_connector.sandbox.server import serialized


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))

    def stop(signum: int, frame: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto's own server sets it
    run_simple(args.host, args.port, serialized(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
