"""Client tokens mean exactly one launch, with the same parameters.

Why: tokens were matched through a tag filter, where `*` is a wildcard
(`client-token: "*"` launched nothing and answered with every instance of the endpoint);
the same token with other parameters answered "success"; and two launches with one token
at the same moment launched twice on an endpoint that ignores ClientToken (moto does).
Everything is read back from the endpoint with plain boto3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.actions.tokens import TOKEN_TAG
from tests.conftest import all_instances, launch

# Two processes racing with one token, this many times: the 20 trials (a few
# seconds; before the lock, 12 of 20 launched twice).
TOKEN_TRIALS = int(os.environ.get("TOKEN_TRIALS", "20"))


def create(call: Call, image_id: str, **params: Any) -> Any:
    builder = call.connector("aws-ec2").set("action", "create-instance") \
        .set("image-id", image_id).set("instance-type", "t2.micro")
    for key, value in params.items():
        builder.set(key.replace("_", "-"), value)
    return builder.sync()


def with_token(ec2: Any, token: str) -> list[str]:
    return sorted(
        i["InstanceId"] for i in all_instances(ec2)
        if {t["Key"]: t["Value"] for t in i.get("Tags", [])}.get(TOKEN_TAG) == token
    )


@pytest.mark.parametrize("token", ["*", "?", "a*", "a b", "x" * 65, "é", "a/b", "a,b"])
def test_malformed_tokens_are_refused(
    call: Call, ec2: Any, image_id: str, token: str
) -> None:
    launch(ec2, image_id, 2)
    response = create(call, image_id, client_token=token)
    assert response.exitcode == 2, response.message
    assert "'client-token' must be 1-64 characters" in response.message
    assert response.meta["attempts"] == 0
    assert len(all_instances(ec2)) == 2  # nothing launched, nothing claimed


def test_a_token_with_other_parameters_is_refused(
    call: Call, ec2: Any, image_id: str
) -> None:
    first = create(call, image_id, client_token="deploy-7")
    assert first.exitcode == 0, first.message
    ids = [i["instance-id"] for i in first.get("instance-info")]
    for other in ({"instance_type": "t3.micro"}, {"min_instance": 3},
                  {"user_data": "#!/bin/sh\necho other\n"}, {"max_instance": 2}):
        response = create(call, image_id, client_token="deploy-7", **other)
        assert response.exitcode == 2, (other, response.message)
        assert response.message.startswith("IdempotentParameterMismatch:"), response.message
        assert ids[0] in response.message
    same = create(call, image_id, client_token="deploy-7")
    assert same.exitcode == 0 and [i["instance-id"] for i in same.get("instance-info")] == ids
    assert with_token(ec2, "deploy-7") == ids
    assert len(all_instances(ec2)) == 1


def test_matching_is_exact(call: Call, ec2: Any, image_id: str) -> None:
    # An instance tagged with a token that merely starts like ours is not ours.
    ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                      TagSpecifications=[{"ResourceType": "instance", "Tags": [
                          {"Key": TOKEN_TAG, "Value": "release-1.2"}]}])
    response = create(call, image_id, client_token="release-1")
    assert response.exitcode == 0, response.message
    assert "already exist" not in response.message
    assert len(with_token(ec2, "release-1")) == 1


def test_threads_with_one_token_launch_once(call: Call, ec2: Any, image_id: str) -> None:
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: create(call, image_id, client_token="burst-1"),
                                range(6)))
    assert [r.exitcode for r in results] == [0] * 6, [r.message for r in results]
    ids = {tuple(i["instance-id"] for i in r.get("instance-info")) for r in results}
    assert len(ids) == 1
    assert with_token(ec2, "burst-1") == sorted(next(iter(ids)))
    assert len(all_instances(ec2)) == 1


RACER = textwrap.dedent("""
    import json, sys
    from ec2_connector import Call
    call = Call(json.loads(sys.argv[1]))
    print("ready", flush=True)
    for line in sys.stdin:
        token = line.strip()
        r = call.connector("aws-ec2").set("action", "create-instance") \\
            .set("image-id", sys.argv[2]).set("instance-type", "t2.micro") \\
            .set("client-token", token).sync()
        ids = [i["instance-id"] for i in (r.get("instance-info") or [])]
        print(json.dumps({"exitcode": r.exitcode, "ids": ids, "message": r.message}),
              flush=True)
""")


def test_two_processes_with_one_token_launch_once(
    config: dict[str, Any], ec2: Any, image_id: str
) -> None:
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, json.dumps(config), image_id],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
        for trial in range(TOKEN_TRIALS):
            token = f"race-{trial}"
            for racer in racers:  # both get the token within microseconds of each other
                assert racer.stdin is not None
                racer.stdin.write(token + "\n")
                racer.stdin.flush()
            answers = [json.loads(r.stdout.readline()) for r in racers if r.stdout]
            assert [a["exitcode"] for a in answers] == [0, 0], answers
            assert answers[0]["ids"] == answers[1]["ids"], answers
            assert with_token(ec2, token) == sorted(answers[0]["ids"])
            assert len(with_token(ec2, token)) == 1
    finally:
        for racer in racers:
            if racer.stdin is not None:
                racer.stdin.close()
            racer.wait(timeout=30)
            if racer.stdout is not None:
                racer.stdout.close()
    assert len(all_instances(ec2)) == TOKEN_TRIALS


# Every create that reruns safely, as a resource family: the request, and how to count
# that family's resources on the endpoint with plain boto3 (by our token tag). Not
# copy-image: moto's CopyImage drops TagSpecifications (AWS keeps them, and honours
# its ClientToken, which the connector sends).
def _count(ec2: Any, operation: str, items: str, token: str, **extra: Any) -> int:
    from ec2_connector.spec.fields import getter

    found = getter(items)(getattr(ec2, operation)(
        Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}], **extra)) or []
    return len(found)


def families(ec2: Any, image_id: str) -> dict[str, tuple[dict[str, Any], Any]]:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    [instance] = launch(ec2, image_id, 1)
    images = ("describe_images", "Images")
    return {
        "create-launch-template": (
            {"launch-template-name": "web-servers", "image-id": image_id,
             "instance-type": "t3.micro"},
            lambda t: _count(ec2, "describe_launch_templates", "LaunchTemplates", t)),
        "create-image": ({"instance-id": instance, "name": "web-1"},
                         lambda t: _count(ec2, *images, t, Owners=["self"])),
        "copy-snapshot": (
            {"source-snapshot-id": snapshot},
            lambda t: _count(ec2, "describe_snapshots", "Snapshots", t, OwnerIds=["self"])),
        "create-vpc": ({"cidr-block": "10.0.0.0/16"},
                       lambda t: _count(ec2, "describe_vpcs", "Vpcs", t)),
        "create-subnet": ({"vpc-id": vpc, "cidr-block": "10.9.1.0/24"},
                          lambda t: _count(ec2, "describe_subnets", "Subnets", t)),
        "allocate-address": ({}, lambda t: _count(ec2, "describe_addresses", "Addresses", t)),
        "create-security-group": (
            {"group-name": "web", "group-description": "web servers"},
            lambda t: _count(ec2, "describe_security_groups", "SecurityGroups", t)),
        "create-volume": ({"availability-zone": "us-east-1a", "size": 1},
                          lambda t: _count(ec2, "describe_volumes", "Volumes", t)),
        "take-snapshot-of-volume": (
            {"volume-id": volume},
            lambda t: _count(ec2, "describe_snapshots", "Snapshots", t, OwnerIds=["self"])),
        "import-key-pair": (
            {"key-name": "mine", "public-key-material": PUBLIC_KEY},
            lambda t: _count(ec2, "describe_key_pairs", "KeyPairs", t)),
    }


PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn7vmgKzVzNwxWsVuo/Y6kA4dr6zNxBovm9Yk"
              "Yr4QOZ me@host")


def test_every_create_family_finds_what_its_token_made(
    call: Call, ec2: Any, image_id: str
) -> None:
    for action, (params, count) in families(ec2, image_id).items():
        token = f"fam-{action}"
        builder = call.connector("aws-ec2").set("action", action).set("client-token", token)
        for key, value in params.items():
            builder.set(key, value)
        first = builder.sync()
        assert first.exitcode == 0, (action, first.message)
        again = builder.sync()  # the rerun of a job whose first run was lost
        assert again.exitcode == 0, (action, again.message)
        assert again.data == first.data, action
        assert "created earlier with this client token" in again.meta.get("client-token", ""), (
            action, again.meta)
        assert count(token) == 1, action  # one resource, found again, not made twice
        other = builder.set("tags", {"other": "yes"}).sync()
        assert other.exitcode == 2, (action, other.message)
        assert other.message.startswith("IdempotentParameterMismatch:"), other.message
        assert count(token) == 1, action


def test_a_create_without_a_token_makes_one_tagged_with_a_fresh_one(
    call: Call, ec2: Any
) -> None:
    response = call.connector("aws-ec2").set("action", "create-vpc") \
        .set("cidr-block", "10.1.0.0/16").sync()
    assert response.exitcode == 0, response.message
    vpc = ec2.describe_vpcs(VpcIds=[response.get("vpc-id")])["Vpcs"][0]
    tags = {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}
    assert len(tags.get(TOKEN_TAG, "")) == 32  # ours: a rerun with it would find it


def test_threads_with_one_token_create_one_vpc(call: Call, ec2: Any) -> None:
    # moto ignores nothing here: CreateVpc has no ClientToken; only the lock and the
    # look-up stand between six creates and six VPCs.
    def create_vpc(_: int) -> Any:
        return call.connector("aws-ec2").set("action", "create-vpc") \
            .set("cidr-block", "10.3.0.0/16").set("client-token", "vpc-burst").sync()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(create_vpc, range(6)))
    assert [r.exitcode for r in results] == [0] * 6, [r.message for r in results]
    assert len({r.get("vpc-id") for r in results}) == 1
    assert _count(ec2, "describe_vpcs", "Vpcs", "vpc-burst") == 1


def test_a_token_with_another_launch_option_is_refused(
    call: Call, ec2: Any, image_id: str
) -> None:
    """Every launch option is part of what the token names, not only the first few."""
    first = create(call, image_id, client_token="deploy-8", ebs_optimized=True)
    assert first.exitcode == 0, first.message
    for other in ({"ebs_optimized": False}, {"tags": {"team": "web"}},
                  {"termination_protection": True}):
        response = create(call, image_id, client_token="deploy-8", **other)
        assert response.exitcode == 2, (other, response.message)
        assert response.message.startswith("IdempotentParameterMismatch:"), response.message
    again = create(call, image_id, client_token="deploy-8", ebs_optimized=True)
    assert again.exitcode == 0 and "already exist" in again.message
    assert len(all_instances(ec2)) == 1
