"""Tag actions: create, delete and describe resource tags."""

from __future__ import annotations

from typing import Any

from ..action import Action
from ..context import Context
from ..errors import InvalidRequest
from ..params import RESOURCE_ID, Group, Mapping_, Param, String, StringList

RESOURCE_IDS = Param(
    "resource-id", StringList(RESOURCE_ID), "one or more resource ids", required=True
)


def _tag_value_needs_key(p: dict[str, Any]) -> None:
    if "tag-value" in p and "tag-key" not in p:
        raise InvalidRequest("parameter 'tag-value' needs 'tag-key' (or give 'tags')")


def create_tags(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    tags = p.get("tags") or {p["tag-key"]: p.get("tag-value", "")}
    args: dict[str, Any] = {
        "Resources": p["resource-id"],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if p.get("dry-run"):
        args["DryRun"] = True
    ctx.call("CreateTags", **args)
    return {"resource-id": p["resource-id"], "tags": tags}


def delete_tags(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    # A key alone deletes the tag whatever its value; a key with a value only on a match.
    if p.get("tags"):
        spec = [{"Key": k, **({"Value": v} if v is not None else {})} for k, v in p["tags"].items()]
    else:
        spec = [{"Key": k} for k in p["tag-key"]]
    args: dict[str, Any] = {"Resources": p["resource-id"], "Tags": spec}
    if p.get("dry-run"):
        args["DryRun"] = True
    ctx.call("DeleteTags", **args)
    return {"resource-id": p["resource-id"], "deleted-keys": [t["Key"] for t in spec]}


def describe_tags(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    filters = []
    if p.get("resource-id"):
        filters.append({"Name": "resource-id", "Values": p["resource-id"]})
    if p.get("resource-type"):
        filters.append({"Name": "resource-type", "Values": p["resource-type"]})
    for key in p.get("tag-key") or []:
        filters.append({"Name": "key", "Values": [key]})
    args: dict[str, Any] = {"MaxResults": 1000}
    if filters:
        args["Filters"] = filters
    tag_set = [
        {
            "resource-id": t.get("ResourceId"),
            "resource-type": t.get("ResourceType"),
            "key": t.get("Key"),
            "value": t.get("Value"),
        }
        for page in ctx.pages("DescribeTags", **args)
        for t in page.get("Tags", [])
    ]
    return {"tag-set": tag_set}


ACTIONS = (
    Action(
        name="create-tags",
        doc="Add or overwrite tags on one or more resources.",
        run=create_tags,
        operations=("CreateTags",),
        params=(
            RESOURCE_IDS,
            Param("tag-key", String(), "key of a single tag"),
            Param("tag-value", String(), "value of that tag (default empty)"),
            Param("tags", Mapping_(), "several tags: key -> value"),
        ),
        groups=(Group(("tag-key", "tags")),),
        check=_tag_value_needs_key,
    ),
    Action(
        name="delete-tags",
        doc="Remove tags from one or more resources (never all tags implicitly).",
        run=delete_tags,
        operations=("DeleteTags",),
        params=(
            RESOURCE_IDS,
            Param("tag-key", StringList(), "keys to remove, whatever their values"),
            Param("tags", Mapping_("string-or-null"), "key -> value to remove on a match"),
        ),
        groups=(Group(("tag-key", "tags")),),
    ),
    Action(
        name="describe-tags",
        doc="Describe tags, by resource, resource type or key; follows every page.",
        run=describe_tags,
        operations=("DescribeTags",),
        result="tag-set",
        mutating=False,
        params=(
            Param("resource-id", StringList(RESOURCE_ID), "resource ids"),
            Param("resource-type", StringList(), "resource types, e.g. instance"),
            Param("tag-key", StringList(), "tag keys"),
        ),
    ),
)
