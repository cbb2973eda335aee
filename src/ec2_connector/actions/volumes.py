"""EBS volume actions: create, attach, detach, describe, list, modify, delete."""

from __future__ import annotations

from typing import Any

from ..errors import ServiceError
from ..spec.action import Action, Rerun
from ..spec.fields import TAGS, Field, Fields
from ..spec.params import Boolean, Choice, Group, Integer, Param, String
from ..transport.context import Context
from .shapes import (
    CLIENT_TOKEN,
    FILTERS,
    TAGS_PARAM,
    example_id,
    id_param,
    listing,
    tags_in,
)
from .waits import wait_for, wait_params

VOL = example_id("volume")
ATTACHMENT_FIELDS: Fields = {
    "instance-id": "InstanceId",
    "device-name": "Device",
    "state": "State",
    "attach-time": "AttachTime",
    "delete-on-termination": "DeleteOnTermination",
}
VOLUME_FIELDS: Fields = {
    "volume-id": "VolumeId",
    "state": "State",
    "size": "Size",
    "volume-type": "VolumeType",
    "availability-zone": "AvailabilityZone",
    "create-time": "CreateTime",
    "snapshot-id": "SnapshotId",
    "encrypted": "Encrypted",
    "iops": "Iops",
    "throughput": "Throughput",
    "attachments": Field("Attachments", each=ATTACHMENT_FIELDS),
    "tags": TAGS,
}
VOLUME_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1", "standard")
VOLUME_ID = id_param("volume", "the volume")
SIZE = Param("size", Integer(1, 65536), "size in GiB", aliases=("volume-size",))
VOLUME_TYPE = Param("volume-type", Choice(*VOLUME_TYPES), "EBS volume type (default gp2)")
IOPS = Param("iops", Integer(100, 256000), "provisioned IOPS (io1, io2, gp3)")
THROUGHPUT = Param("throughput", Integer(125, 2000), "throughput in MiB/s (gp3)")
KIND_INPUTS = {"size": "Size", "volume-type": "VolumeType", "iops": "Iops",
               "throughput": "Throughput"}


def detach_volume(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    """EC2 wants the instance and device of the attachment; the caller names the volume."""
    volume_id = p["volume-id"]
    described = ctx.call("DescribeVolumes", VolumeIds=[volume_id])
    attachments = [a for v in described.get("Volumes", []) for a in v.get("Attachments", [])]
    if not attachments:
        raise ServiceError(f"IncorrectState: volume {volume_id} is not attached",
                           code="IncorrectState")
    attachment = attachments[0]
    args: dict[str, Any] = {
        "VolumeId": volume_id,
        "InstanceId": attachment["InstanceId"],
        "Device": attachment["Device"],
    }
    if p.get("force-detach-volume"):
        args["Force"] = True
    if p.get("dry-run"):
        args["DryRun"] = True
    result = ctx.call("DetachVolume", **args)
    data: dict[str, Any] = {
        "volume-id": volume_id,
        "instance-id": result.get("InstanceId"),
        "device-name": result.get("Device"),
        "attachment-state": result.get("State"),
    }
    do_wait, interval = wait_params(p)
    if do_wait:
        data["last-states"] = wait_for(ctx, "volume", [volume_id], "available", interval)
    return data


ACTIONS = (
    Action(
        name="create-volume",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Create an EBS volume in an availability zone, empty or from a snapshot.",
        operation="CreateVolume",
        resource="volume",
        until="available",
        params=(
            Param("availability-zone", String(), "zone to create it in, e.g. us-east-1a",
                  required=True),
            SIZE, VOLUME_TYPE, IOPS, THROUGHPUT,
            id_param("snapshot", "snapshot to create it from", required=False),
            Param("encrypted", Boolean(), "encrypt the volume"),
            Param("kms-key-id", String(), "KMS key for encryption (default: EBS's key)"),
            TAGS_PARAM, CLIENT_TOKEN,
        ),
        groups=(Group(("size", "snapshot-id"), exactly_one=False),),
        inputs={"availability-zone": "AvailabilityZone", **KIND_INPUTS,
                "snapshot-id": "SnapshotId", "encrypted": "Encrypted",
                "kms-key-id": "KmsKeyId", "tags": tags_in("volume"),
                "client-token": "ClientToken"},
        result="volume-details",
        item="@",
        fields=VOLUME_FIELDS,
        example={"availability-zone": "us-east-1a", "size": 8, "volume-type": "gp3"},
    ),
    Action(
        name="attach-volume",
        rerun=Rerun.CONVERGES,
        doc="Attach a volume to an instance as a device.",
        operation="AttachVolume",
        resource="volume",
        until="in-use",
        params=(
            VOLUME_ID,
            id_param("instance", "the instance to attach it to"),
            Param("device-name", String(r"/dev/[a-z0-9]+|xvd[a-z]+", "/dev/sdf"),
                  "device name, e.g. /dev/sdf", required=True),
        ),
        inputs={"volume-id": "VolumeId", "instance-id": "InstanceId",
                "device-name": "Device"},
        fields={"volume-id": "VolumeId", "instance-id": "InstanceId", "device-name": "Device",
                "attachment-state": "State"},
        result="volume-id",
        example={"volume-id": VOL, "instance-id": "i-0123456789abcdef0",
                 "device-name": "/dev/sdf"},
    ),
    Action(
        name="detach-volume",
        rerun=Rerun.CONVERGES,
        doc="Detach a volume from the instance it is attached to (found for you).",
        run=detach_volume,
        operation="DetachVolume",
        operations=("DescribeVolumes",),
        resource="volume",
        waits=True,
        params=(VOLUME_ID, Param("force-detach-volume", Boolean(),
                                 "force it (the instance may lose data)", default=False)),
        result="volume-id",
        example={"volume-id": VOL},
    ),
    listing("volume", VOLUME_FIELDS, "volume-details",
            "Describe volumes by id, by filters, or all; follows every page.",
            name="describe-volume", aliases=("describe-volumes",),
            example={"volume-id": [VOL]}),
    listing("volume", VOLUME_FIELDS, "volume-list",
            "List every volume in the region (optionally filtered).",
            name="list-volumes", params=(FILTERS,),
            example={"filters": {"status": "available"}}),
    Action(
        name="modify-volume",
        rerun=Rerun.CONVERGES,
        doc="Change a volume's size, type, IOPS or throughput (while in use).",
        operation="ModifyVolume",
        resource="volume",
        params=(VOLUME_ID, SIZE, VOLUME_TYPE, IOPS, THROUGHPUT),
        groups=(Group(tuple(KIND_INPUTS), exactly_one=False),),
        inputs={"volume-id": "VolumeId", **KIND_INPUTS},
        result="volume-modification",
        item="VolumeModification",
        fields={
            "volume-id": "VolumeId",
            "modification-state": "ModificationState",
            "target-size": "TargetSize",
            "target-volume-type": "TargetVolumeType",
            "target-iops": "TargetIops",
            "original-size": "OriginalSize",
            "original-volume-type": "OriginalVolumeType",
            "start-time": "StartTime",
        },
        example={"volume-id": VOL, "size": 16},
    ),
    Action(
        name="delete-volume",
        rerun=Rerun.CONVERGES,
        doc="Delete a volume (it must not be attached).",
        operation="DeleteVolume",
        resource="volume",
        until="deleted",
        params=(VOLUME_ID,),
        inputs={"volume-id": "VolumeId"},
        echo=("volume-id",),
        derive=lambda p: {"deleted": True},
        example={"volume-id": VOL},
    ),
)
