"""Tag actions against the endpoint, read back with plain boto3."""

from __future__ import annotations

from typing import Any

from ec2_connector import Call
from tests.actions.test_instances import run
from tests.conftest import launch


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
