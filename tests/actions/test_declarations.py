"""The declarations agree with botocore's EC2 model, so they are the single source of truth.

Every mapped input member exists in its operation's input shape, every result path exists
in its output shape, every example validates (ours, and botocore's ParamValidator on the
input the runner builds from it), names and aliases are unique, and each resource's facts
(describe operation, items, selectors, waiters, not-found code) match the model.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import jmespath
import pytest
from botocore.model import ListShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.validate import ParamValidator

from ec2_connector.actions import ACTIONS, ALIASES, catalog
from ec2_connector.actions.launch import COVERED, LAUNCH_OPTIONS, ROOT_VOLUME
from ec2_connector.actions.runner import input_args
from ec2_connector.actions.tokens import idempotency_member, output_member
from ec2_connector.errors import InvalidRequest, NotFound, class_for_code
from ec2_connector.spec.action import Action, In, Rerun
from ec2_connector.spec.fields import Field, Fields
from ec2_connector.spec.names import cli_name, ec2_verbs, verb, verbs_of
from ec2_connector.spec.params import canonical
from ec2_connector.spec.resources import RESOURCES

SESSION = botocore.session.get_session()
MODEL: ServiceModel = SESSION.get_service_model("ec2")
WAITERS = SESSION.get_waiter_model("ec2")
NAMES = sorted(ACTIONS)


class _ListOf:
    """The list a JMESPath projection yields, of `member`."""

    type_name = "list"

    def __init__(self, member: Any) -> None:
        self.member = member


def walk(node: dict[str, Any], shape: Any) -> Any:
    """The shape `node` (a parsed JMESPath expression) yields over `shape`; AssertionError
    naming the member when a field does not exist. None: a value of no shape (literal)."""
    kind, children = node["type"], node.get("children", [])
    if kind in ("identity", "current"):
        return shape
    if kind == "field":
        if shape is None:
            return None
        assert isinstance(shape, StructureShape), f"'{node['value']}' read from a non-structure"
        assert node["value"] in shape.members, f"no member '{node['value']}' in {shape.name}"
        return shape.members[node["value"]]
    if kind in ("subexpression", "pipe"):
        for child in children:
            shape = walk(child, shape)
        return shape
    if kind == "flatten":
        inner = walk(children[0], shape)
        assert inner.type_name == "list", "[] applied to a non-list"
        return _ListOf(inner.member.member) if inner.member.type_name == "list" else inner
    if kind in ("projection", "filter_projection"):
        left = walk(children[0], shape)
        assert left.type_name == "list", "projection over a non-list"
        if kind == "filter_projection":
            walk(children[2], left.member)
        return _ListOf(walk(children[1], left.member))
    if kind == "index_expression":
        left = walk(children[0], shape)
        assert left.type_name == "list", "index into a non-list"
        return left.member
    if kind in ("multi_select_dict", "multi_select_list"):
        for child in children:
            walk(child["children"][0] if child["type"] == "key_val_pair" else child, shape)
        return None
    for child in children:  # functions, comparisons, literals: check what they read
        walk(child, shape)
    return None


def check_path(path: str, shape: Shape) -> Any:
    return walk(jmespath.compile(path).parsed, shape)


def check_fields(fields: Fields, shape: Shape) -> None:
    for key, spec in fields.items():
        path = spec.path if isinstance(spec, Field) else spec
        try:
            found = check_path(path, shape)
        except AssertionError as exc:
            raise AssertionError(f"field '{key}' ({path}): {exc}") from None
        if isinstance(spec, Field) and spec.each is not None:
            assert found.type_name == "list", f"field '{key}': each= over a non-list"
            check_fields(spec.each, found.member)


def operation(name: str) -> OperationModel:
    assert name in MODEL.operation_names, f"no EC2 operation {name}"
    return MODEL.operation_model(name)


def check_member(member: str, shape: Shape) -> None:
    for name in member.split("."):
        assert isinstance(shape, StructureShape) and name in shape.members, (
            f"no input member {member}"
        )
        shape = shape.members[name]


def generic(action: Action) -> bool:
    return action.run is None  # declared as data: the generic runner runs it


@pytest.mark.parametrize("name", NAMES)
def test_declaration_matches_the_model(name: str) -> None:
    action = ACTIONS[name]
    for op in action.all_operations():
        operation(op)
    if action.operation is None:  # only the passthrough names its operation per call
        assert name == "call-operation", f"{name} declares no operation"
        return
    op = operation(action.operation)
    for param, spec in action.inputs.items():
        assert param in {p.name for p in action.params}, f"{param} is not a parameter"
        check_member(spec.member if isinstance(spec, In) else spec, op.input_shape)
    if action.mutating:  # dry-run offered exactly where EC2 has one
        assert action.dry_run == ("DryRun" in op.input_shape.members), op.name
    mapped = {p: s.member if isinstance(s, In) else s for p, s in action.inputs.items()}
    if generic(action) and "ClientToken" in op.input_shape.members:
        assert mapped.get("client-token") == "ClientToken", f"{name}: no client-token"
    if "client-token" in mapped:
        assert mapped["client-token"] == "ClientToken", name
    if "tags" in mapped:
        assert mapped["tags"] == "TagSpecifications", name
    result_shape = op.output_shape
    if action.items or action.item:
        result_shape = check_path(action.items or action.item or "", op.output_shape)
        if action.items:
            assert result_shape.type_name == "list", f"items of {name} is not a list"
            result_shape = result_shape.member
    if action.fields:
        check_fields(action.fields, result_shape)
    for param in action.echo:
        assert param in {p.name for p in action.all_params()}
    assert action.resource is None or action.resource in RESOURCES


@pytest.mark.parametrize("name", NAMES)
def test_example_validates_here_and_in_botocore(name: str) -> None:
    action = ACTIONS[name]
    assert action.example, f"{name} has no example"
    values = action.validate(action.example)
    if generic(action):  # the generic runner: check the input it builds
        assert action.operation is not None
        shape = operation(action.operation).input_shape
        for extra in ({}, {"dry-run": True} if action.mutating and action.dry_run else {}):
            args = input_args(action, {**values, **extra, "region": "us-east-1"})
            report = ParamValidator().validate(args, shape)
            assert not report.has_errors(), report.generate_report()


def test_names_and_aliases_are_unique() -> None:
    seen: dict[str, str] = {}
    for action in ACTIONS.values():
        for name in (action.name, *action.aliases):
            assert name not in seen, f"{name} is both {seen[name]} and {action.name}"
            seen[name] = action.name
    assert set(ALIASES) == set(seen) - set(ACTIONS)
    for alias, name in ALIASES.items():
        # (an alias with presets is a variant of its action that bears the alias)
        assert catalog.get(alias).name in (name, alias)
        assert catalog.get(alias).run is ACTIONS[name].run


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_resource_facts_match_the_model(name: str) -> None:
    res = RESOURCES[name]
    describe = operation(res.describe)
    items = check_path(res.items, describe.output_shape)
    assert items.type_name == "list"
    assert isinstance(items.member, StructureShape) and res.id_member in items.member.members
    for selector in res.selectors:
        check_member(selector, describe.input_shape)
    assert res.not_found is None or class_for_code(res.not_found) is NotFound
    assert res.id_type.pattern is not None and res.id_type.example is not None
    assert res.id_type.pattern.fullmatch(res.id_type.example)
    for state, waiter_name in res.waiters.items():
        waiter = WAITERS.get_waiter(waiter_name)
        assert waiter.operation == res.describe
        expected = {a.expected for a in waiter.acceptors if a.state == "success"}
        assert state in expected


def test_waiting_actions_call_their_waiters_operations() -> None:
    for action in ACTIONS.values():
        if action.waits:
            assert action.resource is not None
            res = RESOURCES[action.resource]
            assert res.waiters and res.describe in action.all_operations(), action.name


def test_the_checks_catch_a_wrong_declaration() -> None:
    op = operation("DescribeVolumes")
    with pytest.raises(AssertionError, match="no member 'Sizes'"):
        check_fields({"size": "Sizes"}, check_path("Volumes", op.output_shape).member)
    with pytest.raises(AssertionError, match="no input member"):
        check_member("MaxItems", op.input_shape)
    assert isinstance(check_path("Volumes[].Attachments[]", op.output_shape), _ListOf)
    assert not isinstance(check_path("Volumes[0]", op.output_shape), ListShape)


def test_field_rules_timestamps_and_absent_lists() -> None:
    from datetime import UTC, datetime

    from ec2_connector.spec.fields import TAGS, mapper

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fields = {"t": "LaunchTime", "s": "State.Name", "ids": "Groups[].GroupId", "tags": TAGS,
              "n": "State.Missing.Deeper", "first": "Groups[0].GroupId"}
    item = {"LaunchTime": when, "State": {"Name": "running"}, "Tags": [{"Key": "k"}]}
    assert mapper(fields)(item) == {
        "t": "2026-01-02T03:04:05+00:00", "s": "running", "ids": [], "tags": {"k": ""},
        "n": None, "first": None,
    }
    item["Groups"] = [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}]
    assert mapper(fields)(item)["ids"] == ["sg-1", "sg-2"]
    assert mapper(fields)(item)["first"] == "sg-1"


@pytest.mark.parametrize("name", NAMES)
def test_every_action_has_a_rerun_class_the_model_bears_out(name: str) -> None:
    action = catalog.get(name)
    if not action.mutating:
        assert action.rerun is Rerun.READ_ONLY
        return
    assert action.rerun in (Rerun.CONVERGES, Rerun.FOUND_BY_TOKEN, Rerun.MANUAL)
    # A create: it takes tags, and its answer holds one resource of its kind (a rule
    # added to a group takes tags too, but answers with rules: a second run is refused).
    creates = bool(action.operation and action.resource) and "TagSpecifications" in (
        operation(str(action.operation)).input_shape.members) and output_member(
            MODEL, str(action.operation), RESOURCES[str(action.resource)]) is not None
    if action.rerun is Rerun.FOUND_BY_TOKEN:
        # A rerun can find what the first run made: the create tags it, and the
        # resource's describe filters by tag.
        assert creates, f"{name}: its operation takes no tags to find it by"
        res = RESOURCES[str(action.resource)]
        assert res.tag_type is not None
        assert "Filters" in operation(res.describe).input_shape.members
        assert res.describe in action.all_operations()
        assert "client-token" in action.param_index()
        member = idempotency_member(MODEL, str(action.operation))
        mapped = action.inputs.get("client-token")
        assert mapped is None or mapped == member, f"{name}: client-token is not {member}"
    elif creates:
        # A create no look-up protects (a private key lost with its run) is never rerun
        # on its own.
        assert action.rerun is Rerun.MANUAL, f"{name} creates: found-by-token or manual"


def test_a_mutating_declaration_without_a_rerun_class_fails_at_once() -> None:
    with pytest.raises(TypeError, match="must declare rerun="):
        Action(name="create-thing", doc="d", operation="CreateVpc", resource="vpc")
    with pytest.raises(TypeError, match="must declare rerun="):
        Action(name="create-thing", doc="d", operation="CreateVpc", rerun=Rerun.READ_ONLY)
    read = Action(name="look", doc="d", operation="DescribeVpcs", mutating=False)
    assert read.rerun is Rerun.READ_ONLY


def test_generic_creates_send_ec2s_own_token_where_the_model_has_one() -> None:
    have = {n for n in NAMES if catalog.get(n).rerun is Rerun.FOUND_BY_TOKEN
            and idempotency_member(MODEL, str(catalog.get(n).operation))}
    # The model decides: these are the operations with an idempotencyToken member today.
    assert {"create-volume", "create-launch-template", "copy-image",
            "create-instance"} <= have


def test_the_catalog_finds_every_module_of_declarations() -> None:
    # A module of actions/ either declares actions (and is in the catalog by being there)
    # or supports the declarations; nothing else may sit there unnoticed.
    import importlib
    import pkgutil

    import ec2_connector.actions as package
    from ec2_connector.actions import DECLARED

    support = {"batch", "index", "launch", "runner", "shapes", "tokens", "waits"}
    for module in pkgutil.iter_modules(package.__path__):
        declared = getattr(importlib.import_module(f"{package.__name__}.{module.name}"),
                           "ACTIONS", None)
        if declared is None:
            assert module.name in support, f"actions/{module.name}.py declares no ACTIONS"
        else:
            assert all(DECLARED[a.name] is a for a in declared), module.name
            assert {a.name for a in declared} <= set(ACTIONS), module.name


# --- Names people already type: the AWS CLI's and Flint's -------------------------------

SUGGESTED = re.compile(r"did you mean '([^']+)'")


def _resolves(name: str) -> tuple[Action | None, str | None]:
    """(the action `name` means, None) or (None, the name suggested instead, if any)."""
    try:
        return catalog.get(name), None
    except InvalidRequest as exc:
        found = SUGGESTED.search(exc.message)
        return None, found.group(1) if found else None


@pytest.mark.parametrize("operation", MODEL.operation_names)
def test_an_operations_aws_cli_name_means_it_or_suggests_the_same_verb(operation: str) -> None:
    """For each of EC2's ~760 operations, its AWS CLI name either is an action calling that
    operation, or is refused with no suggestion or one of the same verb: never another
    verb, so never the opposite operation (revoke for authorize, stop for start)."""
    name = cli_name(operation)
    action, suggested = _resolves(name)
    if action is not None:
        assert operation in action.all_operations(), f"{name} means {action.name}"
        return
    if suggested is not None:
        meant = catalog.get(suggested)
        assert verb(operation) in verbs_of(suggested, meant.operation), (
            f"{name} suggests {suggested} ({meant.operation})")


@pytest.mark.parametrize("name", NAMES)
def test_the_aws_cli_name_of_each_actions_operation_means_it(name: str) -> None:
    action = ACTIONS[name]
    if action.operation is None:
        return
    for operation in (action.operation, *action.presets):
        # a list-... action shares its operation with a describe-..., which has the name
        assert operation in catalog.get(cli_name(operation)).all_operations()


@pytest.mark.parametrize(("typed", "meant"), [
    ("run-instances", "create-instance"),
    ("describe-volumes", "describe-volume"),
    ("create-snapshot", "take-snapshot-of-volume"),
    ("authorize-security-group-ingress", "security-group-add-rule"),
    ("revoke-security-group-egress", "revoke-security-group-rule"),
])
def test_aws_cli_names_mean_the_action(typed: str, meant: str) -> None:
    assert ALIASES[typed] == meant
    action = catalog.get(typed)  # a preset's variant bears the alias, for job records
    assert action.name in (meant, typed) and action.run is ACTIONS[meant].run


@pytest.mark.parametrize(("alias", "direction"), [
    ("authorize-security-group-ingress", "inbound"),
    ("authorize-security-group-egress", "outbound"),
    ("revoke-security-group-ingress", "inbound"),
    ("revoke-security-group-egress", "outbound"),
])
def test_a_rule_alias_fixes_its_direction(alias: str, direction: str) -> None:
    rule = {"group-id": "sg-12345678", "from-port": 22, "cidr-block": "10.0.0.0/8"}
    assert catalog.get(alias).validate(rule)["direction"] == direction
    other = "egress" if direction == "inbound" else "ingress"
    with pytest.raises(InvalidRequest, match=f"'direction' is '{direction}' with '{alias}'"):
        catalog.get(alias).validate({**rule, "type": other})
    # The action's own name is untouched by its aliases.
    plain = catalog.get(ALIASES[alias])
    assert plain.validate({**rule, "type": other})["direction"] != direction


@pytest.mark.parametrize(("typed", "suggested"), [
    ("run-instance", "run-instances"),
    ("start-instance", "start-instances"),
    ("stop-instance", "stop-instances"),
    ("authorize-security-group-ingres", "authorize-security-group-ingress"),
    ("security-group-revoke-rule", "revoke-security-group-rule"),
    ("descrbe-instances", "describe-instances"),
    ("detach-volumes", "detach-volume"),
    ("security-group-remove-rule", None),  # "remove" is no verb of EC2's: no guess
    ("disassociate-adress", "disassociate-address"),
])
def test_suggestions_keep_the_verb(typed: str, suggested: str | None) -> None:
    assert _resolves(typed) == (None, suggested)


# The request parameters the Flint document (the project's specification) lists for
# each of its six actions, as its tables name them.
SEED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "create-instance": (
        "access-key", "action", "availability-zone", "connector_name", "image-id",
        "instance-type", "key-name", "max-instance", "min-instance", "region", "security-key",
        "subnet-id",
    ),
    "describe-instances": (
        "access-key", "action", "connector_name", "instance-id", "region", "security-key",
    ),
    "reboot-instances": (
        "access-key", "action", "connector_name", "instance-id", "region", "security-key",
    ),
    "start-instances": (
        "access-key", "action", "connector_name", "instance-id", "region", "security-key",
    ),
    "stop-instances": (
        "access-key", "action", "connector_name", "instance-id", "region", "security-key",
    ),
    "terminate-instances": (
        "access-key", "action", "connector_name", "instance-id", "region", "security-key",
    ),
}


# Flint's documented calls beyond the seed document (its other actions' pages): each
# parameter name must be accepted by the action of that name.
FLINT_CALLS = {
    "delete-tags": ("resource-id", "tag-key", "tag-value"),
    "revoke-security-group-rule": ("group-id", "ip-permissions", "type"),
    "list-image": ("account-id",),
    "create-volume": ("availability-zone", "volume-size"),
    "create-vpc": ("cidr-block", "tenancy", "name"),
    "modify-vpc-attribute": ("vpc-id", "is-enable-dns-host-names", "is-enable-dns-support"),
    "create-instance": ("image-id", "instance-type", "network", "storage", "device-name"),
    "associate-subnet-ipv6-cidr-block": ("subnet-id", "ipv6-cidr-block"),
    "disassociate-subnet-ipv6-cidr-block": ("association-id",),
}


@pytest.mark.parametrize(("action", "names"), [
    *SEED_PARAMETERS.items(),
    *FLINT_CALLS.items()])
def test_every_parameter_name_flint_documents_is_accepted(
        action: str, names: tuple[str, ...]) -> None:
    index = catalog.get(action).param_index()
    missing = [n for n in names if canonical(n) not in index
               and n not in ("connector_name", "action")]
    assert not missing, f"{action} refuses {missing}"


@pytest.mark.parametrize(("param", "member"), [
    *((p.name, m) for p, m in LAUNCH_OPTIONS),
    *((p.name, f"BlockDeviceMappings[0].Ebs.{m}") for p, m in ROOT_VOLUME)])
def test_each_launch_option_sets_a_runinstances_member(param: str, member: str) -> None:
    shape: Any = operation("RunInstances").input_shape
    for part in member.split("."):
        name = part.removesuffix("[0]")
        assert isinstance(shape, StructureShape) and name in shape.members, f"{param}: {part}"
        shape = shape.members[name]
        if part.endswith("[0]"):
            assert isinstance(shape, ListShape), f"{param}: {name} is no list"
            shape = shape.member
    kind = ACTIONS["create-instance"].param_index()[param].type
    for choice in getattr(kind, "choices", ()):
        assert choice in (shape.enum or [choice]), f"{param}: EC2 has no '{choice}'"


def test_every_launch_option_at_once_is_a_valid_runinstances_input() -> None:
    from ec2_connector.actions.instances import _run_args

    action = ACTIONS["create-instance"]
    given = {
        "image-id": "ami-12345678", "instance-type": "t3.micro", "subnet-id": "subnet-1",
        "security-group-id": ["sg-12345678"], "metadata-http-tokens": "required",
        "metadata-hop-limit": 2, "metadata-endpoint": "enabled",
        "metadata-instance-tags": "enabled", "associate-public-ip-address": True,
        "private-ip-address": "10.0.1.10", "secondary-private-ip-count": 1,
        "ipv6-address-count": 1, "max-price": "0.05", "spot-type": "one-time",
        "interruption-behavior": "terminate", "placement-group": "pg", "tenancy": "default",
        "credit-specification": "unlimited", "ebs-optimized": True, "hibernation": False,
        "cpu-core-count": 1, "threads-per-core": 1,
        "capacity-reservation-preference": "open", "storage": 20, "device-name": "/dev/xvda",
        "root-volume-type": "gp3", "root-volume-encrypted": True,
    }
    args = _run_args(action.validate(given), "token")[0]
    report = ParamValidator().validate(args, operation("RunInstances").input_shape)
    assert not report.has_errors(), report.generate_report()
    nic = args["NetworkInterfaces"][0]
    assert nic["SubnetId"] == "subnet-1" and nic["Groups"] == ["sg-12345678"]
    assert "SubnetId" not in args and args["InstanceMarketOptions"]["MarketType"] == "spot"
    assert args["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {
        "VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True}}]
    # Each member the parameters set is covered: launch-settings may not say it again.
    assert set(args) - {"NetworkInterfaces"} <= set(COVERED)


def test_what_launch_settings_may_not_set_is_runinstances_input() -> None:
    members = operation("RunInstances").input_shape.members
    index = ACTIONS["create-instance"].param_index()
    for member, param in COVERED.items():
        assert member in members and param in index, (member, param)


def test_create_instances_declared_inputs_are_what_the_launch_sends() -> None:
    from ec2_connector.actions.instances import _run_args

    action = ACTIONS["create-instance"]
    given = {"image-id": "ami-12345678", "instance-type": "t3.micro", "min-instance": 2,
             "max-instance": 3, "security-group-id": "sg-12345678", "security-group": "web",
             "shutdown-behavior": "terminate", "termination-protection": True}
    values = action.validate(given)
    args = _run_args(values, "token")[0]
    for param, member in action.inputs.items():
        assert args[str(member)] == values[param], param
    # ...and each answers to its AWS CLI option.
    aws = {"min-count": 2, "max-count": 3, "security-group-ids": "sg-12345678",
           "security-groups": "web", "instance-initiated-shutdown-behavior": "terminate",
           "disable-api-termination": True, "image-id": "ami-12345678",
           "instance-type": "t3.micro"}
    assert _run_args(action.validate(aws), "token")[0] == args


def _suggested_parameter(action: Action, typed: str) -> str | None:
    try:
        action.validate({typed: "x"})
    except InvalidRequest as exc:
        found = SUGGESTED.search(exc.message)
        return found.group(1) if found else None
    raise AssertionError(f"{typed} was accepted by {action.name}")


@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_suggestion_keeps_the_verb(name: str) -> None:
    """`disable-dns-support` must not be answered with `enable-dns-support`: for each
    parameter holding an EC2 verb, that name with another verb gets no suggestion of the
    first."""
    action = ACTIONS[name]
    verbs = ec2_verbs()
    for param in action.param_index():
        words = param.split("-")
        for n, word in enumerate(words):
            if word not in verbs:
                continue
            for other in ("enable", "disable", "associate", "disassociate", "allocate",
                          "release", "attach", "detach", "create", "delete"):
                typed = "-".join([*words[:n], other, *words[n + 1:]])
                if other == word or typed in action.param_index():
                    continue
                suggested = _suggested_parameter(action, typed)
                assert suggested is None or other in suggested.split("-"), (typed, suggested)


def test_a_misspelt_parameter_still_gets_its_suggestion() -> None:
    vpc = ACTIONS["modify-vpc-attribute"]
    assert _suggested_parameter(vpc, "enable-dns-suport") == "enable-dns-support"
    assert _suggested_parameter(vpc, "disable-dns-support") is None
    assert _suggested_parameter(ACTIONS["describe-instances"], "instance-idz") == "instance-id"
