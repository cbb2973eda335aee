"""VPC and subnet actions: create, describe, list, modify, CIDR blocks, delete."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..spec.action import Action, In, Rerun
from ..spec.fields import TAGS, Field, Fields
from ..spec.params import Boolean, Choice, Cidr, Group, Param, String
from .shapes import (
    FILTERS,
    TAGS_PARAM,
    example_id,
    filters_arg,
    id_param,
    listing,
    tag_specs,
    tags_in,
)

VPC = example_id("vpc")
SUBNET = example_id("subnet")
VPC_FIELDS: Fields = {
    "vpc-id": "VpcId",
    "cidr-block": "CidrBlock",
    "state": "State",
    "is-default": "IsDefault",
    "instance-tenancy": "InstanceTenancy",
    "dhcp-options-id": "DhcpOptionsId",
    "owner-id": "OwnerId",
    "cidr-block-associations": Field("CidrBlockAssociationSet", each={
        "association-id": "AssociationId", "cidr-block": "CidrBlock",
        "state": "CidrBlockState.State"}),
    "ipv6-cidr-block-associations": Field("Ipv6CidrBlockAssociationSet", each={
        "association-id": "AssociationId", "ipv6-cidr-block": "Ipv6CidrBlock",
        "state": "Ipv6CidrBlockState.State"}),
    "tags": TAGS,
}
SUBNET_FIELDS: Fields = {
    "subnet-id": "SubnetId",
    "vpc-id": "VpcId",
    "cidr-block": "CidrBlock",
    "availability-zone": "AvailabilityZone",
    "available-ip-address-count": "AvailableIpAddressCount",
    "state": "State",
    "default-for-az": "DefaultForAz",
    "map-public-ip-on-launch": "MapPublicIpOnLaunch",
    "tags": TAGS,
}
VPC_ID = id_param("vpc", "the VPC")
CIDR = Param("cidr-block", Cidr(), "IPv4 network, e.g. 10.0.0.0/16")
ASSOCIATION = Param("association-id", String(r"vpc-cidr-assoc-[0-9a-f]{8}(?:[0-9a-f]{9})?",
                                             "vpc-cidr-assoc-0123456789abcdef0"),
                    "the CIDR block association", required=True)
ASSOCIATION_FIELDS: Fields = {
    "vpc-id": "VpcId",
    "association-id": "CidrBlockAssociation.AssociationId || "
                      "Ipv6CidrBlockAssociation.AssociationId",
    "cidr-block": "CidrBlockAssociation.CidrBlock || Ipv6CidrBlockAssociation.Ipv6CidrBlock",
    "state": "CidrBlockAssociation.CidrBlockState.State || "
             "Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State",
}


def _subnet_filters(p: dict[str, Any]) -> dict[str, Any]:
    filters = dict(p.get("filters") or {})
    if p.get("vpc-id"):
        filters["vpc-id"] = [p["vpc-id"]]
    return {"Filters": filters_arg(filters)} if filters else {}


class _Ipv6Cidr(Cidr):
    """An IPv6 network in CIDR notation (a subnet's takes a /64 of its VPC's block)."""

    def convert(self, value: Any, param: str) -> str:
        text = super().convert(value, param)
        if ":" not in text:
            raise InvalidRequest(f"parameter '{param}' must be an IPv6 network, like "
                                 "2001:db8:1234:1a00::/64")
        return text


SUBNET_ASSOCIATION_FIELDS: Fields = {
    "subnet-id": "SubnetId",
    "association-id": "Ipv6CidrBlockAssociation.AssociationId",
    "ipv6-cidr-block": "Ipv6CidrBlockAssociation.Ipv6CidrBlock",
    "state": "Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State",
}


def _name_tag(p: dict[str, Any]) -> dict[str, Any]:
    """Flint's `name`: the Name tag, applied with any other tags at creation."""
    if "name" not in p:
        return {}
    return {"TagSpecifications": tag_specs("vpc", {"Name": p["name"], **p.get("tags", {})})}


def _flag(member: str) -> In:
    return In(f"{member}.Value")


ACTIONS = (
    Action(
        name="create-vpc",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Create a VPC with an IPv4 network (and optionally an Amazon IPv6 block).",
        operation="CreateVpc",
        resource="vpc",
        until="available",
        params=(
            Param("cidr-block", Cidr(), "IPv4 network, e.g. 10.0.0.0/16", required=True),
            Param("instance-tenancy", Choice("default", "dedicated"), "instance tenancy",
                  aliases=("tenancy",)),
            Param("name", String(), "a Name tag (with any other tags)"),
            Param("amazon-provided-ipv6-cidr-block", Boolean(), "also get an IPv6 /56"),
            TAGS_PARAM,
        ),
        inputs={"cidr-block": "CidrBlock", "instance-tenancy": "InstanceTenancy",
                "amazon-provided-ipv6-cidr-block": "AmazonProvidedIpv6CidrBlock",
                "tags": tags_in("vpc")},
        build=_name_tag,
        result="vpc-id",
        fields={"vpc-id": "Vpc.VpcId", "cidr-block": "Vpc.CidrBlock", "state": "Vpc.State"},
        example={"cidr-block": "10.0.0.0/16"},
    ),
    listing("vpc", VPC_FIELDS, "vpc-info", "Describe VPCs by id or filters, or all.",
            name="describe-vpc", aliases=("describe-vpcs",), example={"vpc-id": [VPC]}),
    listing("vpc", VPC_FIELDS, "vpc-list", "List every VPC in the region (optionally "
            "filtered).", name="list-vpcs", params=(FILTERS,),
            example={"filters": {"is-default": "true"}}),
    Action(
        name="modify-vpc-attribute",
        rerun=Rerun.CONVERGES,
        doc="Turn a VPC's DNS support or DNS host names on or off (one per call, as EC2 "
            "takes them).",
        operation="ModifyVpcAttribute",
        resource="vpc",
        dry_run=False,
        params=(VPC_ID,
                Param("enable-dns-support", Boolean(), "resolve names through Amazon DNS",
                      aliases=("is-enable-dns-support",)),
                Param("enable-dns-hostnames", Boolean(), "give instances DNS host names",
                      aliases=("is-enable-dns-host-names",))),
        groups=(Group(("enable-dns-support", "enable-dns-hostnames")),),
        inputs={"vpc-id": "VpcId", "enable-dns-support": _flag("EnableDnsSupport"),
                "enable-dns-hostnames": _flag("EnableDnsHostnames")},
        echo=("vpc-id", "enable-dns-support", "enable-dns-hostnames"),
        derive=lambda p: {"modified": True},
        example={"vpc-id": VPC, "enable-dns-hostnames": True},
    ),
    Action(
        name="associate-vpc-cidr-block",
        rerun=Rerun.MANUAL,
        doc="Add an IPv4 network, or an Amazon IPv6 block, to a VPC.",
        operation="AssociateVpcCidrBlock",
        resource="vpc",
        dry_run=False,
        params=(VPC_ID, CIDR, Param("amazon-provided-ipv6-cidr-block", Boolean(),
                                    "an Amazon IPv6 /56")),
        groups=(Group(("cidr-block", "amazon-provided-ipv6-cidr-block")),),
        inputs={"vpc-id": "VpcId", "cidr-block": "CidrBlock",
                "amazon-provided-ipv6-cidr-block": "AmazonProvidedIpv6CidrBlock"},
        result="association-id",
        fields=ASSOCIATION_FIELDS,
        example={"vpc-id": VPC, "cidr-block": "10.1.0.0/16"},
    ),
    Action(
        name="disassociate-vpc-cidr-block",
        rerun=Rerun.CONVERGES,
        doc="Remove a network added to a VPC (not its first one).",
        operation="DisassociateVpcCidrBlock",
        resource="vpc",
        dry_run=False,
        params=(ASSOCIATION,),
        inputs={"association-id": "AssociationId"},
        result="association-id",
        fields=ASSOCIATION_FIELDS,
        example={"association-id": "vpc-cidr-assoc-0123456789abcdef0"},
    ),
    Action(
        name="delete-vpc",
        rerun=Rerun.CONVERGES,
        doc="Delete a VPC (its subnets, gateways and groups first).",
        operation="DeleteVpc",
        resource="vpc",
        params=(VPC_ID,),
        inputs={"vpc-id": "VpcId"},
        echo=("vpc-id",),
        derive=lambda p: {"deleted": True},
        example={"vpc-id": VPC},
    ),
    Action(
        name="create-subnet",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Create a subnet of a VPC in an availability zone.",
        operation="CreateSubnet",
        resource="subnet",
        until="available",
        params=(VPC_ID, Param("cidr-block", Cidr(), "IPv4 network inside the VPC's",
                              required=True),
                Param("availability-zone", String(), "zone, e.g. us-east-1a (default: any)"),
                TAGS_PARAM),
        inputs={"vpc-id": "VpcId", "cidr-block": "CidrBlock",
                "availability-zone": "AvailabilityZone", "tags": tags_in("subnet")},
        result="subnet-id",
        fields={"subnet-id": "Subnet.SubnetId", "vpc-id": "Subnet.VpcId",
                "cidr-block": "Subnet.CidrBlock",
                "availability-zone": "Subnet.AvailabilityZone"},
        example={"vpc-id": VPC, "cidr-block": "10.0.1.0/24"},
    ),
    listing("subnet", SUBNET_FIELDS, "subnet-details", "Describe subnets by id or filters.",
            name="describe-subnet", aliases=("describe-subnets",),
            example={"subnet-id": [SUBNET]}),
    listing("subnet", SUBNET_FIELDS, "subnet-list",
            "List subnets, of one VPC or all (optionally filtered).",
            name="list-subnets", aliases=("list-vpc-subnet",),
            params=(id_param("vpc", "only this VPC's subnets", required=False), FILTERS),
            inputs={}, build=_subnet_filters, example={"vpc-id": VPC}),
    Action(
        name="associate-subnet-ipv6-cidr-block",
        doc="Give a subnet an IPv6 network (a /64 of its VPC's IPv6 block).",
        operation="AssociateSubnetCidrBlock",
        resource="subnet",
        dry_run=False,
        # The block is named: a second run finds it associated and changes nothing.
        rerun=Rerun.CONVERGES,
        params=(id_param("subnet", "the subnet"),
                Param("ipv6-cidr-block", _Ipv6Cidr(), "IPv6 /64 inside the VPC's block",
                      required=True)),
        inputs={"subnet-id": "SubnetId", "ipv6-cidr-block": "Ipv6CidrBlock"},
        result="association-id",
        fields=SUBNET_ASSOCIATION_FIELDS,
        example={"subnet-id": SUBNET, "ipv6-cidr-block": "2001:db8:1234:1a00::/64"},
    ),
    Action(
        name="disassociate-subnet-ipv6-cidr-block",
        doc="Remove a subnet's IPv6 network.",
        operation="DisassociateSubnetCidrBlock",
        resource="subnet",
        dry_run=False,
        rerun=Rerun.CONVERGES,
        params=(Param("association-id", String(
            r"subnet-cidr-assoc-[0-9a-f]{8}(?:[0-9a-f]{9})?",
            "subnet-cidr-assoc-0123456789abcdef0"), "the IPv6 block's association",
            required=True),),
        inputs={"association-id": "AssociationId"},
        result="association-id",
        fields=SUBNET_ASSOCIATION_FIELDS,
        example={"association-id": "subnet-cidr-assoc-0123456789abcdef0"},
    ),
    Action(
        name="delete-subnet",
        rerun=Rerun.CONVERGES,
        doc="Delete a subnet (nothing may run in it).",
        operation="DeleteSubnet",
        resource="subnet",
        params=(id_param("subnet", "the subnet"),),
        inputs={"subnet-id": "SubnetId"},
        echo=("subnet-id",),
        derive=lambda p: {"deleted": True},
        example={"subnet-id": SUBNET},
    ),
)
