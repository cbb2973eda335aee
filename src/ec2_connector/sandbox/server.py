"""An embedded EC2-compatible endpoint (moto's server) for trying the connector without AWS.

moto is an optional extra (`ec2-connector[sandbox]`); it is imported only when a sandbox
starts. The sandbox listens on loopback only and validates AMI ids and instance types,
so it rejects what EC2 rejects instead of accepting anything.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from types import FrameType, TracebackType
from typing import Any, TextIO

from ..cli.render import to_json
from ..errors import InvalidRequest

HOST = "127.0.0.1"
REGION = "us-east-1"
# moto accepts any key pair; these are placeholders, not credentials.
ACCESS_KEY = "testing"
SECRET_PLACEHOLDER = "testing"
MOTO_SETTINGS = {
    "MOTO_ENABLE_AMI_VALIDATION": ("ENABLE_AMI_VALIDATION", "true"),
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": ("EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true"),
}
INSTALL_HINT = "the sandbox needs moto: pip install 'ec2-connector[sandbox]'"


class SandboxUnavailable(InvalidRequest):
    """moto is not installed, or the sandbox cannot listen on the port asked for."""


class Sandbox:
    """moto's EC2 endpoint served from a thread of this process, on 127.0.0.1.

    `port=0` lets the kernel pick a free port; `url` is known once `start()` returned.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{HOST}:{self.port}"

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        app, handler, make_server = _moto_parts()
        listener = _listen(self.port)
        try:
            server = make_server(HOST, self.port, app, threaded=True, request_handler=handler,
                                 fd=listener.fileno())
        finally:
            listener.close()  # the server serves on its own duplicate of the socket
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, name="ec2-connector-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def config(self) -> dict[str, Any]:
        """The connector config that points `aws-ec2` at this sandbox."""
        return {
            "connectors": {
                "aws-ec2": {
                    "type": "aws-ec2",
                    "access-key": ACCESS_KEY,
                    "security-key": SECRET_PLACEHOLDER,
                    "region": REGION,
                    "endpoint-url": self.url,
                }
            }
        }

    def environment(self) -> dict[str, str]:
        """The same settings as environment variables botocore reads."""
        return {
            "AWS_ENDPOINT_URL_EC2": self.url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_PLACEHOLDER,
            "AWS_DEFAULT_REGION": REGION,
        }

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _listen(port: int) -> socket.socket:
    # Bound here rather than by werkzeug (which prints and exits on a port in use) or in
    # the serving thread (where moto's ThreadedMotoServer would wait forever on a failure).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise SandboxUnavailable(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
    return listener


def _moto_parts() -> tuple[Any, Any, Any]:
    """moto's WSGI app and request handler, with EC2's validations switched on."""
    for env, (_, value) in MOTO_SETTINGS.items():
        os.environ.setdefault(env, value)
    try:
        from moto import settings
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError:
        raise SandboxUnavailable(INSTALL_HINT) from None
    # moto reads these settings once, at import: if it was imported before the environment
    # was set (a test process, a notebook), set them on the module too.
    for _, (attribute, _) in MOTO_SETTINGS.items():
        setattr(settings, attribute, True)
    # werkzeug logs every request line to stderr; the sandbox's callers print their own.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = serialized(DomainDispatcherApplication(create_backend_app))
    return app, MotoRequestHandler, make_server


def serialized(app: Any) -> Any:
    """`app`, answering one request at a time. moto's EC2 models are not safe across
    threads: a describe that walks an instance's block devices while a launch adds them
    fails with HTTP 500 (a fan-out or a few jobs at once can do that). A sandbox is for
    trying things, not for throughput: its requests take turns, its state stays whole."""
    lock = threading.Lock()

    def serve(environ: Any, start_response: Any) -> list[bytes]:
        with lock:
            answer = app(environ, start_response)
            try:
                return list(answer)  # the body is rendered from the models: under the lock
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()

    return serve


def usable_images(sandbox: Sandbox, count: int = 2) -> list[str]:
    """AMI ids the sandbox launches, found the way a user would: with describe-image."""
    from ..call import Call

    with Call(config=sandbox.config()) as call:
        response = (call.connector("aws-ec2").set("action", "describe-image")
                    .set("owner", "amazon")
                    .set("filters", {"architecture": "x86_64", "state": "available",
                                     "root-device-type": "ebs"})
                    .sync())
    if response.exitcode != 0:
        return []
    images = sorted(response.get("image-info") or [],
                    key=lambda i: (i.get("creation-date") or "", i["image-id"]), reverse=True)
    return [i["image-id"] for i in images[:count]]


def instructions(sandbox: Sandbox, images: list[str] | None = None,
                 config_file: str | None = None) -> str:
    """What `ec2-connector sandbox` prints: the endpoint, AMIs to launch, and how to point
    the connector at it."""
    env = "\n".join(f"  export {k}={v}" for k, v in sandbox.environment().items())
    config = to_json(sandbox.config())
    file = config_file or "sandbox.json"
    images = images or []
    amis = "".join(f"  {image}\n" for image in images)
    launch = (f"  ec2-connector call create-instance image-id={images[0]} "
              f"instance-type=t2.micro --config {file}\n" if images else "")
    written = f"Its connector config is written to {file}:\n" if config_file else (
        f"Point the connector at it with a config file, e.g. {file}:\n")
    return (
        f"EC2 sandbox (moto) listening on {sandbox.url}\n"
        f"AMI ids and instance types are validated; moto accepts any access key.\n"
        f"AMIs to launch (found with describe-image):\n{amis}\n"
        f"{written}{config}\n"
        f"  ec2-connector call describe-instances --config {file}\n{launch}\n"
        f"or with environment variables (the connector 'aws-ec2' without a config):\n{env}\n\n"
        f"Stop it with Ctrl-C."
    )


def write_config(sandbox: Sandbox, path: str) -> None:
    """The connector config for the sandbox, written to `path` (replaced if it exists)."""
    from pathlib import Path

    target = Path(path).expanduser()
    try:
        target.write_text(to_json(sandbox.config()) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"cannot write the config to {target}: {exc.strerror}") from None


def serve_until_stopped(port: int, out: TextIO, config_file: str | None = None) -> int:
    """Run a sandbox in the foreground until SIGINT or SIGTERM; the `sandbox` command."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Sandbox(port) as sandbox:
            if config_file:
                write_config(sandbox, config_file)
            images = usable_images(sandbox)
            print(instructions(sandbox, images, config_file), file=out, flush=True)
            while not stop.wait(1.0):
                pass
            print("sandbox stopped", file=out, flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
