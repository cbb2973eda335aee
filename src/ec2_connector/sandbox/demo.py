"""`ec2-connector demo`: the seed's flow, run through the library against an embedded sandbox.

Each step is one connector call, printed as one line with its exitcode and what it did.
The demo stops at the first step that fails, since every later step needs the earlier
ones' results, and exits 0 only when every step gave exitcode 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from ..call import Call
from ..response import Response
from .server import Sandbox

CONNECTOR = "aws-ec2"
STEP_TIMEOUT_MS = 60_000
WAIT_INTERVAL_MS = 200  # the sandbox changes states at once: poll fast, finish fast
RULE = {"protocol": "tcp", "from-port": 22, "to-port": 22, "cidr-block": "203.0.113.0/24"}


class StepFailed(Exception):
    """A step gave a non-zero exitcode; the rest of the flow depends on it."""


class Demo:
    """Runs connector calls as steps, printing one line per step."""

    def __init__(self, call: Call, out: TextIO) -> None:
        self.call = call
        self.out = out
        self.done = 0

    def step(self, params: dict[str, Any], summary: Callable[[Response], str]) -> Response:
        response: Response = self.call.execute(CONNECTOR, params, timeout_ms=STEP_TIMEOUT_MS)
        ok = response.exitcode == 0
        text = summary(response) if ok else response.message
        self.line(ok, str(response.exitcode), str(params["action"]), text)
        if not ok:
            raise StepFailed(params["action"])
        self.done += 1
        return response

    def line(self, ok: bool, code: str, label: str, text: str) -> None:
        mark = "ok  " if ok else "FAIL"
        print(f"  {mark}  exitcode {code:<2} {label:<24} {text}", file=self.out, flush=True)

    def flow(self, image_id: str) -> None:
        """The seed's flow: launch two, describe, tag, open SSH, stop, start, reboot, end."""
        created = self.step(
            {"action": "create-instance", "image-id": image_id, "instance-type": "t2.micro",
             "min-instance": 2, "max-instance": 2, "wait": True,
             "wait-interval": WAIT_INTERVAL_MS},
            lambda r: "launched two t2.micro, waited until running: "
            + _ids_with(r.get("instance-info"), "instance-state-name"),
        )
        ids = [i["instance-id"] for i in created.get("instance-info")]
        self.step(
            {"action": "describe-instances", "instance-id": ids},
            lambda r: _described(r.get("instances-info")),
        )
        tags = {"Name": "ec2-connector-demo", "team": "automation"}
        self.step(
            {"action": "create-tags", "resource-id": ids, "tags": tags},
            lambda r: "tagged both with " + ", ".join(f"{k}={v}" for k, v in tags.items()),
        )
        group = self.step(
            {"action": "create-security-group", "group-name": "ec2-connector-demo",
             "group-description": "ec2-connector demo: SSH from a documentation range"},
            lambda r: f"created {r.get('group-id')} (ec2-connector-demo)",
        )
        self.step(
            {"action": "security-group-add-rule", "security-group-id": group.get("group-id"),
             "direction": "inbound", **RULE},
            lambda r: f"{group.get('group-id')} now allows tcp 22 in from {RULE['cidr-block']}",
        )
        self.state_change("stop-instances", "stopped", ids)
        self.state_change("start-instances", "running", ids)
        self.step(
            {"action": "reboot-instances", "instance-id": ids},
            lambda r: "reboot requested: " + ", ".join(r.get("reboot-instance-id") or ids),
        )
        self.state_change("terminate-instances", "terminated", ids)

    def state_change(self, action: str, target: str, ids: list[str]) -> None:
        params = {"action": action, "instance-id": ids, "wait": True,
                  "wait-interval": WAIT_INTERVAL_MS}
        self.step(
            params,
            lambda r: f"waited until {target}: " + _states(r.get("last-states") or {}),
        )


def _ids_with(items: list[dict[str, Any]] | None, key: str) -> str:
    return ", ".join(f"{i.get('instance-id')} ({i.get(key)})" for i in items or [])


def _described(items: list[dict[str, Any]] | None) -> str:
    shown = [
        f"{i.get('instance-id')} {i.get('instance-state-name')} {i.get('instance-type')} "
        f"{i.get('private-ip')}"
        for i in items or []
    ]
    return f"{len(shown)} instances: " + "; ".join(shown)


def _states(states: dict[str, str]) -> str:
    return ", ".join(f"{instance} {state}" for instance, state in states.items())


def pick_image(sandbox: Sandbox) -> tuple[str, str]:
    """An Amazon Linux AMI the sandbox knows (EC2 has no connector action for images)."""
    import boto3

    settings = sandbox.config()["connectors"][CONNECTOR]
    ec2 = boto3.client(
        "ec2", region_name=settings["region"], endpoint_url=sandbox.url,
        aws_access_key_id=settings["access-key"], aws_secret_access_key=settings["security-key"],
    )
    # A name filter keeps the answer small: the sandbox holds over a thousand AMIs.
    filters: list[Any] = [{"Name": "name", "Values": ["amzn2-ami-hvm-*"]}]
    images = ec2.describe_images(Owners=["amazon"], Filters=filters)["Images"]
    if not images:
        images = ec2.describe_images(Owners=["amazon"])["Images"]
    image = sorted(images, key=lambda i: i["ImageId"])[0]
    return str(image["ImageId"]), str(image.get("Name", ""))


def run(out: TextIO) -> int:
    """The `demo` command: start a sandbox, run the flow, stop the sandbox; 0 if all passed."""
    started = time.monotonic()
    with Sandbox() as sandbox:
        print(f"ec2-connector demo: EC2 sandbox (moto) at {sandbox.url}", file=out, flush=True)
        with Call(config=sandbox.config()) as call:
            demo = Demo(call, out)
            image_id, name = pick_image(sandbox)
            demo.line(True, "- ", "(pick an AMI)", f"{image_id} ({name}), by DescribeImages")
            try:
                demo.flow(image_id)
            except StepFailed as failed:
                print(f"demo failed at step '{failed}' after {demo.done} steps succeeded",
                      file=out, flush=True)
                return 1
    seconds = time.monotonic() - started
    print(f"demo finished: all {demo.done} steps gave exitcode 0 ({seconds:.1f} s); "
          "sandbox stopped", file=out, flush=True)
    return 0
