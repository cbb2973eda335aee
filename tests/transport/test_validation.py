"""botocore's parameter validation: skipped where the connector validated, kept where not.

A named action's request is built from parameters the connector has checked, so its
client skips botocore's ParamValidator; `call-operation`, whose input is EC2's own, keeps
it. Both still refuse a bad request with exitcode 2 and send nothing. Over the whole
catalog, what a named action sends passes botocore's validation: skipping it refuses
nothing that was refused before.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call, Runtime, Settings
from ec2_connector.actions import ACTIONS
from ec2_connector.config import Target
from tests.harness import CaptureServer

CONNECTOR = {"access-key": "AKIAVALIDATION000000", "security-key": "validation-secret",
             "region": "us-east-1", "max-attempts": 1}


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[tuple[Call, CaptureServer, Runtime]]:
    runtime = Runtime(Settings())
    with CaptureServer() as server:
        config = {"connectors": {"aws-ec2": {**CONNECTOR, "endpoint-url": server.url}}}
        with Call(config=config, home=tmp_path / "home", runtime=runtime) as call:
            yield call, server, runtime
    runtime.close()


def _target(call: Call) -> Target:
    """The target a call of the connector goes to, as its client is cached under."""
    return Target.resolve(call.connectors.get("aws-ec2"), {})


def test_named_actions_skip_botocores_validation_call_operation_keeps_it(
        capture: tuple[Call, CaptureServer, Runtime]) -> None:
    from botocore.exceptions import ParamValidationError

    call, server, runtime = capture
    target = _target(call)
    # What botocore refuses, a named action's client sends (the connector checked it)...
    runtime.clients.client_for(target).describe_instances(MaxResults="ten")
    assert server.requests_received == 1
    # ...and call-operation's refuses, also when a setting asks for the whole model.
    whole = Runtime(Settings(full_model=True))
    for cache in (runtime.clients.full(), whole.clients.full()):
        with pytest.raises(ParamValidationError):
            cache.client_for(target).describe_instances(MaxResults="ten")
    whole.clients.client_for(target).describe_instances(MaxResults="ten")
    assert server.requests_received == 2
    whole.close()


@pytest.mark.parametrize("params, text", [
    ({"action": "stop-instances", "instance-id": "i-nothex"}, "instance-id"),
    ({"action": "describe-instances", "max-results": "many"}, "max-results"),
    ({"action": "authorize-security-group-ingress", "security-group-id": "sg-0123456789abcdef0",
      "ip-permissions": [{"IpProtocol": "tcp", "FromPort": "twenty-two"}]}, "ip-permissions"),
    ({"action": "authorize-security-group-ingress", "security-group-id": "sg-0123456789abcdef0",
      "ip-permissions": [{"IpProtocol": "tcp", "Colour": "red"}]}, "ip-permissions"),
])
def test_a_named_actions_bad_value_is_refused_by_the_connector(
        capture: tuple[Call, CaptureServer, Runtime], params: dict[str, Any], text: str,
) -> None:
    call, server, _ = capture
    response = call.execute("aws-ec2", params)
    assert response.exitcode == 2, response.message
    assert text in response.message and "\n" not in response.message
    assert server.requests_received == 0 and response.meta["attempts"] == 0


@pytest.mark.parametrize("parameters", [
    {"MaxResults": "ten"},
    {"InstanceIds": "i-0123456789abcdef0"},
    {"Filters": [{"Name": "instance-state-name", "Values": "running"}]},
    {"Colour": "red"},
])
def test_call_operation_is_refused_where_botocore_refuses(
        capture: tuple[Call, CaptureServer, Runtime], parameters: dict[str, Any]) -> None:
    call, server, _ = capture
    response = call.execute("aws-ec2", {"action": "call-operation",
                                        "operation": "DescribeInstances",
                                        "parameters": parameters})
    assert response.exitcode == 2, response.message
    assert "DescribeInstances" in response.message
    assert server.requests_received == 0 and response.meta["attempts"] == 0


def test_what_every_named_action_sends_passes_botocores_validation(
        capture: tuple[Call, CaptureServer, Runtime]) -> None:
    from botocore.validate import ParamValidator

    call, server, runtime = capture
    client = runtime.clients.client_for(_target(call))
    checked: list[str] = []
    refused: list[str] = []

    def check(params: dict[str, Any], model: Any, **_: Any) -> None:
        report = ParamValidator().validate(params, model.input_shape)
        checked.append(model.name)
        if report.has_errors():
            refused.append(f"{model.name}: {report.generate_report()}")

    client.meta.events.register("provide-client-params.ec2", check)
    named = [a for name, a in ACTIONS.items() if name != "call-operation"]
    for action in named:
        call.execute("aws-ec2", {**action.example, "action": action.name, "timeout": 2000})
    assert not refused
    # The examples reach (nearly) every operation the catalog declares (55 of 56 today).
    assert len(set(checked)) >= 0.9 * len({a.operation for a in named if a.operation})
    assert server.requests_received >= len(checked) > 0
