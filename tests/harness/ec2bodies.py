"""EC2 answers for the parser tests: a scenario that makes moto answer every operation
the catalog calls, and random bodies generated from botocore's model (good and bad)."""

from __future__ import annotations

import base64
import ipaddress
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import botocore.session
import pytest

from tests.harness.calls import PUBLIC_KEY

EC2 = botocore.session.get_session().get_service_model("ec2")
NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/"


def scenario(ec2: Any, image_id: str) -> None:
    """One call (or more) of every operation the catalog uses, against moto."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    spare_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    cidr = ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="10.1.0.0/16")
    ec2.disassociate_vpc_cidr_block(AssociationId=cidr["CidrBlockAssociation"]["AssociationId"])
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    v6 = ec2.create_vpc(CidrBlock="10.8.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    v6_block = ec2.describe_vpcs(VpcIds=[v6["VpcId"]])["Vpcs"][0][
        "Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]
    v6_subnet = ec2.create_subnet(VpcId=v6["VpcId"], CidrBlock="10.8.1.0/24")["Subnet"]
    v6_added = ec2.associate_subnet_cidr_block(
        SubnetId=v6_subnet["SubnetId"],
        Ipv6CidrBlock=str(next(ipaddress.ip_network(v6_block).subnets(new_prefix=64))))
    ec2.disassociate_subnet_cidr_block(
        AssociationId=v6_added["Ipv6CidrBlockAssociation"]["AssociationId"])
    spare_subnet = ec2.create_subnet(VpcId=spare_vpc, CidrBlock="10.9.1.0/24")["Subnet"]
    ipv6 = ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
    block = ipv6["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"]  # a /56: its first /64
    added = ec2.associate_subnet_cidr_block(SubnetId=subnet,
                                            Ipv6CidrBlock=block.replace("/56", "/64"))
    ec2.disassociate_subnet_cidr_block(
        AssociationId=added["Ipv6CidrBlockAssociation"]["AssociationId"])
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    spare_group = ec2.create_security_group(GroupName="spare", Description="x",
                                            VpcId=spare_vpc)["GroupId"]
    for direction in ("ingress", "egress"):
        permissions = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                        "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}]
        getattr(ec2, f"authorize_security_group_{direction}")(
            GroupId=group, IpPermissions=permissions)
        getattr(ec2, f"revoke_security_group_{direction}")(
            GroupId=group, IpPermissions=permissions)
    ec2.create_key_pair(KeyName="made")
    ec2.import_key_pair(KeyName="mine", PublicKeyMaterial=PUBLIC_KEY)
    ec2.describe_key_pairs()
    ec2.delete_key_pair(KeyName="mine")
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=image_id, MinCount=3, MaxCount=3, InstanceType="t2.micro", SubnetId=subnet,
        KeyName="made", SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "Name", "Value": "a&b <c>"}]}])["Instances"]]
    ec2.create_tags(Resources=ids[:1], Tags=[{"Key": "team", "Value": "ops"}])
    ec2.describe_tags()
    ec2.delete_tags(Resources=ids[:1], Tags=[{"Key": "team"}])
    ec2.stop_instances(InstanceIds=ids[:1])
    ec2.start_instances(InstanceIds=ids[:1])
    ec2.reboot_instances(InstanceIds=ids[:1])
    ec2.modify_instance_attribute(InstanceId=ids[0], DisableApiTermination={"Value": False})
    ec2.get_console_output(InstanceId=ids[0])
    ec2.describe_instances()
    ec2.describe_instance_status(IncludeAllInstances=True)
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=ids[1], Device="/dev/sdf")
    ec2.describe_volumes()
    ec2.detach_volume(VolumeId=volume, InstanceId=ids[1], Device="/dev/sdf")
    ec2.modify_volume(VolumeId=volume, Size=2)
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    copied = ec2.copy_snapshot(SourceSnapshotId=snapshot, SourceRegion="us-east-1")
    ec2.describe_snapshots(OwnerIds=["self"])
    ec2.delete_snapshot(SnapshotId=copied["SnapshotId"])
    ec2.delete_volume(VolumeId=volume)
    image = ec2.create_image(InstanceId=ids[0], Name="img")["ImageId"]
    other = ec2.copy_image(Name="copy", SourceImageId=image, SourceRegion="us-east-1")
    ec2.describe_images(Owners=["self"])
    ec2.describe_images(ImageIds=[image_id])
    ec2.deregister_image(ImageId=other["ImageId"])
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    association = ec2.associate_address(AllocationId=allocation, InstanceId=ids[0])
    ec2.describe_addresses()
    ec2.disassociate_address(AssociationId=association["AssociationId"])
    ec2.release_address(AllocationId=allocation)
    ec2.create_launch_template(LaunchTemplateName="tpl", LaunchTemplateData={
        "ImageId": image_id, "InstanceType": "t2.micro"})
    ec2.describe_launch_templates()
    ec2.delete_launch_template(LaunchTemplateName="tpl")
    ec2.describe_availability_zones()
    ec2.describe_regions()
    ec2.describe_subnets()
    ec2.describe_vpcs()
    ec2.describe_security_groups()
    ec2.terminate_instances(InstanceIds=ids[2:])
    ec2.delete_security_group(GroupId=spare_group)
    ec2.delete_subnet(SubnetId=spare_subnet["SubnetId"])
    ec2.delete_vpc(VpcId=spare_vpc)
    with pytest.raises(ec2.exceptions.ClientError):  # an error body, parsed by both too
        ec2.stop_instances(InstanceIds=["i-0123456789abcdef0"])


def timestamp(rng: random.Random, bad: bool) -> str:
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**9))
    if bad and rng.random() < 0.5:
        return rng.choice([
            "", "soon", "2024-13-01T00:00:00Z", "2024-02-30T08:00:00.000Z", "1700000000",
            "2024-01-15T08:30:00+01:00", "2024-01-15 08:30:00", "2024-01-15T08:30:00",
            "Mon, 15 Jan 2024 08:30:00 GMT", "2024-01-15T08:30:00.1234567Z",
            "2024-01-15T24:00:00Z", "2024-01-15T08:30:00z",
            "\uff12\uff10\uff12\uff14-01-15T08:30:00Z"])
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(
        ["Z", ".000Z", f".{rng.randrange(10**6):06d}Z", f".{rng.randrange(10)}Z"])


def _scalar(kind: str, rng: random.Random, bad: bool) -> str:
    if bad and rng.random() < 0.3:
        return rng.choice(["", " 7 ", "x1", "1.5", "TRUE", "nan", "-", "1_000", "==", "é"])
    if kind == "timestamp":
        return timestamp(rng, bad)
    if kind == "boolean":
        return rng.choice(["true", "false"])
    if kind in ("integer", "long"):
        return str(rng.randrange(-(2**40), 2**40))
    if kind in ("float", "double"):
        return repr(rng.uniform(-1e6, 1e6))
    if kind == "blob":
        return base64.b64encode(rng.randbytes(rng.randrange(12))).decode()
    alphabet = "abcXYZ09 -_.:/<>&\"'éß☃"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))


class Bodies:
    """Random XML for a shape: members present or missing, in any order, sometimes
    repeated or unknown; values good, or (bad=True) wrong for their type."""

    def __init__(self, rng: random.Random, bad: bool) -> None:
        self.rng, self.bad = rng, bad

    def element(self, shape: Any, tag: str, depth: int) -> str:
        kind = shape.type_name
        if kind == "structure":
            inner = self.members(shape, depth + 1) if depth < 6 else ""
        elif kind == "list":
            name = shape.member.serialization.get("name", "member")
            items = [self.element(shape.member, name, depth + 1)
                     for _ in range(self.rng.randrange(4 if depth < 6 else 1))]
            if shape.serialization.get("flattened"):
                return "".join(items)
            inner = "".join(items)
        elif kind == "map":
            inner = "".join(
                f"<entry>{self.element(shape.key, 'key', depth + 1)}"
                f"{self.element(shape.value, 'value', depth + 1)}</entry>"
                for _ in range(self.rng.randrange(3)))
        else:
            inner = escape(_scalar(kind, self.rng, self.bad))
        return f"<{tag}>{inner}</{tag}>" if inner or self.rng.random() < 0.5 else f"<{tag}/>"

    def members(self, shape: Any, depth: int) -> str:
        parts = []
        for name, member in shape.members.items():
            if self.rng.random() < 0.25:
                continue
            tag = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                tag = member.member.serialization.get("name", tag)
            repeats = 2 if self.bad and self.rng.random() < 0.05 else 1
            parts += [self.element(member, tag, depth) for _ in range(repeats)]
        if self.rng.random() < 0.1:
            parts.append("<unmodelled><item>1</item></unmodelled>")
        self.rng.shuffle(parts)
        return "".join(parts)

    def body(self, shape: Any, operation: str) -> bytes:
        xmlns = f' xmlns="{NAMESPACE}"' if self.rng.random() < 0.8 else ""
        request_id = "<requestId>req-1</requestId>" if self.rng.random() < 0.9 else ""
        text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{operation}Response{xmlns}>'
                f"{request_id}{self.members(shape, 0)}</{operation}Response>")
        data = text.encode()
        if self.bad and self.rng.random() < 0.15:
            data = data[: self.rng.randrange(len(data))]  # truncated
        elif self.bad and self.rng.random() < 0.05:
            data = self.rng.randbytes(40) + data  # garbage
        return data
