"""Tag actions: create, delete and describe resource tags."""

from __future__ import annotations

from typing import Any

from ..action import Action
from ..errors import InvalidRequest
from ..params import RESOURCE_ID, Group, Mapping_, Param, String, StringList
from .shapes import tag_list

RESOURCE_IDS = Param(
    "resource-id", StringList(RESOURCE_ID), "one or more resource ids", required=True
)
ID = "i-0123456789abcdef0"


def _tag_value_needs_key(p: dict[str, Any]) -> None:
    if "tag-value" in p and "tag-key" not in p:
        raise InvalidRequest("parameter 'tag-value' needs 'tag-key' (or give 'tags')")


def _tags_given(p: dict[str, Any]) -> dict[str, Any]:
    return {"tags": p.get("tags") or {p["tag-key"]: p.get("tag-value", "")}}


def _tags_to_delete(p: dict[str, Any]) -> dict[str, Any]:
    # A key alone deletes the tag whatever its value; a key with a value only on a match.
    if p.get("tags"):
        spec = [{"Key": k, **({"Value": v} if v is not None else {})} for k, v in p["tags"].items()]
    else:
        spec = [{"Key": k} for k in p["tag-key"]]
    return {"Tags": spec}


def _tag_filters(p: dict[str, Any]) -> dict[str, Any]:
    filters = []
    if p.get("resource-id"):
        filters.append({"Name": "resource-id", "Values": p["resource-id"]})
    if p.get("resource-type"):
        filters.append({"Name": "resource-type", "Values": p["resource-type"]})
    for key in p.get("tag-key") or []:
        filters.append({"Name": "key", "Values": [key]})
    return {"Filters": filters} if filters else {}


ACTIONS = (
    Action(
        name="create-tags",
        doc="Add or overwrite tags on one or more resources.",
        operation="CreateTags",
        params=(
            RESOURCE_IDS,
            Param("tag-key", String(), "key of a single tag"),
            Param("tag-value", String(), "value of that tag (default empty)"),
            Param("tags", Mapping_(), "several tags: key -> value"),
        ),
        groups=(Group(("tag-key", "tags")),),
        check=_tag_value_needs_key,
        inputs={"resource-id": "Resources"},
        build=lambda p: {"Tags": tag_list(_tags_given(p)["tags"])},
        echo=("resource-id",),
        derive=_tags_given,
        example={"resource-id": ID, "tag-key": "env", "tag-value": "prod"},
    ),
    Action(
        name="delete-tags",
        doc="Remove tags from one or more resources (never all tags implicitly).",
        operation="DeleteTags",
        params=(
            RESOURCE_IDS,
            Param("tag-key", StringList(), "keys to remove, whatever their values"),
            Param("tags", Mapping_("string-or-null"), "key -> value to remove on a match"),
        ),
        groups=(Group(("tag-key", "tags")),),
        inputs={"resource-id": "Resources"},
        build=_tags_to_delete,
        echo=("resource-id",),
        derive=lambda p: {"deleted-keys": [t["Key"] for t in _tags_to_delete(p)["Tags"]]},
        example={"resource-id": ID, "tag-key": "env"},
    ),
    Action(
        name="describe-tags",
        doc="Describe tags, by resource, resource type or key; follows every page.",
        operation="DescribeTags",
        mutating=False,
        params=(
            Param("resource-id", StringList(RESOURCE_ID), "resource ids"),
            Param("resource-type", StringList(), "resource types, e.g. instance"),
            Param("tag-key", StringList(), "tag keys"),
        ),
        build=_tag_filters,
        result="tag-set",
        items="Tags",
        fields={"resource-id": "ResourceId", "resource-type": "ResourceType", "key": "Key",
                "value": "Value"},
        columns=("resource-id", "resource-type", "key", "value"),
        example={"resource-id": [ID]},
    ),
)
