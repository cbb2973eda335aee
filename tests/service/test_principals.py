"""Roles and limits as properties of the declarations, checked over the whole catalog."""

from __future__ import annotations

import pytest

from ec2_connector.actions import catalog
from ec2_connector.errors import InvalidRequest
from ec2_connector.service.principals import Principal, Principals, authorize, hash_token, matches
from ec2_connector.service.targets import id_params, target_count, target_ids
from ec2_connector.spec.action import Action

VIEWER = Principal("v", "viewer")
OPERATOR = Principal("o", "operator")
ACTIONS = [catalog.get(name) for name in catalog.names()]


def request(name: str) -> dict[str, object]:
    return {"action": name, **catalog.get(name).example}


def test_no_mutating_action_takes_filters() -> None:
    # So the ids a mutating request names are all it can change: max-targets counts them.
    takes = [a.name for a in ACTIONS if a.mutating and any(
        p.name == "filters" for p in a.all_params())]
    assert takes == []


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.mutating], ids=lambda a: a.name)
def test_every_mutating_example_has_a_target_count(action: Action) -> None:
    name = action.name
    params = action.validate(action.example)
    count = target_count(action, params)
    ids = target_ids(action, params)
    assert count is not None
    if name == "call-operation":  # its example reads: it names no ids
        assert count == len(ids) == 0
    else:
        assert count >= 1
    if id_params(action):
        assert count == len(ids) >= 1


def test_viewer_may_run_exactly_the_read_only_actions() -> None:
    for action in ACTIONS:
        denial = authorize(VIEWER, "aws-ec2", request(action.name))
        if action.mutating and action.name != "call-operation":
            assert denial is not None and denial.rule == "role", action.name
        else:
            assert denial is None, action.name
        assert authorize(OPERATOR, "aws-ec2", request(action.name)) is None


def test_call_operation_is_judged_by_its_operation() -> None:
    read = {"action": "call-operation", "operation": "DescribeVpcs"}
    write = {"action": "call-operation", "operation": "StopInstances",
             "parameters": {"InstanceIds": ["i-1", "i-2", "i-3"]}}
    assert authorize(VIEWER, "x", read) is None
    assert authorize(VIEWER, "x", write).rule == "role"  # type: ignore[union-attr]
    assert authorize(OPERATOR, "x", write).rule == "call-operation-mutate"  # type: ignore[union-attr]
    mutator = Principal("m", "operator", call_operation_mutate=True, max_targets=2)
    assert authorize(mutator, "x", write).rule == "max-targets"  # type: ignore[union-attr]
    by_filter = {**write, "parameters": {"Filters": [{"Name": "tag:env", "Values": ["x"]}]}}
    denial = authorize(mutator, "x", by_filter)
    assert denial is not None and "cannot be known before it runs" in denial.message


def test_a_create_counts_what_it_makes() -> None:
    limited = Principal("l", "operator", max_targets=3)
    body = {"action": "create-instance", "image-id": "ami-12345678", "instance-type": "t3.micro",
            "min-instance": 2,
            "max-instance": 5}
    denial = authorize(limited, "x", body)
    assert denial is not None and "not 5" in denial.message
    assert authorize(limited, "x", {**body, "max-instance": 3}) is None


def test_an_invalid_request_is_left_to_validation() -> None:
    limited = Principal("l", "viewer", max_targets=1)
    assert authorize(limited, "x", {"action": "no-such-action"}) is None
    assert authorize(limited, "x", {"action": "describe-vpc", "connectors": 5}) is None



def test_the_route_s_connector_is_checked_before_anything_else() -> None:
    narrow = Principal("n", "operator", connectors=("a",))
    for body in ({"action": "no-such-action"}, {"action": "describe-vpc", "connectors": 5},
                 {}):
        denial = authorize(narrow, "b", body)
        assert denial is not None and denial.rule == "connectors", body
    assert authorize(narrow, "a", {"action": "describe-vpc", "connectors": ["a", "b"]}) \
        .rule == "connectors"  # type: ignore[union-attr]


def test_tokens_are_kept_as_salted_hashes() -> None:
    token = "a-token-of-forty-characters-0123456789ab"
    one, two = hash_token(token), hash_token(token)
    assert one != two and token not in one  # salted
    assert matches(token, one) and matches(token, two) and not matches(token + "x", one)
    assert not matches(token, "md5$salt$" + one.rsplit("$", 1)[1])
    found = Principals([Principal("p", "viewer", one)], legacy_token="legacy-0123")
    assert found.authenticate(token).name == "p"  # type: ignore[union-attr]
    assert found.authenticate("legacy-0123").role == "admin"  # type: ignore[union-attr]
    assert found.authenticate("") is None and found.authenticate("legacy-012") is None


def test_no_token_and_no_principals_means_no_auth() -> None:
    open_service = Principals()
    assert not open_service.required
    assert open_service.authenticate("").role == "admin"  # type: ignore[union-attr]
    assert Principals(legacy_token="").required is False  # an empty token is no token


@pytest.mark.parametrize(("entry", "fault"), [
    ({"role": "root", "token-hash": "sha256$a$b"}, "role must be one of"),
    ({"role": "viewer"}, "'token-hash' must be"),
    ({"role": "viewer", "token-hash": "sha256$a$b", "max-targets": 0}, "max-targets"),
    ({"role": "viewer", "token-hash": "sha256$a$b", "colour": "red"}, "colour"),
    ({"role": "viewer", "token-hash": "sha256$a$b", "call-operation-mutate": "maybe"},
     "true or false"),
])
def test_a_bad_principal_is_refused_in_one_line(entry: dict[str, object], fault: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        Principals.from_document({"principals": {"p": entry}})
    assert "principal 'p'" in raised.value.message and fault in raised.value.message
    assert "\n" not in raised.value.message
