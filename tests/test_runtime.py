"""Settings from the environment, and the runtime that owns a process's threads and clients."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call, InvalidRequest, Runtime, Settings


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({
        "EC2_CONNECTOR_TIMEOUT": "1500", "EC2_CONNECTOR_IO_THREADS": "8",
        "EC2_CONNECTOR_WORKERS": "3", "EC2_CONNECTOR_HOME": "/tmp/x",
        "EC2_CONNECTOR_TOKEN": "tok", "EC2_CONNECTOR_FULL_MODEL": "1",
        "EC2_CONNECTOR_CONFIG": "c.json", "EC2_CONNECTOR_MAX_CLIENTS": "4",
    })
    assert (settings.timeout_ms, settings.io_threads, settings.workers) == (1500, 8, 3)
    assert (settings.home, settings.token, settings.config) == (Path("/tmp/x"), "tok", "c.json")
    assert settings.full_model and settings.max_clients == 4
    assert "tok" not in repr(settings)
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({"EC2_CONNECTOR_FULL_MODEL": "0"}).full_model is False


@pytest.mark.parametrize("value", ["many", "0", "-3"])
def test_a_bad_setting_is_named_without_its_value(value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Settings.from_env({"EC2_CONNECTOR_IO_THREADS": value})
    assert caught.value.message == "EC2_CONNECTOR_IO_THREADS must be a positive integer"


def test_calls_use_the_runtime_they_are_given(config: dict[str, Any]) -> None:
    runtime = Runtime(Settings(timeout_ms=4321))
    call = Call(config=config, runtime=runtime)
    response = call.connector("aws-ec2").set("action", "describe-instances").sync()
    assert response.exitcode == 0, response.message
    assert len(runtime.clients) == 1
    assert "DescribeInstances" in runtime.operations
    assert "security-key" in runtime.secret_names


def _child(runtime: Runtime, config: dict[str, Any], out: Any) -> None:
    before = len(runtime.clients)
    response = Call(config=config, runtime=runtime).connector("aws-ec2").set(
        "action", "describe-instances").sync()
    out.send((before, response.exitcode, len(runtime.clients)))


def test_a_forked_child_starts_with_no_clients_of_its_parent(config: dict[str, Any]) -> None:
    runtime = Runtime()
    call = Call(config=config, runtime=runtime)
    assert call.connector("aws-ec2").set("action", "describe-instances").sync().exitcode == 0
    assert len(runtime.clients) == 1
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(runtime, config, send))
    child.start()
    try:
        assert receive.poll(30)
        assert receive.recv() == (0, 0, 1)  # nothing inherited; its own client works
    finally:
        child.join(10)
    assert len(runtime.clients) == 1
