"""Result fields and input conversions shared by the action modules.

Fields map EC2's shapes to the hyphenated keys Flint's scripts read (see fields.py).
"""

from __future__ import annotations

from typing import Any

from ..spec.action import TOKEN_PARAM, In
from ..spec.fields import TAGS, Field, Fields
from ..spec.params import Mapping_, Param, StringList, Tags
from ..spec.resources import resource
from .tokens import RESERVED_TAGS

LAUNCH_FIELDS: Fields = {
    # The `instance-info` item of create-instance.
    "instance-id": "InstanceId",
    "instance-type": "InstanceType",
    "public-ip": "PublicIpAddress",
    "private-ip": "PrivateIpAddress",
    "image-id": "ImageId",
    "instance-state-name": "State.Name",
    "availability-zone": "Placement.AvailabilityZone",
    "launch-time": "LaunchTime",
    "subnet-id": "SubnetId",
    "vpc-id": "VpcId",
    "key-name": "KeyName",
    "tags": TAGS,  # those applied at launch: the table's Name column
}

INSTANCE_FIELDS: Fields = {
    # The seed's 26 describe fields, spelled as the seed spells them, plus tags and groups.
    "image-id": "ImageId",
    "public-ip": "PublicIpAddress",
    "instance-type": "InstanceType",
    "key-name": "KeyName",
    "private-ip": "PrivateIpAddress",
    "hypervisor": "Hypervisor",
    "kernel-id": "KernelId",
    "instance-id": "InstanceId",
    "architecture": "Architecture",
    "client-token": "ClientToken",
    "instance-lifecycle": "InstanceLifecycle",
    "platform": "Platform",
    "instance-state-code": "State.Code",
    "instance-state-name": "State.Name",
    "ramdisk-id": "RamdiskId",
    "ebs-optimized": "EbsOptimized",
    "placement-tenancy": "Placement.Tenancy",
    "placement-group-name": "Placement.GroupName",
    "public-DNSname": "PublicDnsName",
    "root-device-name": "RootDeviceName",
    "root-device-type": "RootDeviceType",
    "launch-time": "LaunchTime",
    "subnet-id": "SubnetId",
    "virtualization-type": "VirtualizationType",
    "vpc-id": "VpcId",
    "ami-launch-index": "AmiLaunchIndex",
    "availability-zone": "Placement.AvailabilityZone",  # for tables: where it runs
    "tags": TAGS,
    "security-groups": Field(
        "SecurityGroups", each={"group-id": "GroupId", "group-name": "GroupName"}
    ),
}

STATE_CHANGE_FIELDS: Fields = {
    # An item of started-instances-set, stop-instance-list and terminated-instance-set.
    "instance-id": "InstanceId",
    "current-state": "CurrentState.Name",
    "previous-state": "PreviousState.Name",
}


def filters_arg(filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [{"Name": name, "Values": values} for name, values in filters.items()]


FILTERS_IN = In("Filters", filters_arg)


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_specs(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tag_list(tags)}]


def tags_in(resource_name: str) -> In:
    """The `tags` parameter of a create: tags applied to the new resource at creation."""
    tag_type = resource(resource_name).tag_type
    assert tag_type is not None, f"{resource_name} takes no tags at creation"
    return In("TagSpecifications", lambda tags: tag_specs(tag_type, tags))


FILTERS = Param("filters", Mapping_("string-list"), "EC2 filters: name -> value or list")
# Two of EC2's 50 tags per resource carry the client token and the parameters' digest.
TAGS_PARAM = Param("tags", Tags(reserved=RESERVED_TAGS), "tags applied at creation: key -> value")
CLIENT_TOKEN = TOKEN_PARAM


def id_param(resource_name: str, doc: str, *, required: bool = True, name: str = "") -> Param:
    """The parameter naming one resource by id, typed by the resource table."""
    res = resource(resource_name)
    return Param(name or res.id_param, res.id_type, doc, required=required)


def ids_param(resource_name: str, doc: str, *, required: bool = False) -> Param:
    """The parameter naming several resources by id (none: all)."""
    res = resource(resource_name)
    return Param(res.id_param, StringList(res.id_type), doc, required=required)


def example_id(resource_name: str) -> str:
    return str(resource(resource_name).id_type.example)


def listing(resource_name: str, fields: Fields, result: str, doc: str, **more: Any) -> Any:
    """The declaration of a read-only listing of a resource: its describe operation,
    ids (a list, or none: all) and filters, every page, each item mapped by `fields`."""
    from ..spec.action import Action

    res = resource(resource_name)
    params = more.pop("params", (ids_param(resource_name, f"{res.name} ids (none: all)"),
                                 FILTERS))
    inputs = more.pop("inputs", {res.id_param: res.selectors[0], "filters": FILTERS_IN})
    inputs = {k: v for k, v in inputs.items() if k in {p.name for p in params}}
    return Action(
        doc=doc, operation=res.describe, resource=resource_name, mutating=False,
        params=params, inputs=inputs, result=result, items=res.items, fields=fields,
        **more,
    )
