"""The EC2 resources the actions work on: each one's facts, stated once.

An action names its resource; its id parameter type, the error code meaning "it does
not exist", how to describe it, which waiter reaches which state, which table columns
show it, and whether its creation takes a client token all come from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from .params import GROUP_ID, INSTANCE_ID, String


def _hex_id(prefix: str) -> String:
    # Ids EC2 gives out: a prefix and 8 or 17 hex digits.
    return String(rf"{prefix}-[0-9a-f]{{8}}(?:[0-9a-f]{{9}})?", f"{prefix}-0123456789abcdef0")


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Resource(NamedTuple):
    """One kind of EC2 resource.

    `items` is where the described items sit in `describe`'s output (JMESPath),
    `selectors` the input members of `describe` naming items (the id list first; EC2
    refuses a page size next to them), `id_member` an item's id in the output.
    `waiters` maps a state to botocore's waiter reaching it. `columns` are what a table
    shows of an item, the id column first: `label=path` or a path (a result key, a dotted
    path such as `tags.Name`, or JMESPath); see table.py.

    A named tuple: as a dataclass it cost every command ~0.5 ms at import.
    """

    name: str
    id_param: str
    id_type: String
    id_member: str
    not_found: str | None
    describe: str
    items: str
    selectors: tuple[str, ...]
    columns: tuple[str, ...]
    tag_type: str | None = None
    client_token: bool = False
    owned: Mapping[str, Any] = _EMPTY  # describe only the account's
    waiters: Mapping[str, str] = _EMPTY

    @property
    def id_column(self) -> str:
        return self.columns[0].split("=", 1)[-1]  # a column is `label=path` or a path

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id-parameter": self.id_param,
            "not-found-code": self.not_found,
            "describe": self.describe,
            "id-column": self.id_column,
            "columns": list(self.columns),
            "waits-for": sorted(self.waiters),
            "client-token": self.client_token,
        }


_TABLE = (
    Resource(
        "instance", "instance-id", INSTANCE_ID, "InstanceId", "InvalidInstanceID.NotFound",
        "DescribeInstances", "Reservations[].Instances[]", ("InstanceIds",),
        ("id=instance-id", "name=tags.Name", "state=instance-state-name", "type=instance-type",
         "az=availability-zone", "private-ip", "public-ip", "launched=launch-time"),
        tag_type="instance", client_token=True,
        waiters={"running": "InstanceRunning", "stopped": "InstanceStopped",
                 "terminated": "InstanceTerminated"},
    ),
    Resource(
        "security-group", "group-id", GROUP_ID, "GroupId", "InvalidGroup.NotFound",
        "DescribeSecurityGroups", "SecurityGroups", ("GroupIds", "GroupNames"),
        ("id=group-id", "name=group-name", "vpc=vpc-id",
         'rules-in=length("ip-permissions")', 'rules-out=length("ip-permissions-egress")'),
        tag_type="security-group",
    ),
    Resource(
        "address", "allocation-id", _hex_id("eipalloc"), "AllocationId",
        "InvalidAllocationID.NotFound", "DescribeAddresses", "Addresses",
        ("AllocationIds", "PublicIps"),
        ("allocation-id", "public-ip", "instance-id", "association-id", "domain"),
        tag_type="elastic-ip",
    ),
    Resource(
        "volume", "volume-id", _hex_id("vol"), "VolumeId", "InvalidVolume.NotFound",
        "DescribeVolumes", "Volumes", ("VolumeIds",),
        ("volume-id", "state", "size", "volume-type", "availability-zone", "create-time"),
        tag_type="volume", client_token=True,
        waiters={"available": "VolumeAvailable", "in-use": "VolumeInUse",
                 "deleted": "VolumeDeleted"},
    ),
    Resource(
        "snapshot", "snapshot-id", _hex_id("snap"), "SnapshotId", "InvalidSnapshot.NotFound",
        "DescribeSnapshots", "Snapshots", ("SnapshotIds",),
        ("snapshot-id", "state", "volume-id", "volume-size", "start-time", "description"),
        tag_type="snapshot", owned={"OwnerIds": ["self"]},
        waiters={"completed": "SnapshotCompleted"},
    ),
    Resource(
        "image", "image-id", _hex_id("ami"), "ImageId", "InvalidAMIID.NotFound",
        "DescribeImages", "Images", ("ImageIds",),
        ("image-id", "name", "state", "architecture", "creation-date", "owner-id"),
        tag_type="image", owned={"Owners": ["self"]},
        waiters={"available": "ImageAvailable"},
    ),
    Resource(
        "key-pair", "key-name", String(r"[\x20-\x7e]{1,255}", "my-key"), "KeyName",
        "InvalidKeyPair.NotFound", "DescribeKeyPairs", "KeyPairs", ("KeyNames", "KeyPairIds"),
        ("key-name", "key-pair-id", "key-type", "key-fingerprint", "create-time"),
        tag_type="key-pair",
    ),
    Resource(
        "vpc", "vpc-id", _hex_id("vpc"), "VpcId", "InvalidVpcID.NotFound",
        "DescribeVpcs", "Vpcs", ("VpcIds",),
        ("vpc-id", "cidr-block", "state", "is-default", "instance-tenancy"),
        tag_type="vpc", waiters={"available": "VpcAvailable"},
    ),
    Resource(
        "subnet", "subnet-id", _hex_id("subnet"), "SubnetId", "InvalidSubnetID.NotFound",
        "DescribeSubnets", "Subnets", ("SubnetIds",),
        ("subnet-id", "vpc-id", "cidr-block", "availability-zone", "available-ip-address-count",
         "state"),
        tag_type="subnet", waiters={"available": "SubnetAvailable"},
    ),
    Resource(
        "launch-template", "launch-template-id", _hex_id("lt"), "LaunchTemplateId",
        "InvalidLaunchTemplateId.NotFound", "DescribeLaunchTemplates", "LaunchTemplates",
        ("LaunchTemplateIds", "LaunchTemplateNames"),
        ("launch-template-id", "launch-template-name", "default-version-number",
         "latest-version-number", "create-time"),
        tag_type="launch-template", client_token=True,
    ),
    Resource(
        "region", "region-name", String(r"[a-z]{2}(?:-[a-z]+)+-\d+", "eu-west-1"), "RegionName",
        None, "DescribeRegions", "Regions", ("RegionNames",),
        ("region-name", "opt-in-status", "endpoint"),
    ),
    Resource(
        "availability-zone", "zone-name", String(r"[a-z]{2}(?:-[a-z]+)+-\d+[a-z]+",
                                                 "us-east-1a"),
        "ZoneName", None, "DescribeAvailabilityZones", "AvailabilityZones",
        ("ZoneNames", "ZoneIds"),
        ("zone-name", "zone-id", "state", "region-name", "zone-type"),
    ),
)

RESOURCES: dict[str, Resource] = {r.name: r for r in _TABLE}


def resource(name: str) -> Resource:
    return RESOURCES[name]
