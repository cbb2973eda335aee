"""EBS snapshot actions: take (create), describe, copy, delete."""

from __future__ import annotations

from typing import Any

from ..spec.action import Action, Rerun
from ..spec.fields import TAGS, Fields
from ..spec.params import Boolean, Param, String, StringList
from .shapes import FILTERS, TAGS_PARAM, example_id, id_param, ids_param, listing, tags_in

SNAP = example_id("snapshot")
SNAPSHOT_FIELDS: Fields = {
    "snapshot-id": "SnapshotId",
    "volume-id": "VolumeId",
    "state": "State",
    "progress": "Progress",
    "start-time": "StartTime",
    "volume-size": "VolumeSize",
    "description": "Description",
    "owner-id": "OwnerId",
    "encrypted": "Encrypted",
    "tags": TAGS,
}
DESCRIPTION = Param("description", String(), "a description")


def _owners(p: dict[str, Any]) -> dict[str, Any]:
    # Never every public snapshot of every account: without ids, only the caller's own.
    owners = p.get("owner") or (None if p.get("snapshot-id") else ["self"])
    return {"OwnerIds": owners} if owners else {}


ACTIONS = (
    Action(
        name="take-snapshot-of-volume",
        rerun=Rerun.FOUND_BY_TOKEN,
        aliases=("create-snapshot",),
        doc="Take a snapshot of a volume.",
        operation="CreateSnapshot",
        resource="snapshot",
        until="completed",
        params=(id_param("volume", "the volume to snapshot"), DESCRIPTION, TAGS_PARAM),
        inputs={"volume-id": "VolumeId", "description": "Description",
                "tags": tags_in("snapshot")},
        result="snapshot-details",
        item="@",
        fields=SNAPSHOT_FIELDS,
        example={"volume-id": example_id("volume"), "description": "nightly"},
    ),
    listing("snapshot", SNAPSHOT_FIELDS, "snapshot-list",
            "Describe snapshots by id or filters; without ids, only your own (owner: self).",
            name="describe-snapshots",
            params=(ids_param("snapshot", "snapshot ids"),
                    Param("owner", StringList(), "owner account ids, or self / amazon "
                          "(default self, unless snapshot ids are given)"),
                    FILTERS),
            build=_owners,
            example={"snapshot-id": [SNAP]}),
    Action(
        name="copy-snapshot",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Copy a snapshot, within the region or from another one.",
        operation="CopySnapshot",
        resource="snapshot",
        until="completed",
        params=(
            id_param("snapshot", "the snapshot to copy", name="source-snapshot-id"),
            Param("source-region", String(), "region of the source (default: this one)"),
            DESCRIPTION,
            Param("encrypted", Boolean(), "encrypt the copy"),
            Param("kms-key-id", String(), "KMS key for encryption"),
            TAGS_PARAM,
        ),
        inputs={"source-snapshot-id": "SourceSnapshotId", "description": "Description",
                "encrypted": "Encrypted", "kms-key-id": "KmsKeyId",
                "tags": tags_in("snapshot")},
        build=lambda p: {"SourceRegion": p.get("source-region") or p["region"]},
        result="snapshot-id",
        fields={"snapshot-id": "SnapshotId"},
        example={"source-snapshot-id": SNAP},
    ),
    Action(
        name="delete-snapshot",
        rerun=Rerun.CONVERGES,
        doc="Delete a snapshot.",
        operation="DeleteSnapshot",
        resource="snapshot",
        params=(id_param("snapshot", "the snapshot"),),
        inputs={"snapshot-id": "SnapshotId"},
        echo=("snapshot-id",),
        derive=lambda p: {"deleted": True},
        example={"snapshot-id": SNAP},
    ),
)
