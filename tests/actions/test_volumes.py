"""Volume actions against a real EC2-compatible endpoint, read back with plain boto3."""

from __future__ import annotations

from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.actions.tokens import own_tags
from tests.conftest import launch
from tests.harness.calls import refused, run


def test_volume_flow(call: Call, ec2: Any, image_id: str) -> None:
    created = run(call, "create-volume", availability_zone="us-east-1a", size=8,
                  volume_type="gp3", tags={"team": "ops"}, client_token="vol-1", wait=True,
                  wait_interval=100)
    assert created.exitcode == 0, created.message
    details = created.get("volume-details")
    volume_id = details["volume-id"]
    held = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert held["Size"] == 8 == details["size"] and held["VolumeType"] == "gp3"
    assert own_tags({t["Key"]: t["Value"] for t in held["Tags"]}) == {"team": "ops"}
    assert details["state"] == "available" and created.get("last-states") == {
        volume_id: "available"}
    assert isinstance(details["create-time"], str)

    instance_id = launch(ec2, image_id)[0]
    attached = run(call, "attach-volume", volume_id=volume_id, instance_id=instance_id,
                   device_name="/dev/sdf", wait=True, wait_interval=100)
    assert attached.exitcode == 0, attached.message
    assert attached.get("volume-id") == volume_id and attached.get("device-name") == "/dev/sdf"
    held = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert held["Attachments"][0]["InstanceId"] == instance_id

    described = run(call, "describe-volumes", volume_id=volume_id)
    assert described.exitcode == 0
    [item] = described.get("volume-details")
    assert item["attachments"][0]["instance-id"] == instance_id
    listed = run(call, "list-volumes")
    assert volume_id in {v["volume-id"] for v in listed.get("volume-list")}

    detached = run(call, "detach-volume", volume_id=volume_id, wait=True, wait_interval=100)
    assert detached.exitcode == 0, detached.message
    assert detached.get("instance-id") == instance_id
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["State"] == "available"
    again = run(call, "detach-volume", volume_id=volume_id)
    assert again.exitcode == 1 and "not attached" in again.message

    modified = run(call, "modify-volume", volume_id=volume_id, size=16)
    assert modified.exitcode == 0, modified.message
    assert modified.get("volume-modification")["target-size"] == 16
    assert ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Size"] == 16

    deleted = run(call, "delete-volume", volume_id=volume_id, wait=True, wait_interval=100)
    assert deleted.exitcode == 0, deleted.message
    assert deleted.get("deleted") is True
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])[
        "Volumes"] == []
    gone = run(call, "delete-volume", volume_id=volume_id)
    assert gone.exitcode == 6 and "InvalidVolume.NotFound" in gone.message


@pytest.mark.parametrize(
    ("action", "params", "text"),
    [
        ("create-volume", {"size": 8}, "missing required parameter 'availability-zone'"),
        ("create-volume", {"availability-zone": "us-east-1a"}, "'size' / 'snapshot-id'"),
        ("create-volume", {"availability-zone": "us-east-1a", "size": 0}, "'size'"),
        ("create-volume", {"availability-zone": "us-east-1a", "size": 8,
                           "volume-type": "fast"}, "'volume-type' must be one of"),
        ("attach-volume", {"volume-id": "vol-xyz", "instance-id": "i-0123456789abcdef0",
                           "device-name": "/dev/sdf"}, "'volume-id' is malformed"),
        ("detach-volume", {}, "missing required parameter 'volume-id'"),
        ("modify-volume", {"volume-id": "vol-0123456789abcdef0"}, "one of 'size'"),
        ("delete-volume", {"volume-id": ["vol-0123456789abcdef0"]}, "'volume-id' must be"),
    ],
)
def test_bad_volume_input_sends_nothing(
    call: Call, ec2: Any, action: str, params: dict[str, Any], text: str
) -> None:
    refused(call, action, text, params)
    assert ec2.describe_volumes()["Volumes"] == []
