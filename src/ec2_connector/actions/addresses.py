"""Elastic IP actions: allocate, associate, disassociate, release, describe."""

from __future__ import annotations

from ..spec.action import Action, Rerun
from ..spec.fields import TAGS, Fields
from ..spec.params import Boolean, Group, Param, String, StringList
from .shapes import (
    FILTERS,
    FILTERS_IN,
    TAGS_PARAM,
    example_id,
    id_param,
    ids_param,
    listing,
    tags_in,
)

ALLOC = example_id("address")
IP = String(r"(?:\d{1,3}\.){3}\d{1,3}", "203.0.113.10")
ADDRESS_FIELDS: Fields = {
    "public-ip": "PublicIp",
    "allocation-id": "AllocationId",
    "association-id": "AssociationId",
    "instance-id": "InstanceId",
    "network-interface-id": "NetworkInterfaceId",
    "private-ip": "PrivateIpAddress",
    "domain": "Domain",
    "tags": TAGS,
}
PUBLIC_IP = Param("public-ip", IP, "the Elastic IP address")
ALLOCATION_ID = id_param("address", "the allocation id of the address", required=False)
ONE_ADDRESS = Group(("allocation-id", "public-ip"))

ACTIONS = (
    Action(
        name="allocate-address",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Allocate an Elastic IP address for use in a VPC.",
        operation="AllocateAddress",
        resource="address",
        params=(TAGS_PARAM,),
        inputs={"tags": tags_in("address")},  # an address's tag type is elastic-ip
        build=lambda p: {"Domain": "vpc"},
        result="allocation-id",
        fields={"public-ip": "PublicIp", "allocation-id": "AllocationId", "domain": "Domain"},
        example={"tags": {"Name": "web"}},
    ),
    Action(
        name="associate-address",
        rerun=Rerun.CONVERGES,
        doc="Associate an Elastic IP with an instance or a network interface.",
        operation="AssociateAddress",
        resource="address",
        params=(
            ALLOCATION_ID, PUBLIC_IP,
            id_param("instance", "the instance", required=False),
            Param("network-interface-id", String(r"eni-[0-9a-f]{8}(?:[0-9a-f]{9})?",
                                                 "eni-0123456789abcdef0"),
                  "the network interface"),
            Param("private-ip", IP, "private address on the interface to map it to"),
            Param("allow-reassociation", Boolean(), "move it if it is already associated"),
        ),
        groups=(ONE_ADDRESS, Group(("instance-id", "network-interface-id"))),
        inputs={"allocation-id": "AllocationId", "public-ip": "PublicIp",
                "instance-id": "InstanceId", "network-interface-id": "NetworkInterfaceId",
                "private-ip": "PrivateIpAddress", "allow-reassociation": "AllowReassociation"},
        result="association-id",
        fields={"association-id": "AssociationId"},
        example={"allocation-id": ALLOC, "instance-id": "i-0123456789abcdef0"},
    ),
    Action(
        name="disassociate-address",
        rerun=Rerun.CONVERGES,
        doc="Disassociate an Elastic IP from what it is associated with.",
        operation="DisassociateAddress",
        resource="address",
        params=(
            Param("association-id", String(r"eipassoc-[0-9a-f]{8}(?:[0-9a-f]{9})?",
                                           "eipassoc-0123456789abcdef0"), "the association"),
            PUBLIC_IP,
        ),
        groups=(Group(("association-id", "public-ip")),),
        inputs={"association-id": "AssociationId", "public-ip": "PublicIp"},
        echo=("association-id", "public-ip"),
        derive=lambda p: {"disassociated": True},
        example={"association-id": "eipassoc-0123456789abcdef0"},
    ),
    Action(
        name="release-address",
        rerun=Rerun.MANUAL,
        doc="Release an Elastic IP address (disassociate it first).",
        operation="ReleaseAddress",
        resource="address",
        params=(ALLOCATION_ID, PUBLIC_IP),
        groups=(ONE_ADDRESS,),
        inputs={"allocation-id": "AllocationId", "public-ip": "PublicIp"},
        echo=("allocation-id", "public-ip"),
        derive=lambda p: {"released": True},
        example={"allocation-id": ALLOC},
    ),
    listing("address", ADDRESS_FIELDS, "public-ips-set",
            "Describe Elastic IP addresses by allocation id, address or filters, or all.",
            name="describe-addresses",
            params=(ids_param("address", "allocation ids"),
                    Param("public-ip", StringList(IP), "addresses"), FILTERS),
            inputs={"allocation-id": "AllocationIds", "public-ip": "PublicIps",
                    "filters": FILTERS_IN},
            example={"allocation-id": [ALLOC]}),
)
