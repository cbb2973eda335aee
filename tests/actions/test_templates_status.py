"""Launch templates, instance status and console output against a real endpoint."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.actions import WITHHELD
from tests.conftest import launch
from tests.harness.calls import refused, run


def test_launch_template_flow(call: Call, ec2: Any, image_id: str) -> None:
    created = run(call, "create-launch-template", launch_template_name="web-servers",
                  image_id=image_id, instance_type="t2.micro", user_data="#!/bin/sh\necho hi",
                  tags={"team": "ops"}, client_token="lt-1")
    assert created.exitcode == 0, created.message
    info = created.get("launch-template-info")
    template_id = info["launch-template-id"]
    assert info["launch-template-name"] == "web-servers" and info["latest-version-number"] == 1
    version = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert version["ImageId"] == image_id and version["InstanceType"] == "t2.micro"
    assert base64.b64decode(version["UserData"]) == b"#!/bin/sh\necho hi"
    assert "echo hi" not in str(created.to_dict())

    listed = run(call, "describe-launch-templates", launch_template_name="web-servers")
    assert [t["launch-template-id"] for t in listed.get("launch-template-list")] == [template_id]
    deleted = run(call, "delete-launch-template", launch_template_id=template_id)
    assert deleted.exitcode == 0 and deleted.get("launch-template-name") == "web-servers"
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []


def test_instance_status_console_output_and_list_alias(
    call: Call, ec2: Any, image_id: str
) -> None:
    ids = launch(ec2, image_id, 2)
    ec2.stop_instances(InstanceIds=[ids[1]])
    status = run(call, "describe-instance-status")
    assert status.exitcode == 0, status.message
    assert [s["instance-id"] for s in status.get("instance-status-list")] == [ids[0]]
    every = run(call, "describe-instance-status", include_all_instances=True)
    states = {s["instance-id"]: s["instance-state-name"] for s in every.get(
        "instance-status-list")}
    assert states == {ids[0]: "running", ids[1]: "stopped"}

    console = run(call, "get-console-output", instance_id=ids[0])
    assert console.exitcode == 0, console.message
    held = ec2.get_console_output(InstanceId=ids[0])["Output"]
    assert console.get("output") == held and "Linux" in held  # decoded from EC2's base64

    job = (call.connector("aws-ec2").set("action", "get-console-output")
           .set("instance-id", ids[0]).async_())
    stored = job.wait(30_000)
    assert stored.exitcode == 0, stored.message
    assert stored.get("output") == WITHHELD and stored.get("instance-id") == ids[0]

    listed = run(call, "list")
    assert listed.exitcode == 0 and {i["instance-id"] for i in listed.get("instance-list")} == set(
        ids)


@pytest.mark.parametrize(
    ("action", "params", "text"),
    [
        ("create-launch-template", {}, "missing required parameter 'launch-template-name'"),
        ("create-launch-template", {"launch-template-name": "a b"}, "malformed"),
        ("delete-launch-template", {}, "one of 'launch-template-id' / 'launch-template-name'"),
        ("get-console-output", {"instance-id": "vol-0123456789abcdef0"}, "malformed"),
        ("describe-instance-status", {"instance-id": []}, "must not be empty"),
    ],
)
def test_bad_template_input_sends_nothing(
    call: Call, ec2: Any, action: str, params: dict[str, Any], text: str
) -> None:
    refused(call, action, text, params)
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []


def test_create_instance_extras_and_launch_template(call: Call, ec2: Any, image_id: str) -> None:
    template = ec2.create_launch_template(
        LaunchTemplateName="tpl", LaunchTemplateData={"ImageId": image_id,
                                                      "InstanceType": "t2.micro"})
    template_id = template["LaunchTemplate"]["LaunchTemplateId"]
    response = run(call, "create-instance", launch_template_name="tpl",
                   shutdown_behavior="terminate", termination_protection=True,
                   security_group="default",
                   block_device_mappings=[{"device-name": "/dev/sdb", "volume-size": 20}])
    assert response.exitcode == 0, response.message
    [info] = response.get("instance-info")
    iid = info["instance-id"]
    held = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert held["ImageId"] == image_id and held["InstanceType"] == "t2.micro"
    assert {g["GroupName"] for g in held["SecurityGroups"]} == {"default"}
    # moto ignores DisableApiTermination at launch: termination-protection is checked
    # against botocore's model only (tests/test_declarations.py validates the input).
    shutdown = ec2.describe_instance_attribute(
        InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior")
    assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    devices = {m["DeviceName"] for m in held.get("BlockDeviceMappings", [])}
    assert "/dev/sdb" in devices
    by_id = run(call, "create-instance", launch_template_id=template_id,
                launch_template_version="$Latest")
    assert by_id.exitcode == 0, by_id.message


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"instance-type": "t2.micro"}, "missing required parameter 'image-id'"),
        ({"launch-template-id": "lt-0123456789abcdef0", "launch-template-name": "tpl"},
         "give only one of"),
        ({"image-id": "ami-0123456789abcdef0", "instance-type": "t2.micro",
          "launch-template-version": "3"}, "'launch-template-version' needs"),
        ({"launch-template-name": "tpl", "shutdown-behavior": "explode"}, "must be one of"),
        ({"launch-template-name": "tpl", "block-device-mappings": [{"volume-size": 8}]},
         "needs 'device-name'"),
        ({"launch-template-name": "tpl", "block-device-mappings": [
            {"device-name": "/dev/sdb", "colour": 1}]}, "unknown key 'colour'"),
    ],
)
def test_bad_create_instance_extras_send_nothing(
    call: Call, ec2: Any, params: dict[str, Any], text: str
) -> None:
    response = run(call, "create-instance", **params)
    assert response.exitcode == 2, response.message
    assert text in response.message
    assert response.meta["attempts"] == 0
