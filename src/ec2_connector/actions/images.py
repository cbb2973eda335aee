"""AMI actions: describe, list, create, copy, deregister."""

from __future__ import annotations

from typing import Any

from ..spec.action import Action, Rerun
from ..spec.fields import TAGS, Field, Fields
from ..spec.params import Boolean, Group, Param, String, StringList
from .shapes import (
    CLIENT_TOKEN,
    FILTERS,
    FILTERS_IN,
    TAGS_PARAM,
    example_id,
    id_param,
    ids_param,
    listing,
    tags_in,
)

AMI = example_id("image")
IMAGE_FIELDS: Fields = {
    "image-id": "ImageId",
    "name": "Name",
    "description": "Description",
    "state": "State",
    "architecture": "Architecture",
    "creation-date": "CreationDate",
    "owner-id": "OwnerId",
    "public": "Public",
    "platform": "PlatformDetails",
    "image-type": "ImageType",
    "hypervisor": "Hypervisor",
    "root-device-type": "RootDeviceType",
    "root-device-name": "RootDeviceName",
    "virtualization-type": "VirtualizationType",
    "block-device-mappings": Field("BlockDeviceMappings", each={
        "device-name": "DeviceName",
        "snapshot-id": "Ebs.SnapshotId",
        "volume-size": "Ebs.VolumeSize",
        "volume-type": "Ebs.VolumeType",
        "delete-on-termination": "Ebs.DeleteOnTermination",
    }),
    "tags": TAGS,
}
OWNERS = Param("owner", StringList(), "owner account ids, or self / amazon / aws-marketplace",
               aliases=("account-id", "owners"))
NAME = Param("name", String(r"[\w ()\[\]./\-'@]{3,128}", "web-2024-01-01"),
             "name of the new image (3-128 characters)", required=True)


def _own_images(p: dict[str, Any]) -> dict[str, Any]:
    # Never every public image: without ids, only the caller's own.
    return {"Owners": p.get("owner") or ["self"]}


ACTIONS = (
    listing("image", IMAGE_FIELDS, "image-info",
            "Describe images by id, owner or filters (at least one: never every public AMI).",
            name="describe-image", aliases=("describe-images",),
            params=(ids_param("image", "image ids"), OWNERS, FILTERS),
            inputs={"image-id": "ImageIds", "owner": "Owners", "filters": FILTERS_IN},
            groups=(Group(("image-id", "owner", "filters"), exactly_one=False),),
            example={"image-id": [AMI]}),
    listing("image", IMAGE_FIELDS, "image-list",
            "List images: your own unless owners are given (optionally filtered).",
            name="list-image",
            params=(OWNERS, FILTERS), build=_own_images,
            example={"owner": ["amazon"], "filters": {"architecture": "x86_64"}}),
    Action(
        name="create-image",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Create an AMI from an instance.",
        operation="CreateImage",
        resource="image",
        until="available",
        params=(
            id_param("instance", "the instance to image"), NAME,
            Param("description", String(), "a description"),
            Param("no-reboot", Boolean(), "do not reboot the instance first (default false)"),
            TAGS_PARAM,
        ),
        inputs={"instance-id": "InstanceId", "name": "Name", "description": "Description",
                "no-reboot": "NoReboot", "tags": tags_in("image")},
        result="image-id",
        fields={"image-id": "ImageId"},
        example={"instance-id": "i-0123456789abcdef0", "name": "web-2024-01-01"},
    ),
    Action(
        name="copy-image",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Copy an AMI, within the region or from another one.",
        operation="CopyImage",
        resource="image",
        until="available",
        params=(
            id_param("image", "the image to copy", name="source-image-id"), NAME,
            Param("source-region", String(), "region of the source (default: this one)"),
            Param("description", String(), "a description"),
            Param("encrypted", Boolean(), "encrypt the copy's snapshots"),
            Param("kms-key-id", String(), "KMS key for encryption"),
            TAGS_PARAM, CLIENT_TOKEN,
        ),
        inputs={"source-image-id": "SourceImageId", "name": "Name",
                "description": "Description", "encrypted": "Encrypted",
                "kms-key-id": "KmsKeyId", "tags": tags_in("image"),
                "client-token": "ClientToken"},
        build=lambda p: {"SourceRegion": p.get("source-region") or p["region"]},
        result="image-id",
        fields={"image-id": "ImageId"},
        example={"source-image-id": AMI, "name": "web-copy"},
    ),
    Action(
        name="deregister-image",
        rerun=Rerun.CONVERGES,
        doc="Deregister an AMI (its snapshots are kept).",
        operation="DeregisterImage",
        resource="image",
        params=(id_param("image", "the image"),),
        inputs={"image-id": "ImageId"},
        echo=("image-id",),
        derive=lambda p: {"deregistered": True},
        example={"image-id": AMI},
    ),
)
