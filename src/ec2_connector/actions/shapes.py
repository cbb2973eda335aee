"""Response mappings: EC2's shapes to the hyphenated keys Flint's scripts read."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in item.get("Tags", []) or []}


def launch_info(i: dict[str, Any]) -> dict[str, Any]:
    """The `instance-info` item of create-instance."""
    return {
        "instance-id": i.get("InstanceId"),
        "instance-type": i.get("InstanceType"),
        "public-ip": i.get("PublicIpAddress"),
        "private-ip": i.get("PrivateIpAddress"),
        "image-id": i.get("ImageId"),
        "instance-state-name": (i.get("State") or {}).get("Name"),
        "availability-zone": (i.get("Placement") or {}).get("AvailabilityZone"),
        "launch-time": _iso(i.get("LaunchTime")),
        "subnet-id": i.get("SubnetId"),
        "vpc-id": i.get("VpcId"),
        "key-name": i.get("KeyName"),
    }


def instance_info(i: dict[str, Any]) -> dict[str, Any]:
    """The seed's 26 describe fields, spelled as the seed spells them, plus tags and groups."""
    state = i.get("State") or {}
    placement = i.get("Placement") or {}
    return {
        "image-id": i.get("ImageId"),
        "public-ip": i.get("PublicIpAddress"),
        "instance-type": i.get("InstanceType"),
        "key-name": i.get("KeyName"),
        "private-ip": i.get("PrivateIpAddress"),
        "hypervisor": i.get("Hypervisor"),
        "kernel-id": i.get("KernelId"),
        "instance-id": i.get("InstanceId"),
        "architecture": i.get("Architecture"),
        "client-token": i.get("ClientToken"),
        "instance-lifecycle": i.get("InstanceLifecycle"),
        "platform": i.get("Platform"),
        "instance-state-code": state.get("Code"),
        "instance-state-name": state.get("Name"),
        "ramdisk-id": i.get("RamdiskId"),
        "ebs-optimized": i.get("EbsOptimized"),
        "placement-tenancy": placement.get("Tenancy"),
        "placement-group-name": placement.get("GroupName"),
        "public-DNSname": i.get("PublicDnsName"),
        "root-device-name": i.get("RootDeviceName"),
        "root-device-type": i.get("RootDeviceType"),
        "launch-time": _iso(i.get("LaunchTime")),
        "subnet-id": i.get("SubnetId"),
        "virtualization-type": i.get("VirtualizationType"),
        "vpc-id": i.get("VpcId"),
        "ami-launch-index": i.get("AmiLaunchIndex"),
        "tags": tags_of(i),
        "security-groups": [
            {"group-id": g.get("GroupId"), "group-name": g.get("GroupName")}
            for g in i.get("SecurityGroups", []) or []
        ],
    }


def state_item(change: dict[str, Any]) -> dict[str, Any]:
    """An item of started-instances-set, stop-instance-list and terminated-instance-set."""
    return {
        "instance-id": change.get("InstanceId"),
        "current-state": (change.get("CurrentState") or {}).get("Name"),
        "previous-state": (change.get("PreviousState") or {}).get("Name"),
    }


def filters_arg(filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [{"Name": name, "Values": values} for name, values in filters.items()]


def tag_specs(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
    ]
