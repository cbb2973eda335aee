"""Names people already type (the AWS CLI's, Flint's), create-instance's launch options and
results that say what happened: against a real EC2-compatible endpoint, read back with
plain boto3, and at a capture endpoint where two spellings must send the same request."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call
from tests.conftest import launch
from tests.harness import CaptureServer
from tests.harness.calls import refused, run

SG = "sg-0123456789abcdef0"
SUBNET = "subnet-0123456789abcdef0"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def sent(call: Call, capture: CaptureServer, action: str, params: dict[str, Any]) -> list[Any]:
    """The EC2 requests (form fields, as sent) one call made to the capture endpoint."""
    before = len(capture.captured)
    run(call, action, endpoint_url=capture.url, **params)
    # botocore fills an idempotency token nobody gave with a fresh UUID: not compared.
    return [sorted((k, v) for k, v in urllib.parse.parse_qsl(body.decode())
                   if not (k == "ClientToken" and UUID.fullmatch(v)))
            for _, _, body in capture.captured[before:]]


# (alias call) == (canonical call): the same EC2 requests reach the endpoint.
SAME_REQUEST = [
    (("run-instances", {"image-id": "ami-12345678", "instance-type": "t3.micro",
                        "client-token": "tok-1"}),
     ("create-instance", {"image-id": "ami-12345678", "instance-type": "t3.micro",
                          "client-token": "tok-1"})),
    (("authorize-security-group-egress", {"group-id": SG, "from-port": 443,
                                          "cidr-block": "10.0.0.0/8"}),
     ("security-group-add-rule", {"group-id": SG, "from-port": 443, "direction": "outbound",
                                  "cidr-block": "10.0.0.0/8"})),
    (("revoke-security-group-ingress", {"group-id": SG, "from-port": 22,
                                        "cidr-block": "10.0.0.0/8"}),
     ("revoke-security-group-rule", {"group-id": SG, "from-port": 22,
                                     "cidr-block": "10.0.0.0/8"})),
    (("describe-instances", {"instance-ids": "i-0123456789abcdef0"}),
     ("describe-instances", {"instance-id": "i-0123456789abcdef0"})),
    # Flint's documented names
    # (a create's token is given: one of its own would differ between the two calls)
    (("create-volume", {"availability-zone": "us-east-1a", "volume-size": 8,
                        "client-token": "tok-3"}),
     ("create-volume", {"availability-zone": "us-east-1a", "size": 8, "client-token": "tok-3"})),
    (("create-vpc", {"cidr-block": "10.0.0.0/16", "tenancy": "dedicated",
                     "client-token": "tok-4"}),
     ("create-vpc", {"cidr-block": "10.0.0.0/16", "instance-tenancy": "dedicated",
                     "client-token": "tok-4"})),
    (("create-vpc", {"cidr-block": "10.0.0.0/16", "name": "lab", "client-token": "tok-5"}),
     ("create-vpc", {"cidr-block": "10.0.0.0/16", "tags": {"Name": "lab"},
                     "client-token": "tok-5"})),
    (("modify-vpc-attribute", {"vpc-id": "vpc-12345678", "is-enable-dns-support": True}),
     ("modify-vpc-attribute", {"vpc-id": "vpc-12345678", "enable-dns-support": True})),
    (("revoke-security-group-rule", {"group-id": SG, "type": "egress", "from-port": 22,
                                     "cidr-block": "10.0.0.0/8"}),
     ("revoke-security-group-rule", {"group-id": SG, "direction": "outbound", "from-port": 22,
                                     "cidr-block": "10.0.0.0/8"})),
    (("revoke-security-group-rule", {"group-id": SG, "ip-permissions": [{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}]}),
     ("revoke-security-group-rule", {"group-id": SG, "from-port": 22,
                                     "cidr-block": "10.0.0.0/8"})),
    (("list-image", {"account-id": "123456789012"}),
     ("list-image", {"owner": "123456789012"})),
    (("create-instance", {"image-id": "ami-12345678", "instance-type": "t3.micro",
                          "client-token": "tok-2", "network": SUBNET, "storage": 30,
                          "device-name": "/dev/xvda"}),
     ("create-instance", {"image-id": "ami-12345678", "instance-type": "t3.micro",
                          "client-token": "tok-2", "subnet-id": SUBNET,
                          "block-device-mappings": [{"device-name": "/dev/xvda",
                                                     "volume-size": 30}]})),
]


@pytest.mark.parametrize(("alias", "canonical"), SAME_REQUEST,
                         ids=[f"{a[0]}:{','.join(a[1])}" for a, _ in SAME_REQUEST])
def test_an_alias_sends_the_request_its_canonical_name_sends(
        call: Call, capture: CaptureServer, alias: Any, canonical: Any) -> None:
    by_alias = sent(call, capture, *alias)
    assert by_alias, "nothing reached the endpoint"
    assert by_alias == sent(call, capture, *canonical)


def test_an_alias_with_a_direction_keeps_it_through_a_job(
        config: dict[str, Any], ec2: Any, tmp_path: Path) -> None:
    group = ec2.create_security_group(GroupName="g", Description="x")["GroupId"]
    with Call(config=config, home=tmp_path / "jobs") as call:
        job = (call.connector("aws-ec2").set("action", "authorize-security-group-egress")
               .set("group-id", group).set("from-port", 5432).set("cidr-block", "10.1.0.0/16")
               .async_())
        done = job.wait(timeout_ms=30000)
    assert done.exitcode == 0 and done.get("direction") == "outbound", done.message
    held = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert 5432 in {p.get("FromPort") for p in held["IpPermissionsEgress"]}
    assert 5432 not in {p.get("FromPort") for p in held["IpPermissions"]}


def test_the_cli_suggests_within_the_verb_and_sends_nothing(
        capture: CaptureServer, tmp_path: Path) -> None:
    from tests.harness.cli import clean_env, run_cli

    env = clean_env(tmp_path)
    url = f"endpoint-url={capture.url}"
    typo = run_cli(env, "call", "run-instance", "image-id=ami-12345678", url)
    assert typo.returncode == 2 and "did you mean 'run-instances'?" in typo.stderr
    opposite = run_cli(env, "call", "security-group-remove-rule", f"group-id={SG}", url)
    assert opposite.returncode == 2 and "unknown action" in opposite.stderr
    assert "did you mean" not in opposite.stderr
    assert not capture.captured


def test_launch_options_reach_the_instance(call: Call, ec2: Any, image_id: str) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    created = run(call, "create-instance", image_id=image_id, instance_type="t3.micro",
                  network=subnet, metadata_http_tokens="required", metadata_hop_limit=2,
                  ebs_optimized=True, tenancy="default", hibernation=True,
                  associate_public_ip_address=True, private_ip_address="10.0.1.10",
                  max_price="0.05", storage=20, device_name="/dev/xvda",
                  root_volume_type="gp3", tags={"Name": "web"}, wait=True, wait_interval=100)
    assert created.exitcode == 0, created.message
    [item] = created.get("instance-info")
    held = ec2.describe_instances(InstanceIds=[item["instance-id"]])
    instance = held["Reservations"][0]["Instances"][0]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    assert instance["EbsOptimized"] is True and instance["HibernationOptions"]["Configured"]
    assert instance["InstanceLifecycle"] == "spot" and instance["SubnetId"] == subnet
    assert instance["PrivateIpAddress"] == "10.0.1.10" and instance.get("PublicIpAddress")
    assert instance["Placement"]["Tenancy"] == "default"
    [root] = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id",
                                            "Values": [item["instance-id"]]}])["Volumes"]
    assert (root["Size"], root["VolumeType"]) == (20, "gp3")
    # The tags applied at launch are in the result, so the table's Name column is filled.
    assert item["tags"]["Name"] == "web" and item["instance-state-name"] == "running"


@pytest.mark.parametrize(("params", "text"), [
    ({"metadata-http-tokens": "always"}, "must be one of: required, optional"),
    ({"metadata-hop-limit": 65}, "'metadata-hop-limit' must be at most 64"),
    ({"storage": 20}, "give 'device-name'"),
    ({"device-name": "/dev/xvda"}, "'device-name' needs a root volume setting"),
    ({"storage": 20, "device-name": "/dev/xvda",
      "block-device-mappings": [{"device-name": "/dev/xvda", "volume-size": 8}]},
     "device '/dev/xvda' is in both"),
    ({"max-price": "cheap"}, "'max-price' is malformed"),
    ({"associate-public-ip-address": True, "security-group": ["web"]},
     "'security-group' (names) cannot go with a network option"),
])
def test_a_bad_launch_option_sends_nothing(
        call: Call, ec2: Any, image_id: str, params: dict[str, Any], text: str) -> None:
    refused(call, "create-instance", text,
            {"image-id": image_id, "instance-type": "t3.micro", **params})
    assert not ec2.describe_instances()["Reservations"]


def test_launch_settings_reach_the_instance(call: Call, ec2: Any, image_id: str) -> None:
    created = run(call, "create-instance", image_id=image_id, instance_type="t3.micro",
                  launch_settings='{"Monitoring": {"Enabled": true}}')
    assert created.exitcode == 0, created.message
    [item] = created.get("instance-info")
    held = ec2.describe_instances(InstanceIds=[item["instance-id"]])
    assert held["Reservations"][0]["Instances"][0]["Monitoring"]["State"] == "enabled"


@pytest.mark.parametrize(("settings", "text"), [
    ({"MetadataOptions": {"HttpTokens": "required"}},
     "sets MetadataOptions: give the parameter 'metadata-http-tokens' instead"),
    ({"Monitorin": {"Enabled": True}}, "(did you mean 'Monitoring'?)"),
    ({"Monitoring": {"Enabled": "very"}}, "Invalid type for parameter Monitoring.Enabled"),
    ({"NetworkInterfaces": [{"DeviceIndex": 0}]}, "give 'subnet-id' inside them"),
    ([], "must be an object of RunInstances members"),
])
def test_bad_launch_settings_send_nothing(
        call: Call, ec2: Any, image_id: str, settings: Any, text: str) -> None:
    refused(call, "create-instance", text, {
        "image-id": image_id, "instance-type": "t3.micro", "subnet-id": SUBNET,
        "launch-settings": settings})
    assert not ec2.describe_instances()["Reservations"]


def test_launch_defaults_apply_unless_the_request_says_otherwise(
        config: dict[str, Any], ec2: Any, image_id: str, tmp_path: Path) -> None:
    defaults = {"metadata-http-tokens": "required", "ebs_optimized": "true"}
    config["connectors"]["aws-ec2"]["launch-defaults"] = defaults
    with Call(config=config, home=tmp_path / "home") as policed:
        plain = run(policed, "create-instance", image_id=image_id, instance_type="t3.micro")
        told = run(policed, "create-instance", image_id=image_id, instance_type="t3.micro",
                   metadata_http_tokens="optional")
        assert plain.exitcode == told.exitcode == 0, plain.message + told.message
        assert plain.meta["launch-defaults"] == {"metadata-http-tokens": "required",
                                                 "ebs-optimized": True}
        assert told.meta["launch-defaults"] == {"ebs-optimized": True}
        described = run(policed, "describe-instances")
        assert "launch-defaults" not in described.meta
    held = {i["InstanceId"]: i for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]}
    for response, tokens in ((plain, "required"), (told, "optional")):
        instance = held[response.get("instance-info")[0]["instance-id"]]
        assert instance["MetadataOptions"]["HttpTokens"] == tokens and instance["EbsOptimized"]


@pytest.mark.parametrize(("defaults", "text"), [
    ({"metadata-http-tokens": "always"}, "launch-defaults: parameter 'metadata-http-tokens' "
                                         "must be one of"),
    ({"metadata-http-token": "required"}, "(did you mean 'metadata-http-tokens'?)"),
    ({"client-token": "same-for-all"}, "'client-token' is given per request"),
    ({"user-data": "#!/bin/sh"}, "'user-data' is given per request"),
    ({"region": "eu-west-1"}, "unknown parameter in the connector's launch-defaults"),
])
def test_bad_launch_defaults_send_nothing(
        config: dict[str, Any], ec2: Any, image_id: str, tmp_path: Path,
        defaults: dict[str, Any], text: str) -> None:
    config["connectors"]["aws-ec2"]["launch-defaults"] = defaults
    with Call(config=config, home=tmp_path / "home") as policed:
        refused(policed, "create-instance", text,
                {"image-id": image_id, "instance-type": "t3.micro"})
    assert not ec2.describe_instances()["Reservations"]


def test_create_instance_without_wait_carries_its_tags(
        call: Call, image_id: str) -> None:
    created = run(call, "create-instance", image_id=image_id, instance_type="t2.micro",
                  tags={"Name": "db"})
    assert created.exitcode == 0, created.message
    assert created.get("instance-info")[0]["tags"]["Name"] == "db"


def test_after_a_wait_current_state_is_the_state_reached(
        call: Call, ec2: Any, image_id: str) -> None:
    [instance_id] = launch(ec2, image_id)
    stopped = run(call, "stop-instances", instance_id=[instance_id], wait=True,
                  wait_interval=100)
    assert stopped.exitcode == 0, stopped.message
    [item] = stopped.get("stop-instance-list")
    assert item["current-state"] == "stopped" and item["previous-state"] == "running"
    vpc = run(call, "create-vpc", cidr_block="10.9.0.0/16", wait=True, wait_interval=100)
    assert vpc.get("current-state") == vpc.get("state") == "available"


def test_subnet_ipv6_blocks_are_added_and_removed(call: Call, ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0][
        "Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24")["Subnet"]
    # The VPC's /56 as the endpoint spells it (maybe "0a3f"); compared as networks below.
    wanted = str(next(ipaddress.ip_network(block).subnets(new_prefix=64)))
    added = run(call, "associate-subnet-ipv6-cidr-block", subnet_id=subnet["SubnetId"],
                ipv6_cidr_block=wanted)
    assert added.exitcode == 0, added.message
    held = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]
    assert [ipaddress.ip_network(a["Ipv6CidrBlock"]) for a in held[
        "Ipv6CidrBlockAssociationSet"]] == [ipaddress.ip_network(wanted)]
    assert added.get("association-id") == held["Ipv6CidrBlockAssociationSet"][0][
        "AssociationId"]
    removed = run(call, "disassociate-subnet-ipv6-cidr-block",
                  association_id=added.get("association-id"))
    assert removed.exitcode == 0, removed.message
    held = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]
    assert [a["Ipv6CidrBlockState"]["State"] for a in held.get(
        "Ipv6CidrBlockAssociationSet", [])] in ([], ["disassociated"])
    refused(call, "associate-subnet-ipv6-cidr-block", "must be an IPv6 network",
            {"subnet-id": subnet["SubnetId"], "ipv6-cidr-block": "10.0.2.0/24"})


def test_delete_tags_with_a_tag_value_removes_only_a_match(
        call: Call, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 2)
    ec2.create_tags(Resources=ids[:1], Tags=[{"Key": "env", "Value": "prod"}])
    ec2.create_tags(Resources=ids[1:], Tags=[{"Key": "env", "Value": "test"}])
    deleted = run(call, "delete-tags", resource_id=ids, tag_key="env", tag_value="test")
    assert deleted.exitcode == 0, deleted.message
    held = {t["ResourceId"]: t["Value"] for t in ec2.describe_tags()["Tags"]}
    assert held == {ids[0]: "prod"}
    refused(call, "delete-tags", "'tag-value' needs exactly one 'tag-key'",
            {"resource-id": ids, "tag-key": ["env", "team"], "tag-value": "prod"})
