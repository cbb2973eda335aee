"""The HTTP service in a child process (uvicorn), as tests, the soak and benchmarks use it.

`ServiceProcess` writes the connector config to a file, starts
``python -m tests.harness.service`` (which runs `create_app()` under uvicorn as the
`serve` command does, with the service's own log config plus a log file at a chosen
level), waits for ``/healthz`` and stops the process, always, in ``stop()``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.harness.faults import HOST, free_port
from tests.harness.processes import terminate

CONFIG_ENV = "EC2_CONNECTOR_CONFIG"
TOKEN_ENV = "EC2_CONNECTOR_TOKEN"

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """`ec2-connector`'s HTTP service on a loopback port, in its own process."""

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        *,
        log_level: str = "INFO",
        env: dict[str, str] | None = None,
        workers: int = 1,
        token: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "connectors.json"
        self.config_path.write_text(json.dumps(config))
        self.home = workdir / "home"
        self.log_path = workdir / "service.log"
        self.stdout_path = workdir / "service.stdout"
        self.stderr_path = workdir / "service.stderr"
        self.log_level = log_level
        self.workers = workers
        self.env = {**os.environ, "EC2_CONNECTOR_HOME": str(self.home), **(env or {})}
        self.env.pop(TOKEN_ENV, None)
        if token is not None:
            self.env[TOKEN_ENV] = token
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> Self:
        self.port = free_port()
        command = [
            sys.executable, "-m", "tests.harness.service", "--port", str(self.port),
            "--config", str(self.config_path), "--log", str(self.log_path),
            "--level", self.log_level, "--workers", str(self.workers),
        ]
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=err)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited at start: {self.stderr_path.read_text()}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()  # no auth
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("service did not become ready")

    def stop(self) -> None:
        if self.proc is None:
            return
        terminate(self.proc)
        self.proc = None

    def outputs(self) -> dict[str, bytes]:
        """Everything the process wrote: stdout, stderr and its log file."""
        paths = (self.stdout_path, self.stderr_path, self.log_path)
        return {p.name: p.read_bytes() for p in paths if p.exists()}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def log_config(path: str, level: str) -> dict[str, Any]:
    """The service's own log config, plus a file receiving everything at `level`.

    botocore and urllib3 log at `level` too: the connector's filter masks their records.
    """
    from ec2_connector.service.app import log_config as service_log_config

    config: dict[str, Any] = service_log_config()
    config["handlers"]["file"] = {
        "class": "logging.FileHandler", "filename": path, "formatter": "default",
    }
    config["loggers"]["ec2_connector"] = {
        "handlers": ["default", "file"], "level": level, "propagate": False,
    }
    for name in ("botocore", "urllib3", "boto3"):
        config["loggers"][name] = {"handlers": ["file"], "level": level, "propagate": False}
    config["root"] = {"handlers": ["file"], "level": level}
    return config


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from ec2_connector import Call, Settings
    from ec2_connector.service.app import create_app, server_options

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--level", default="INFO")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    logging.captureWarnings(True)
    options: dict[str, Any] = {
        "host": HOST, "port": args.port, "access_log": False, "server_header": False,
        "log_config": log_config(args.log, args.level),
        **server_options(Settings.from_env()),
    }
    if args.workers > 1:  # worker processes import the app: a factory reads the config
        os.environ[CONFIG_ENV] = args.config
        uvicorn.run("tests.harness.service:app_from_env", factory=True, workers=args.workers,
                    **options)
        return
    with Call(config=args.config) as call:
        uvicorn.run(create_app(call, settle=True), **options)


def app_from_env() -> Any:
    """The app of one worker process, its config from $EC2_CONNECTOR_CONFIG."""
    from ec2_connector.service.app import create_app

    return create_app(settle=True)


if __name__ == "__main__":
    main()


def wait_healthy(url: str, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited at start with {proc.returncode}")
        try:
            if urllib.request.urlopen(url + "/healthz", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the service did not start")
