"""Calls as the tests make them: a config for an endpoint, one action run through the
library, a refused request, and an endpoint that loses a launch's answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3

from ec2_connector import Call
from tests.harness import HTTPHarnessServer, RequestHandler


def config_for(url: str, **extra: Any) -> dict[str, Any]:
    return {"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLE", "security-key": "secret", "endpoint-url": url, **extra}}}


def call_for(url: str, **extra: Any) -> Call:
    return Call(config=config_for(url, **extra))


class LaunchThenHang(HTTPHarnessServer):
    """Forwards every request to EC2 but never answers RunInstances: a launch whose
    answer is lost, the case a client token exists for (or, with `answer_after`,
    answers it only that many seconds later)."""

    def __init__(self, upstream_port: int, answer_after: float | None = None) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.answer_after = answer_after

    def respond(self, req: RequestHandler) -> None:
        status, body = req.forward(self.upstream_port)
        if req.params().get("Action") == "RunInstances" and (
                self.answer_after is None or req.pause(self.answer_after)):
            req.pause(60)
            return
        req.send_body(status, body)


class Relay(HTTPHarnessServer):
    """Relays every request to EC2 and keeps each one's Action, to count what was sent.
    When `operation` first arrives, `hook` runs before it is relayed (a cancel landing
    while a job runs); with `hold`, the answers of `operation` wait for `release`."""

    def __init__(self, upstream_port: int, operation: str = "",
                 hook: Callable[[], None] | None = None, hold: bool = False) -> None:
        super().__init__()
        self.upstream_port, self.operation, self.hook, self.hold = (
            upstream_port, operation, hook, hold)
        self.release = threading.Event()
        self.sent: list[str] = []

    def respond(self, req: RequestHandler) -> None:
        action = req.params().get("Action", "")
        self.sent.append(action)  # list.append is atomic: handler threads share it
        if action == self.operation and self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        status, body = req.forward(self.upstream_port, timeout=30)
        if self.hold and action == self.operation:
            self.release.wait(60)
        req.send_body(status, body)

    def stop(self) -> None:
        self.release.set()  # no answer is left waiting on a test that has ended
        super().stop()


def run(call: Call, action: str, **params: Any) -> Any:
    builder = call.connector("aws-ec2").set("action", action)
    for key, value in params.items():
        builder.set(key.replace("_", "-"), value)
    return builder.sync()


def refused(call: Call, action: str, text: str, params: dict[str, Any]) -> Any:
    """Run a bad request: exitcode 2, `text` in its one-line message, nothing sent."""
    response = run(call, action, **params)
    assert response.exitcode == 2, response.message
    assert text in response.message
    assert response.meta["attempts"] == 0
    return response


def launch_in(endpoint: str, region: str) -> str:
    ec2 = client(endpoint, region)
    image = sorted(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])[0]
    return str(ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                 InstanceType="t2.micro")["Instances"][0]["InstanceId"])


def client(endpoint: str, region: str) -> Any:
    return boto3.client("ec2", region_name=region, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


# An OpenSSH public key EC2 (and moto) accepts for import-key-pair.
PUBLIC_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDPtCGHTvaPYp2Uzvp6hEgh0bSD8ZcWvm87aNOmHVXTtyR5GDE1"
    "VGwAFPn4j6+jsLZ4SQfOXhsv2QqUdqQbjE0ONItQgRVG2pbJPMvCh4onIBfEfk2ob1i3tyyB2Xp1s1kCt7Zuh8qH"
    "ahnMeV3dmOlx0zBqcTnM+mHexBJ1tHkaJnBNgMI6L1Xpv1TnavyxNRTS8bFGYFeV4fmeYfPDcIN+lRdnu8nbhXbx"
    "nB8gVY6dWNXtxAMoOi08JzsbNmc5z8eGTQIkBC5ByAcIk07zETrJdRo5zEDl4NUTEO3RYHT4BjLNVcI3Ewmxn6L2"
    "ArMsebt9JNZMgAWHYU6ru2YwZpvb me@host"
)
