"""VPC, subnet, region and zone actions against a real EC2-compatible endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.actions.tokens import own_tags
from tests.harness.calls import refused, run


def test_vpc_and_subnet_flow(call: Call, ec2: Any) -> None:
    created = run(call, "create-vpc", cidr_block="10.20.0.0/16", tags={"Name": "lab"},
                  wait=True, wait_interval=100)
    assert created.exitcode == 0, created.message
    vpc_id = created.get("vpc-id")
    held = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert held["CidrBlock"] == "10.20.0.0/16" and created.get("last-states") == {
        vpc_id: "available"}

    [info] = run(call, "describe-vpc", vpc_id=vpc_id).get("vpc-info")
    assert own_tags(info["tags"]) == {"Name": "lab"} and info["cidr-block"] == "10.20.0.0/16"
    assert vpc_id in {v["vpc-id"] for v in run(call, "list-vpcs").get("vpc-list")}

    modified = run(call, "modify-vpc-attribute", vpc_id=vpc_id, enable_dns_hostnames=True)
    assert modified.exitcode == 0, modified.message
    attribute = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
    assert attribute["EnableDnsHostnames"]["Value"] is True

    added = run(call, "associate-vpc-cidr-block", vpc_id=vpc_id, cidr_block="10.21.0.0/16")
    assert added.exitcode == 0, added.message
    association_id = added.get("association-id")
    blocks = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlockAssociationSet"]
    assert "10.21.0.0/16" in {b["CidrBlock"] for b in blocks}
    removed = run(call, "disassociate-vpc-cidr-block", association_id=association_id)
    assert removed.exitcode == 0 and removed.get("vpc-id") == vpc_id

    subnet = run(call, "create-subnet", vpc_id=vpc_id, cidr_block="10.20.1.0/24",
                 availability_zone="us-east-1b", wait=True, wait_interval=100)
    assert subnet.exitcode == 0, subnet.message
    subnet_id = subnet.get("subnet-id")
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"] == vpc_id
    [details] = run(call, "describe-subnet", subnet_id=subnet_id).get("subnet-details")
    assert details["availability-zone"] == "us-east-1b"
    listed = run(call, "list-vpc-subnet", vpc_id=vpc_id)
    assert [s["subnet-id"] for s in listed.get("subnet-list")] == [subnet_id]

    in_use = run(call, "delete-vpc", vpc_id=vpc_id)
    assert in_use.exitcode == 1 and "DependencyViolation" in in_use.message
    assert run(call, "delete-subnet", subnet_id=subnet_id).get("deleted") is True
    assert run(call, "delete-vpc", vpc_id=vpc_id).get("deleted") is True
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"] == []


@pytest.mark.parametrize(
    ("action", "params", "text"),
    [
        ("create-vpc", {}, "missing required parameter 'cidr-block'"),
        ("create-vpc", {"cidr-block": "10.0.0.0/33"}, "not a CIDR block"),
        ("create-subnet", {"vpc-id": "subnet-0123456789abcdef0", "cidr-block": "10.0.0.0/24"},
         "'vpc-id' is malformed"),
        ("modify-vpc-attribute", {"vpc-id": "vpc-0123456789abcdef0",
                                  "enable-dns-support": True, "enable-dns-hostnames": True},
         "give only one of"),
        ("modify-vpc-attribute", {"vpc-id": "vpc-0123456789abcdef0", "dry-run": True},
         "unknown parameter 'dry-run'"),
        ("get-regions", {"region-name": "mars"}, "'region-name' is malformed"),
    ],
)
def test_bad_vpc_input_sends_nothing(
    call: Call, ec2: Any, action: str, params: dict[str, Any], text: str
) -> None:
    before = len(ec2.describe_vpcs()["Vpcs"])
    refused(call, action, text, params)
    assert len(ec2.describe_vpcs()["Vpcs"]) == before


def test_regions_and_zones(call: Call, ec2: Any) -> None:
    regions = run(call, "get-regions")
    assert regions.exitcode == 0, regions.message
    items = regions.get("region")
    held = ec2.describe_regions()["Regions"]
    assert {r["region-name"] for r in items} == {r["RegionName"] for r in held}
    assert all(set(r) == {"region-name", "endpoint", "opt-in-status"} for r in items)
    alias = run(call, "describe-regions", region_name=["eu-west-1"])
    assert [r["region-name"] for r in alias.get("region")] == ["eu-west-1"]
    zones = run(call, "describe-availability-zones")
    names = {z["zone-name"] for z in zones.get("availability-zones")}
    assert names == {z["ZoneName"] for z in ec2.describe_availability_zones()[
        "AvailabilityZones"]}
    assert "us-east-1a" in names
