"""Instance actions against a real EC2-compatible endpoint, read back with plain boto3."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ec2_connector import Call
from tests.conftest import all_instances, launch
from tests.harness.calls import run

SEED_DESCRIBE_FIELDS = {
    "image-id", "public-ip", "instance-type", "key-name", "private-ip", "hypervisor",
    "kernel-id", "instance-id", "architecture", "client-token", "instance-lifecycle",
    "platform", "instance-state-code", "instance-state-name", "ramdisk-id", "ebs-optimized",
    "placement-tenancy", "placement-group-name", "public-DNSname", "root-device-name",
    "root-device-type", "launch-time", "subnet-id", "virtualization-type", "vpc-id",
    "ami-launch-index",
}
LAUNCH_FIELDS = {
    "instance-id", "instance-type", "public-ip", "private-ip", "image-id",
    "instance-state-name", "availability-zone", "launch-time", "subnet-id", "vpc-id", "key-name",
    "tags",
}


def state_of(ec2: Any, instance_id: str) -> str:
    result = ec2.describe_instances(InstanceIds=[instance_id])
    return str(result["Reservations"][0]["Instances"][0]["State"]["Name"])


def test_create_instance(call: Call, ec2: Any, image_id: str) -> None:
    response = run(
        call, "create-instance", image_id=image_id, instance_type="t2.micro", min_instance=2,
        tags={"team": "ops"}, user_data="#!/bin/sh\necho hi",
    )
    assert response.exitcode == 0, response.message
    assert response.message == "success"
    info = response.get("instance-info")
    assert len(info) == 2
    assert all(set(item) == LAUNCH_FIELDS for item in info)
    held = {i["InstanceId"]: i for i in all_instances(ec2)}
    assert set(held) == {item["instance-id"] for item in info}
    for item in info:
        instance = held[item["instance-id"]]
        assert instance["InstanceType"] == "t2.micro" == item["instance-type"]
        assert item["public-ip"] == instance["PublicIpAddress"]
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert tags["team"] == "ops"
        assert tags["ec2-connector:client-token"] == response.get("client-token")
        attr = ec2.describe_instance_attribute(InstanceId=item["instance-id"], Attribute="userData")
        assert base64.b64decode(attr["UserData"]["Value"]) == b"#!/bin/sh\necho hi"
    meta = response.meta
    assert meta["region"] == "us-east-1" and meta["endpoint"].startswith("http://127.0.0.1")
    assert meta["attempts"] >= 1 and meta["http-status"] == 200 and meta["duration-ms"] >= 0
    assert response.http_status == 200 and response.headers["content-type"]


def test_same_client_token_twice_launches_once(call: Call, ec2: Any, image_id: str) -> None:
    first = run(call, "create-instance", image_id=image_id, instance_type="t2.micro",
                client_token="deploy-42")
    second = run(call, "create-instance", image_id=image_id, instance_type="t2.micro",
                 client_token="deploy-42")
    assert first.exitcode == 0 and second.exitcode == 0
    ids = [i["instance-id"] for i in first.get("instance-info")]
    assert [i["instance-id"] for i in second.get("instance-info")] == ids
    assert "nothing new was launched" in second.message
    assert len(all_instances(ec2)) == 1


def test_create_dry_run_launches_nothing(call: Call, ec2: Any, image_id: str) -> None:
    response = run(call, "create-instance", image_id=image_id, instance_type="t2.micro",
                   dry_run=True)
    assert response.exitcode == 0
    assert "would have succeeded" in response.message
    assert all_instances(ec2) == []


@pytest.mark.parametrize(
    ("params", "exitcode", "text"),
    [
        ({"instance-type": "t2.micro"}, 2, "missing required parameter 'image-id'"),
        ({"image-id": "ami-12345678", "instance-type": "t2.micro"}, 6, "InvalidAMIID.NotFound"),
        ({"image-id": "not-an-ami", "instance-type": "t2.micro"}, 2, "'image-id' is malformed"),
        ({"instance-type": "t2.micro", "min-instance": "two"}, 2, "'min-instance'"),
        ({"instance-type": "t2.micro", "min-instance": 3, "max-instance": 2}, 2, "max-instance"),
        ({"instance-type": "t2.nonsense"}, 6, "InvalidInstanceType"),
        ({"instance-type": "t2.micro", "colour": "red"}, 2, "unknown parameter 'colour'"),
    ],
)
def test_create_bad_input_changes_nothing(
    call: Call, ec2: Any, image_id: str, params: dict[str, Any], exitcode: int, text: str
) -> None:
    params = {"image-id": image_id, **params} if "image-id" not in params else params
    if params.get("instance-type") == "t2.micro" and "missing" in text:
        params.pop("image-id")
    response = run(call, "create-instance", **params)
    assert response.exitcode == exitcode, response.message
    assert text in response.message
    assert all_instances(ec2) == []


@pytest.mark.parametrize(
    ("action", "key", "target", "extra"),
    [
        ("stop-instances", "stop-instance-list", "stopped", {"force": True}),
        ("terminate-instances", "terminated-instance-set", "terminated", {}),
    ],
)
def test_state_changes(
    call: Call, ec2: Any, image_id: str, action: str, key: str, target: str,
    extra: dict[str, Any],
) -> None:
    ids = launch(ec2, image_id, 2)
    response = run(call, action, instance_id=ids, **extra)
    assert response.exitcode == 0, response.message
    items = response.get(key)
    assert {i["instance-id"] for i in items} == set(ids)
    assert all(i["previous-state"] == "running" for i in items)
    assert all(i["current-state"] for i in items)
    assert [i["ok"] for i in response.get("items")] == [True, True]
    assert {state_of(ec2, i) for i in ids} == {target}


def test_start_and_reboot(call: Call, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 2)
    ec2.stop_instances(InstanceIds=ids)
    started = run(call, "start-instances", instance_id=",".join(ids))
    assert started.exitcode == 0
    assert [i["previous-state"] for i in started.get("started-instances-set")] == ["stopped"] * 2
    assert {state_of(ec2, i) for i in ids} == {"running"}
    rebooted = run(call, "reboot-instances", instance_id=ids)
    assert rebooted.exitcode == 0 and rebooted.get("reboot-instance-id") == ids


@pytest.mark.parametrize("action", ["stop-instances", "terminate-instances", "reboot-instances"])
@pytest.mark.parametrize(
    ("ids", "exitcode", "text"),
    [
        ([], 2, "'instance-id' must not be empty"),
        ("", 2, "'instance-id'"),
        (None, 2, "missing required parameter 'instance-id'"),
        (["bogus-id"], 2, "'instance-id' is malformed"),
        (["i-0123456789abcdef0"], 6, "InvalidInstanceID.NotFound"),
    ],
)
def test_destructive_bad_ids_change_nothing(
    call: Call, ec2: Any, image_id: str, action: str, ids: Any, exitcode: int, text: str
) -> None:
    kept = launch(ec2, image_id)[0]
    builder = call.connector("aws-ec2").set("action", action)
    if ids is not None:
        builder.set("instance-id", ids)
    response = builder.sync()
    assert response.exitcode == exitcode, response.message
    assert text in response.message
    assert state_of(ec2, kept) == "running"


def test_partial_batch_reports_every_id(call: Call, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 2)
    ghost = "i-0123456789abcdef0"
    response = run(call, "stop-instances", instance_id=[ids[0], ghost, ids[1]])
    assert response.exitcode == 8
    items = {i["instance-id"]: i for i in response.get("items")}
    assert items[ghost]["ok"] is False
    assert items[ghost]["error-code"] == "InvalidInstanceID.NotFound"
    assert items[ids[0]]["ok"] and items[ids[1]]["ok"]
    assert {state_of(ec2, i) for i in ids} == {"stopped"}
    none = run(call, "stop-instances", instance_id=[ghost, "i-0123456789abcdef1"])
    assert none.exitcode == 6
    assert [i["ok"] for i in none.get("items")] == [False, False]


def test_describe_instances_fields_and_pages(call: Call, ec2: Any, image_id: str) -> None:
    for _ in range(105):  # more reservations than one page of the endpoint holds
        launch(ec2, image_id)
    first = all_instances(ec2)[0]["InstanceId"]
    ec2.create_tags(Resources=[first], Tags=[{"Key": "k", "Value": "v"}])
    response = run(call, "describe-instances")
    assert response.exitcode == 0
    info = response.get("instances-info")
    assert len(info) == 105 == len({i["instance-id"] for i in info})
    for item in info:
        assert set(item) == SEED_DESCRIBE_FIELDS | {"tags", "security-groups", "availability-zone"}
    listed = run(call, "list-instances")
    assert len(listed.get("instance-list")) == 105


def test_describe_by_id_and_filter(call: Call, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 3)
    ec2.stop_instances(InstanceIds=[ids[0]])
    by_id = run(call, "describe-instances", instance_id=ids[1])
    assert [i["instance-id"] for i in by_id.get("instances-info")] == [ids[1]]
    item = by_id.get("instances-info")[0]
    held = ec2.describe_instances(InstanceIds=[ids[1]])["Reservations"][0]["Instances"][0]
    assert item["public-DNSname"] == held["PublicDnsName"]
    assert item["instance-state-code"] == 16 and item["instance-state-name"] == "running"
    stopped = run(call, "describe-instances", filters={"instance-state-name": "stopped"})
    assert [i["instance-id"] for i in stopped.get("instances-info")] == [ids[0]]


def test_unsupported_filter_is_a_clear_service_error(call: Call, ec2: Any, image_id: str) -> None:
    launch(ec2, image_id)
    response = run(call, "describe-instances", filters={"instance-state-code": "16"})
    assert response.exitcode == 1
    assert "'instance-state-code'" in response.message
    assert "Traceback" not in response.message


@pytest.mark.parametrize(
    ("attribute", "value", "check"),
    [
        ("instance-type", "t2.small", lambda i: i["InstanceType"] == "t2.small"),
        ("instanceType", "t2.medium", lambda i: i["InstanceType"] == "t2.medium"),
        ("ebs-optimized", "true", lambda i: i["EbsOptimized"] is True),
    ],
)
def test_modify_instance_attribute(
    call: Call, ec2: Any, image_id: str, attribute: str, value: str, check: Any
) -> None:
    iid = launch(ec2, image_id)[0]
    ec2.stop_instances(InstanceIds=[iid])
    response = run(call, "modify-instance-attribute", instance_id=iid, attribute=attribute,
                   attribute_value=value)
    assert response.exitcode == 0, response.message
    assert check(ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0])


def test_modify_termination_protection_and_user_data(call: Call, ec2: Any, image_id: str) -> None:
    iid = launch(ec2, image_id)[0]
    ok = run(call, "modify-instance-attribute", instance_id=iid,
             attribute="disable-api-termination", attribute_value=True)
    assert ok.exitcode == 0
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")
    assert attr["DisableApiTermination"]["Value"] is True
    ec2.stop_instances(InstanceIds=[iid])
    user = run(call, "modify-instance-attribute", instance_id=iid, attribute="user-data",
               attribute_value="#cloud-config\nruncmd: []")
    assert user.exitcode == 0, user.message
    # EC2 documents that DescribeInstanceAttribute returns the user data base64-encoded.
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    assert base64.b64decode(attr["UserData"]["Value"]) == b"#cloud-config\nruncmd: []"
    assert "#cloud-config" not in str(user.to_dict())


def test_modify_bad_attribute_changes_nothing(call: Call, ec2: Any, image_id: str) -> None:
    iid = launch(ec2, image_id)[0]
    for attribute, value, text in [
        ("colour", "red", "'attribute' must be one of"),
        ("disable-api-termination", "maybe", "'attribute-value' must be a boolean"),
        ("instance-initiated-shutdown-behavior", "explode", "must be one of: stop, terminate"),
    ]:
        response = run(call, "modify-instance-attribute", instance_id=iid, attribute=attribute,
                       attribute_value=value)
        assert response.exitcode == 2 and text in response.message
        assert response.meta["attempts"] == 0
    attr = ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")
    assert attr["DisableApiTermination"]["Value"] is False


@pytest.mark.parametrize(("params", "expected"), [
    ({"min_instance": 2**31}, "at most 2147483647"),
    ({"max_instance": 2**40}, "at most 2147483647"),
    ({"min_instance": "9" * 5000}, "too large"),
    ({"min_instance": float("nan")}, "'min-instance' must be an integer"),
    ({"instance_type": float("inf")}, "finite"),
    ({"user_data": "x" * (16 * 1024 + 1)}, "at most 16384"),
    ({"user_data": "é" * (8 * 1024 + 1)}, "at most 16384"),
    ({"tags": {"aws:x": "y"}}, "'aws:'"),
    ({"tags": {f"k{n}": "v" for n in range(49)}}, "at most 48"),
])
def test_launches_ec2_would_refuse_are_refused_first(
    call: Call, ec2: Any, image_id: str, params: dict[str, Any], expected: str
) -> None:
    """Why: MinCount >= 2**31 and NaN reached EC2."""
    response = run(call, "create-instance", **{"image_id": image_id,
                                               "instance_type": "t2.micro", **params})
    assert response.exitcode == 2 and expected in response.message, response.message
    assert response.meta["attempts"] == 0
    assert all_instances(ec2) == []


def test_user_data_of_16_kb_is_launched(call: Call, ec2: Any, image_id: str) -> None:
    response = run(call, "create-instance", image_id=image_id, instance_type="t2.micro",
                   user_data="x" * (16 * 1024))
    assert response.exitcode == 0, response.message
    assert len(all_instances(ec2)) == 1
