"""The embedded sandbox: the `Sandbox` class in-process, and `ec2-connector sandbox`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from werkzeug.serving import make_server

from ec2_connector import Call
from ec2_connector.sandbox.server import Sandbox, SandboxUnavailable, serialized
from tests.conftest import free_port
from tests.harness.processes import run_cli_without


def client(url: str) -> Any:
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_sandbox_serves_ec2_and_validates_like_ec2(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)
        ec2 = client(sandbox.url)
        with pytest.raises(botocore.exceptions.ClientError, match="InvalidAMIID"):
            ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                              InstanceType="t2.micro")
        with Call(config=sandbox.config(), home=tmp_path) as call:
            response = call.execute("aws-ec2", {"action": "list-security-group"})
        assert response.exitcode == 0 and response.meta["endpoint"] == sandbox.url
        url = sandbox.url
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        client(url).describe_vpcs()  # stopped: nothing listens any more


def test_the_sandbox_s_requests_take_turns_and_all_succeed() -> None:
    """moto's EC2 models are not safe across threads: the sandbox (and the suite's moto,
    tests/harness/moto_serial.py) answers one request at a time, with the same wrapper."""
    inside, most, lock = [0], [0], threading.Lock()

    def app(environ: Any, start_response: Any) -> list[bytes]:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)  # long enough for every other thread to arrive meanwhile
        with lock:
            inside[0] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = make_server("127.0.0.1", 0, serialized(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    answers: list[bytes] = []
    try:
        workers = [threading.Thread(target=lambda: answers.append(
            urllib.request.urlopen(url, timeout=10).read())) for _ in range(12)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(20)
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [b"ok"] * 12
    assert most[0] == 1


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with pytest.raises(SandboxUnavailable, match="cannot listen"):
            Sandbox(busy.getsockname()[1]).start()


def sandbox_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EC2_CONNECTOR_")}
    env["EC2_CONNECTOR_HOME"] = str(tmp_path / "home")
    return env


def test_sandbox_command_prints_settings_that_work_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    written = tmp_path / "written.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ec2_connector.cli", "sandbox", "--port", str(port),
         "--write-config", str(written)],
        env=sandbox_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:
            printed.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(printed)
        assert f"listening on http://127.0.0.1:{port}" in text
        assert f"export AWS_ENDPOINT_URL_EC2=http://127.0.0.1:{port}" in text
        config = json.loads(text[text.index("{") : text.rindex("}") + 1])
        assert json.loads(written.read_text()) == config
        amis = re.findall(r"^  (ami-[0-9a-f]+)$", text, re.M)
        assert len(amis) == 2
        result = subprocess.run(
            [sys.executable, "-m", "ec2_connector.cli", "call", "describe-instances",
             "--config", str(written)],
            env=sandbox_env(tmp_path), capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        for ami in amis:  # both launch, as printed
            launched = subprocess.run(
                [sys.executable, "-m", "ec2_connector.cli", "call", "create-instance",
                 f"image-id={ami}", "instance-type=t2.micro", "--config", str(written)],
                env=sandbox_env(tmp_path), capture_output=True, text=True, timeout=60,
            )
            assert launched.returncode == 0, launched.stdout + launched.stderr
            assert ami in launched.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_sandbox_command_on_a_busy_port_is_exitcode_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        result = subprocess.run(
            [sys.executable, "-m", "ec2_connector.cli", "sandbox", "--port",
             str(busy.getsockname()[1])],
            env=sandbox_env(tmp_path), capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 2 and "cannot listen" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_without_moto_the_sandbox_says_which_extra_to_install(tmp_path: Path) -> None:
    result = run_cli_without("moto", ["sandbox", "--port", str(free_port())],
                             sandbox_env(tmp_path))
    assert result.returncode == 2 and "ec2-connector[sandbox]" in result.stderr
    assert len(result.stderr.splitlines()) == 1
