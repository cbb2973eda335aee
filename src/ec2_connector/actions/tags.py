"""Tag actions: create, delete and describe resource tags."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..response import Outcome
from ..spec.action import Action, Rerun
from ..spec.params import RESOURCE_ID, Group, Param, String, StringList, Tags, Text
from ..transport.context import Context
from .shapes import tag_list

RESOURCE_IDS = Param(
    "resource-id", StringList(RESOURCE_ID), "one or more resource ids", required=True
)
ID = "i-0123456789abcdef0"


def _tag_value_needs_key(p: dict[str, Any]) -> None:
    if "tag-value" in p and "tag-key" not in p:
        raise InvalidRequest("parameter 'tag-value' needs 'tag-key' (or give 'tags')")
    if "tag-key" in p:  # the single tag within EC2's limits, as `tags` is
        Tags().convert({p["tag-key"]: p.get("tag-value", "")}, "tag-key")


def _tags_given(p: dict[str, Any]) -> dict[str, Any]:
    return {"tags": p.get("tags") or {p["tag-key"]: p.get("tag-value", "")}}


def _tags_to_delete(p: dict[str, Any]) -> dict[str, Any]:
    # A key alone deletes the tag whatever its value; a key with a value only on a match.
    if "tag-value" in p and "tag-key" not in p:
        raise InvalidRequest("parameter 'tag-value' needs 'tag-key' (or give 'tags')")
    if p.get("tags"):
        spec = [{"Key": k, **({"Value": v} if v is not None else {})} for k, v in p["tags"].items()]
    elif "tag-value" in p:  # Flint's single tag: removed only where it has this value
        if len(p["tag-key"]) != 1:
            raise InvalidRequest("parameter 'tag-value' needs exactly one 'tag-key'")
        spec = [{"Key": p["tag-key"][0], "Value": p["tag-value"]}]
    else:
        spec = [{"Key": k} for k in p["tag-key"]]
    return {"Tags": spec}


def delete_tags(ctx: Context, p: dict[str, Any]) -> dict[str, Any] | Outcome:
    """Delete, then report what is really gone: a key with a value deletes the tag only
    where the value matches, and a key that was not there deletes nothing."""
    resources = p["resource-id"]
    spec = _tags_to_delete(p)["Tags"]
    keys = sorted({t["Key"] for t in spec})
    before = _held(ctx, resources, keys)
    args: dict[str, Any] = {"Resources": resources, "Tags": spec}
    if p.get("dry-run"):
        args["DryRun"] = True
    ctx.call("DeleteTags", **args)
    after = _held(ctx, resources, keys)
    removed = {r: sorted(set(before.get(r, {})) - set(after.get(r, {}))) for r in resources}
    deleted = sorted({k for ks in removed.values() for k in ks})
    kept = [k for k in keys if k not in deleted]
    data: dict[str, Any] = {
        "resource-id": resources, "deleted-keys": deleted,
        "deleted": {r: ks for r, ks in removed.items() if ks}, "not-deleted-keys": kept,
    }
    if not deleted:
        return Outcome(data, "success: no tag matched; nothing was deleted")
    if kept:
        return Outcome(
            data, f"success: deleted {', '.join(deleted)}; no match for {', '.join(kept)}")
    return data


def _held(ctx: Context, resources: list[str], keys: list[str]) -> dict[str, dict[str, str]]:
    """resource -> {key: value} of the tags with `keys` on `resources`, as EC2 holds them."""
    filters = [{"Name": "resource-id", "Values": resources}, {"Name": "key", "Values": keys}]
    held: dict[str, dict[str, str]] = {}
    for page in ctx.pages("DescribeTags", Filters=filters, MaxResults=1000):
        for tag in page.get("Tags", []):
            held.setdefault(tag.get("ResourceId", ""), {})[tag.get("Key", "")] = tag.get(
                "Value", "")
    return held


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
        rerun=Rerun.CONVERGES,
        doc="Add or overwrite tags on one or more resources.",
        operation="CreateTags",
        params=(
            RESOURCE_IDS,
            Param("tag-key", String(), "key of a single tag"),
            Param("tag-value", String(), "value of that tag (default empty)"),
            Param("tags", Tags(), "several tags: key -> value"),
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
        rerun=Rerun.CONVERGES,
        doc="Remove tags from one or more resources (never all tags implicitly); reports "
        "the keys really removed, read back before and after.",
        run=delete_tags,
        operation="DeleteTags",
        operations=("DescribeTags",),
        params=(
            RESOURCE_IDS,
            Param("tag-key", StringList(), "keys to remove, whatever their values"),
            Param("tag-value", Text(max_bytes=Tags.MAX_VALUE),
                  "with one tag-key: remove it only where it has this value"),
            Param("tags", Tags("string-or-null"), "key -> value to remove on a match"),
        ),
        groups=(Group(("tag-key", "tags")),),
        check=_tags_to_delete,
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
        columns=("resource=resource-id", "type=resource-type", "key", "value"),
        example={"resource-id": [ID]},
    ),
)
