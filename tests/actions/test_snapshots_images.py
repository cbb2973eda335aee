"""Snapshot and image actions against a real EC2-compatible endpoint, read back with boto3."""

from __future__ import annotations

from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.actions import ACTIONS
from ec2_connector.actions.runner import input_args
from ec2_connector.actions.tokens import own_tags
from tests.conftest import launch
from tests.harness.calls import refused, run


def test_snapshot_flow(call: Call, ec2: Any) -> None:
    volume_id = ec2.create_volume(AvailabilityZone="us-east-1a", Size=4)["VolumeId"]
    taken = run(call, "take-snapshot-of-volume", volume_id=volume_id, description="nightly",
                tags={"k": "v"}, wait=True, wait_interval=100)
    assert taken.exitcode == 0, taken.message
    details = taken.get("snapshot-details")
    snapshot_id = details["snapshot-id"]
    held = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert held["VolumeId"] == volume_id and held["Description"] == "nightly"
    assert details["state"] == "completed" and own_tags(details["tags"]) == {"k": "v"}

    alias = run(call, "create-snapshot", volume_id=volume_id)
    assert alias.exitcode == 0 and alias.meta["action"] == "create-snapshot"
    own = run(call, "describe-snapshots", filters={"volume-id": volume_id})
    assert {s["snapshot-id"] for s in own.get("snapshot-list")} == {
        snapshot_id, alias.get("snapshot-details")["snapshot-id"]}

    copied = run(call, "copy-snapshot", source_snapshot_id=snapshot_id, wait=True,
                 wait_interval=100)
    assert copied.exitcode == 0, copied.message
    copy_id = copied.get("snapshot-id")
    assert ec2.describe_snapshots(SnapshotIds=[copy_id])["Snapshots"][0]["State"] == "completed"

    for sid in (snapshot_id, copy_id):
        deleted = run(call, "delete-snapshot", snapshot_id=sid)
        assert deleted.exitcode == 0 and deleted.get("deleted") is True
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert snapshot_id not in left and copy_id not in left
    gone = run(call, "delete-snapshot", snapshot_id=snapshot_id)
    assert gone.exitcode == 6 and "InvalidSnapshot.NotFound" in gone.message


def test_image_flow(call: Call, ec2: Any, image_id: str) -> None:
    found = run(call, "describe-image", image_id=image_id)
    assert found.exitcode == 0, found.message
    [info] = found.get("image-info")
    assert info["image-id"] == image_id and info["state"] == "available"
    assert run(call, "describe-images", image_id=image_id).get("image-info") == [info]
    public = run(call, "list-image", owner="amazon", filters={"image-id": image_id})
    assert image_id in {i["image-id"] for i in public.get("image-list")}
    assert run(call, "list-image").get("image-list") == []  # own images only

    instance_id = launch(ec2, image_id)[0]
    created = run(call, "create-image", instance_id=instance_id, name="web-image",
                  tags={"team": "ops"}, wait=True, wait_interval=100)
    assert created.exitcode == 0, created.message
    new_id = created.get("image-id")
    held = ec2.describe_images(ImageIds=[new_id])["Images"][0]
    assert held["Name"] == "web-image" and held["State"] == "available"
    assert [i["image-id"] for i in run(call, "list-image").get("image-list")] == [new_id]

    copied = run(call, "copy-image", source_image_id=new_id, name="web-copy",
                 client_token="copy-1")
    assert copied.exitcode == 0, copied.message
    copy_id = copied.get("image-id")
    assert ec2.describe_images(ImageIds=[copy_id])["Images"][0]["Name"] == "web-copy"

    for ami in (new_id, copy_id):
        gone = run(call, "deregister-image", image_id=ami)
        assert gone.exitcode == 0 and gone.get("deregistered") is True
    own = ec2.describe_images(Owners=["self"])["Images"]
    assert own == []


def test_listings_default_to_own_snapshots_and_images() -> None:
    # What the runner sends: owner self unless ids or owners are given.
    for name, ids, member in (("describe-snapshots", "snapshot-id", "OwnerIds"),
                              ("list-image", None, "Owners")):
        action = ACTIONS[name]
        assert input_args(action, action.validate({}))[member] == ["self"]
        assert input_args(action, action.validate({"owner": "amazon"}))[member] == ["amazon"]
        if ids:
            given = action.validate({ids: "snap-0123456789abcdef0"})
            assert member not in input_args(action, given)


@pytest.mark.parametrize(
    ("action", "params", "text"),
    [
        ("take-snapshot-of-volume", {}, "missing required parameter 'volume-id'"),
        ("take-snapshot-of-volume", {"volume-id": "snap-0123456789abcdef0"}, "malformed"),
        ("delete-snapshot", {"snapshot-id": "vol-0123456789abcdef0"}, "malformed"),
        ("describe-image", {}, "one of 'image-id' / 'owner' / 'filters' is required"),
        ("create-image", {"instance-id": "i-0123456789abcdef0"}, "parameter 'name'"),
        ("create-image", {"instance-id": "i-0123456789abcdef0", "name": "x"}, "'name'"),
        ("copy-image", {"source-image-id": "ami-1", "name": "copy"}, "malformed"),
    ],
)
def test_bad_snapshot_and_image_input_sends_nothing(
    call: Call, ec2: Any, action: str, params: dict[str, Any], text: str
) -> None:
    refused(call, action, text, params)
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    assert ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [
        "vol-0123456789abcdef0"]}])["Snapshots"] == []
