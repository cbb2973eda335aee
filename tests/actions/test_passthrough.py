"""call-operation against a real EC2-compatible endpoint, read back with plain boto3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call
from tests.conftest import launch
from tests.harness.calls import run


def test_paginated_describe_and_max_items(call: Call, ec2: Any, image_id: str) -> None:
    ids = [i for _ in range(12) for i in launch(ec2, image_id)]
    response = run(call, "call-operation", operation="DescribeInstances",
                   parameters={"MaxResults": 5})
    assert response.exitcode == 0, response.message
    reservations = response.get("result")["Reservations"]
    assert len(reservations) == 12 and response.get("pages") == 3
    assert {r["Instances"][0]["InstanceId"] for r in reservations} == set(ids)
    assert isinstance(reservations[0]["Instances"][0]["LaunchTime"], str)
    early = run(call, "call-operation", operation="DescribeInstances",
                parameters={"MaxResults": 5}, max_items=7)
    assert len(early.get("result")["Reservations"]) == 7 and early.get("pages") == 2


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"operation": "DescribeVolumez"}, "unknown EC2 operation 'DescribeVolumez' "
         "(did you mean 'DescribeVolumes'?)"),
        ({"operation": "DescribeVolumes", "parameters": {"VolumeIdz": ["vol-1"]}},
         "Unknown parameter in input: \"VolumeIdz\""),
        ({"operation": "DescribeVolumes", "parameters": {"MaxResults": "five"}},
         "Invalid type for parameter"),
        ({"operation": "CreateTags", "parameters": {"Resources": ["vol-1"], "Tags": []}},
         '"allow-operations": ["CreateTags"]'),
        ({"operation": "ModifyVpcAttribute", "parameters": {"VpcId": "vpc-1"},
          "dry-run": True}, "changes things"),
        ({"operation": "describe-volumes"}, "'operation' is malformed"),
        ({"operation": "DescribeVolumes", "parameters": [1]}, "'parameters' must be"),
    ],
)
def test_bad_calls_send_nothing(call: Call, ec2: Any, params: dict[str, Any], text: str) -> None:
    response = run(call, "call-operation", **params)
    assert response.exitcode == 2, response.message
    assert text in response.message
    assert response.meta["attempts"] == 0


def test_mutating_operation_allowed_by_config(
    endpoint: str, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    instance_id = launch(ec2, image_id)[0]
    config = {"connectors": {"aws-ec2": {"endpoint-url": endpoint,
                                         "allow-operations": ["CreateTags", "Modify*"]}}}
    with Call(config=config, home=tmp_path / "home") as call:
        tagged = run(call, "call-operation", operation="CreateTags",
                     parameters={"Resources": [instance_id],
                                 "Tags": [{"Key": "via", "Value": "passthrough"}]})
        assert tagged.exitcode == 0, tagged.message
        dry = run(call, "call-operation", operation="ModifyInstanceAttribute", dry_run=True,
                  parameters={"InstanceId": instance_id, "InstanceType": {"Value": "t2.small"}})
        assert dry.exitcode == 0 and "dry run" in dry.message
        refused = run(call, "call-operation", operation="DeleteTags",
                      parameters={"Resources": [instance_id]})
        assert refused.exitcode == 2 and refused.meta["attempts"] == 0
    held = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert {t["Key"]: t["Value"] for t in held["Tags"]} == {"via": "passthrough"}
    assert held["InstanceType"] == "t2.micro"


def test_sensitive_output_masked_in_job_records(endpoint: str, tmp_path: Path) -> None:
    config = {"connectors": {"aws-ec2": {"endpoint-url": endpoint,
                                         "allow-operations": ["CreateKeyPair"]}}}
    with Call(config=config, home=tmp_path / "home") as call:
        sync = run(call, "call-operation", operation="CreateKeyPair",
                   parameters={"KeyName": "one"}, include_raw_body=True)
        material = sync.get("result")["KeyMaterial"]
        assert material.startswith("-----BEGIN") and "raw-body" in sync.meta
        assert material not in str(sync.meta)
        job = (call.connector("aws-ec2").set("action", "call-operation")
               .set("operation", "CreateKeyPair").set("parameters", {"KeyName": "two"})
               .async_())
        stored = job.wait(30_000)
        assert stored.exitcode == 0, stored.message
        assert stored.get("result")["KeyMaterial"] == "***"
        assert stored.get("result")["KeyName"] == "two"
    database = b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file())
    assert database and b"BEGIN RSA" not in database


def test_messages_name_ordinary_values_and_mask_sensitive_ones(
    endpoint: str, tmp_path: Path
) -> None:
    config = {"connectors": {"aws-ec2": {"endpoint-url": endpoint,
                                         "allow-operations": ["RunInstances"]}}}
    with Call(config=config, home=tmp_path / "home") as call:
        plain = run(call, "call-operation", operation="DescribeVolumes",
                    parameters={"VolumeIds": "vol-0feedfacefeedface"})
        assert plain.exitcode == 2 and plain.meta["attempts"] == 0
        assert "vol-0feedfacefeedface" in plain.message
        secret = "cloud-init-secret-7f3a"
        sensitive = run(call, "call-operation", operation="RunInstances",
                        parameters={"ImageId": "ami-12345678", "MinCount": "one",
                                    "MaxCount": 1, "UserData": secret})
        assert sensitive.exitcode == 2 and sensitive.meta["attempts"] == 0
        # Input holding a sensitive member is masked whole in messages, as before.
        assert "Invalid type for parameter" in sensitive.message
        assert secret not in repr(sensitive) and secret not in sensitive.message
