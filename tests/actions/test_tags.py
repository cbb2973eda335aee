"""Tag actions against the endpoint, read back with plain boto3."""

from __future__ import annotations

from typing import Any

import pytest

from ec2_connector import Call
from tests.conftest import launch
from tests.harness.calls import run


def tags_of(ec2: Any, resource: str) -> dict[str, str]:
    found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource]}])["Tags"]
    return {t["Key"]: t["Value"] for t in found}


def test_create_describe_delete(call: Call, ec2: Any, image_id: str) -> None:
    a, b = launch(ec2, image_id, 2)
    one = run(call, "create-tags", resource_id=[a, b], tag_key="Name", tag_value="web")
    assert one.exitcode == 0, one.message
    many = run(call, "create-tags", resource_id=a, tags={"env": "prod", "team": "ops"})
    assert many.exitcode == 0
    assert tags_of(ec2, a) == {"Name": "web", "env": "prod", "team": "ops"}
    assert tags_of(ec2, b) == {"Name": "web"}

    described = run(call, "describe-tags", resource_id=a)
    tag_set = described.get("tag-set")
    assert {(t["key"], t["value"]) for t in tag_set} == {
        ("Name", "web"), ("env", "prod"), ("team", "ops")
    }
    assert all(t["resource-id"] == a and t["resource-type"] == "instance" for t in tag_set)
    by_type = run(call, "describe-tags", resource_type="instance")
    assert len(by_type.get("tag-set")) == 4

    by_key = run(call, "delete-tags", resource_id=a, tag_key="team")
    assert by_key.exitcode == 0
    on_match = run(call, "delete-tags", resource_id=a, tags={"env": "staging"})
    assert on_match.exitcode == 0
    assert tags_of(ec2, a) == {"Name": "web", "env": "prod"}  # value did not match
    run(call, "delete-tags", resource_id=a, tags={"env": "prod"})
    assert tags_of(ec2, a) == {"Name": "web"}


def test_bad_tag_requests_change_nothing(call: Call, ec2: Any, image_id: str) -> None:
    a = launch(ec2, image_id)[0]
    ec2.create_tags(Resources=[a], Tags=[{"Key": "keep", "Value": "me"}])
    for action, params, text in [
        ("create-tags", {"resource-id": a}, "one of 'tag-key' / 'tags' is required"),
        ("create-tags", {"tag-key": "x"}, "missing required parameter 'resource-id'"),
        ("create-tags", {"resource-id": "nope", "tag-key": "x"}, "'resource-id' is malformed"),
        ("create-tags", {"resource-id": a, "tags": "not json"}, "'tags' is not a valid JSON"),
        ("delete-tags", {"resource-id": a}, "one of 'tag-key' / 'tags' is required"),
        ("create-tags", {"resource-id": a, "tags": {"x": "y"}, "tag-value": "z"},
         "'tag-value' needs 'tag-key'"),
        ("delete-tags", {"resource-id": [], "tag-key": "keep"}, "'resource-id' must not be empty"),
    ]:
        response = run(call, action, **params)
        assert response.exitcode == 2, (action, params, response.message)
        assert text in response.message
    assert tags_of(ec2, a) == {"keep": "me"}


def test_create_tags_dry_run(call: Call, ec2: Any, image_id: str) -> None:
    a = launch(ec2, image_id)[0]
    response = run(call, "create-tags", resource_id=a, tag_key="x", dry_run="true")
    assert response.exitcode == 0 and "would have succeeded" in response.message
    assert tags_of(ec2, a) == {}


def test_delete_tags_reports_only_what_it_removed(
    call: Call, ec2: Any, image_id: str
) -> None:
    """Why: delete-tags with tags:={"env": "prod"} reported deleted-keys ["env"] while
    env=staging was still there."""
    a, b = launch(ec2, image_id, 2)
    ec2.create_tags(Resources=[a], Tags=[{"Key": "env", "Value": "staging"},
                                         {"Key": "team", "Value": "ops"}])
    ec2.create_tags(Resources=[b], Tags=[{"Key": "env", "Value": "prod"}])
    missed = run(call, "delete-tags", resource_id=a, tags={"env": "prod"})
    assert missed.exitcode == 0, missed.message
    assert missed.get("deleted-keys") == [] and missed.get("not-deleted-keys") == ["env"]
    assert "nothing was deleted" in missed.message
    assert tags_of(ec2, a) == {"env": "staging", "team": "ops"}
    both = run(call, "delete-tags", resource_id=[a, b], tags={"env": "prod", "team": None})
    assert both.exitcode == 0, both.message
    assert both.get("deleted-keys") == ["env", "team"]
    assert both.get("deleted") == {a: ["team"], b: ["env"]}
    assert tags_of(ec2, a) == {"env": "staging"} and tags_of(ec2, b) == {}
    absent = run(call, "delete-tags", resource_id=a, tag_key=["nosuch", "env"])
    assert absent.get("deleted-keys") == ["env"] and absent.get("not-deleted-keys") == ["nosuch"]
    assert "no match for nosuch" in absent.message


@pytest.mark.parametrize(("params", "expected"), [
    ({"tags": {}}, "'tags' must not be empty"),
    ({"tags": {"k" * 129: "v"}}, "over 128"),
    ({"tags": {"k": "v" * 257}}, "over 256"),
    ({"tags": {"aws:owner": "me"}}, "'aws:'"),
    ({"tags": {f"k{n}": "v" for n in range(51)}}, "at most 50"),
    ({"tags": {"k": float("nan")}}, "finite"),
    ({"tags": {"k": "\ud800"}}, "lone surrogate"),
    ({"tag_key": "k" * 129}, "over 128"),
])
def test_tags_ec2_would_refuse_are_refused_first(
    call: Call, ec2: Any, image_id: str, params: dict[str, Any], expected: str
) -> None:
    """Why: `tags: {}` ended as exitcode 1 from a KeyError; junk reached EC2."""
    (a,) = launch(ec2, image_id, 1)
    response = run(call, "create-tags", resource_id=a, **params)
    assert response.exitcode == 2 and expected in response.message, response.message
    assert response.meta["attempts"] == 0
    assert tags_of(ec2, a) == {}
