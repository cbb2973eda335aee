"""Instance actions: launch, start, stop, reboot, terminate, describe, list, modify."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidRequest, ServiceError
from ..response import Outcome
from ..spec.action import Action, Rerun
from ..spec.fields import Field, Fields, mapper
from ..spec.params import (
    INSTANCE_ID,
    USER_DATA_MAX,
    Boolean,
    Choice,
    Group,
    Integer,
    Mapping_,
    Param,
    String,
    StringList,
    Tags,
    Text,
)
from ..spec.resources import resource
from ..transport.context import Context
from . import launch
from .batch import state_change
from .launch import BlockDevices, launch_args
from .shapes import FILTERS_IN, INSTANCE_FIELDS, LAUNCH_FIELDS, tag_specs
from .tokens import (
    DIGEST_TAG,
    RESERVED_TAGS,
    TOKEN_TAG,
    ClientToken,
    check_same_launch,
    input_digest,
    launched_with,
    token_lock,
)
from .waits import wait_for, wait_params

INSTANCE_IDS = Param(
    "instance-id", StringList(INSTANCE_ID), "one or more instance ids", required=True
)
FILTERS = Param("filters", Mapping_("string-list"), "EC2 filters: name -> value or list")
ID = "i-0123456789abcdef0"
launch_info = mapper(LAUNCH_FIELDS)


def create_instance(ctx: Context, p: dict[str, Any]) -> dict[str, Any] | Outcome:
    given = p.get("client-token")
    token = given or uuid.uuid4().hex
    ctx.partial["client-token"] = token
    if p.get("launch-defaults"):  # what the connector's launch-defaults set: said in meta
        ctx.notes["launch-defaults"] = p["launch-defaults"]
    args, digest = _run_args(p, token)
    if given:
        # Look-up and launch under the token's lock: two launches with one token at once
        # (threads, processes, two resumes) must not both find nothing and both launch.
        with token_lock(token, ctx.sleep):
            earlier = launched_with(_tagged(ctx, token), token)
            if earlier:
                check_same_launch(earlier, token, digest)
                return Outcome(
                    {"instance-info": [launch_info(i) for i in earlier], "client-token": token},
                    "success: instances with this client-token already exist; nothing new "
                    "was launched")
            result = ctx.call("RunInstances", **args)
    else:
        result = ctx.call("RunInstances", **args)
    instances = result.get("Instances", [])
    ids = [i["InstanceId"] for i in instances]
    ctx.partial["instance-ids"] = ids
    do_wait, interval = wait_params(p)
    if do_wait:
        wait_for(ctx, "instance", ids, "running", interval)
        instances = _describe_ids(ctx, ids)
    return {"instance-info": [launch_info(i) for i in instances], "client-token": token}


def _run_args(p: dict[str, Any], token: str) -> tuple[dict[str, Any], str]:
    """RunInstances' input, tagged with the token and a digest of everything else it
    sends (every launch option, the connector's launch-defaults included): the same token
    with anything else is another launch. And that digest."""
    digest = input_digest(_launch_input(p, token, p.get("tags", {})))
    tags = {**p.get("tags", {}), TOKEN_TAG: token, DIGEST_TAG: digest}
    return _launch_input(p, token, tags), digest


def _launch_input(p: dict[str, Any], token: str, tags: dict[str, str]) -> dict[str, Any]:
    count = p["min-instance"]
    maximum = p.get("max-instance", count)
    if maximum < count:
        raise InvalidRequest("parameter 'max-instance' must not be less than 'min-instance'")
    template = _template(p)
    if template is None:
        for name in ("image-id", "instance-type"):
            if name not in p:
                raise InvalidRequest(f"missing required parameter '{name}' (or give "
                                     "'launch-template-id' or 'launch-template-name')")
    args: dict[str, Any] = {
        "MinCount": count,
        "MaxCount": maximum,
        "ClientToken": token,
        "TagSpecifications": tag_specs("instance", tags),
    }
    optional = {
        "ImageId": p.get("image-id"),
        "InstanceType": p.get("instance-type"),
        "LaunchTemplate": template,
        "SecurityGroups": p.get("security-group"),
        "InstanceInitiatedShutdownBehavior": p.get("shutdown-behavior"),
        "DisableApiTermination": p.get("termination-protection"),
        "IamInstanceProfile": _profile(p.get("iam-instance-profile")),
        "BlockDeviceMappings": p.get("block-device-mappings"),
        "KeyName": p.get("key-name"),
        "SubnetId": p.get("subnet-id"),
        "SecurityGroupIds": p.get("security-group-id"),
        "UserData": p.get("user-data"),
        "DryRun": p.get("dry-run"),
    }
    args.update({k: v for k, v in optional.items() if v is not None})
    if p.get("availability-zone"):
        args["Placement"] = {"AvailabilityZone": p["availability-zone"]}
    return launch_args(p, args)


def _template(p: dict[str, Any]) -> dict[str, Any] | None:
    if p.get("launch-template-id"):
        found = {"LaunchTemplateId": p["launch-template-id"]}
    elif p.get("launch-template-name"):
        found = {"LaunchTemplateName": p["launch-template-name"]}
    else:
        if p.get("launch-template-version"):
            raise InvalidRequest("parameter 'launch-template-version' needs "
                                 "'launch-template-id' or 'launch-template-name'")
        return None
    if p.get("launch-template-version"):
        found["Version"] = p["launch-template-version"]
    return found


def _profile(value: str | None) -> dict[str, str] | None:
    if not value:
        return None
    return {"Arn": value} if value.startswith("arn:") else {"Name": value}


LAUNCH_EXTRAS = (
    Param("security-group", StringList(), "security group names (EC2-Classic style; "
          "default VPC)"),
    Param("shutdown-behavior", Choice("stop", "terminate"),
          "what a shutdown from inside the instance does"),
    Param("termination-protection", Boolean(), "refuse termination until turned off"),
    Param("iam-instance-profile", String(), "instance profile name or ARN"),
    Param("launch-template-id", resource("launch-template").id_type,
          "launch from this template (its values are the defaults)"),
    Param("launch-template-name", String(r"[a-zA-Z0-9().\-/_]{3,128}", "web-servers"),
          "launch from the template of this name"),
    Param("launch-template-version", String(r"\d+|\$Latest|\$Default", "$Latest"),
          "template version (default: its default version)"),
    Param("block-device-mappings", BlockDevices(),
          'volumes: [{"device-name": "/dev/xvda", "volume-size": 20}]'),
)


def _tagged(ctx: Context, token: str) -> list[dict[str, Any]]:
    # EC2 honours ClientToken itself, but many compatible endpoints do not: the tag we
    # put on at launch finds what an earlier try with this token launched. The filter
    # narrows; `launched_with` compares exactly (a filter value may hold wildcards).
    found = []
    for page in ctx.pages(
        "DescribeInstances", Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]
    ):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return found


def _describe_ids(ctx: Context, ids: list[str]) -> list[dict[str, Any]]:
    result = ctx.call("DescribeInstances", InstanceIds=ids)
    by_id = {
        i["InstanceId"]: i for r in result.get("Reservations", []) for i in r.get("Instances", [])
    }
    return [by_id[i] for i in ids if i in by_id]


# Attribute name (ours, or EC2's camelCase) -> (canonical name, request builder).
def _bool_attr(key: str) -> Callable[[Any, str], dict[str, Any]]:
    return lambda v, name: {key: {"Value": Boolean().convert(v, name)}}


def _user_data_attr(v: Any, name: str) -> dict[str, Any]:
    value = Text(max_bytes=USER_DATA_MAX).convert(v, name)
    return {"UserData": {"Value": value if isinstance(value, bytes) else value.encode()}}


def _is_user_data(p: Mapping[str, Any]) -> bool:
    """Is the attribute being set the user data? (Unsure counts as yes: it stays secret.)"""
    attribute = p.get("attribute")
    if not isinstance(attribute, str):
        return True
    return _ATTRIBUTE_NAMES.get(attribute.strip().replace("_", "-").lower()) in (
        "user-data", None)


ATTRIBUTES: dict[str, tuple[str, Callable[[Any, str], dict[str, Any]]]] = {
    "instance-type": (
        "instanceType", lambda v, n: {"InstanceType": {"Value": String().convert(v, n)}}
    ),
    "disable-api-termination": ("disableApiTermination", _bool_attr("DisableApiTermination")),
    "user-data": ("userData", _user_data_attr),
    "security-group-id": (
        "groupSet", lambda v, n: {"Groups": StringList().convert(v, n)}
    ),
    "ebs-optimized": ("ebsOptimized", _bool_attr("EbsOptimized")),
    "source-dest-check": ("sourceDestCheck", _bool_attr("SourceDestCheck")),
    "instance-initiated-shutdown-behavior": (
        "instanceInitiatedShutdownBehavior",
        lambda v, n: {
            "InstanceInitiatedShutdownBehavior": {
                "Value": _choice(String().convert(v, n).lower(), ("stop", "terminate"), n)
            }
        },
    ),
}
_ATTRIBUTE_NAMES = {
    **{name: name for name in ATTRIBUTES},
    **{camel.lower(): name for name, (camel, _) in ATTRIBUTES.items()},
    "groups": "security-group-id",
}


def _choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise InvalidRequest(f"parameter '{name}' must be one of: {', '.join(choices)}")
    return value


def _attribute_args(p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    attribute = _ATTRIBUTE_NAMES[p["attribute"].replace("_", "-").lower()]
    build = ATTRIBUTES[attribute][1]
    value = build(p["attribute-value"], "attribute-value")
    return attribute, {"InstanceId": p["instance-id"], **value}


def modify_instance_attribute(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    attribute, args = _attribute_args(p)
    if p.get("dry-run"):
        args["DryRun"] = True
    try:
        ctx.call("ModifyInstanceAttribute", **args)
    except ServiceError as exc:
        if exc.code != "InvalidUserData.Malformed" or attribute != "user-data":
            raise
        # EC2 documents the wire value as base64 of the user data, which botocore
        # produces; some compatible endpoints want it encoded once more. Say so in meta.
        raw = args["UserData"]["Value"]
        args["UserData"] = {"Value": base64.b64encode(raw)}
        ctx.call("ModifyInstanceAttribute", **args)
        ctx.notes["user-data-encoding"] = "pre-encoded for this endpoint"
    return {"instance-id": p["instance-id"], "attribute": attribute, "modified": True}


class _AttributeName(String):
    """One of the modifiable attributes, in our hyphenated or EC2's camelCase spelling."""

    name = "choice"

    def convert(self, value: Any, param: str) -> str:
        text = super().convert(value, param)
        if text.replace("_", "-").lower() not in _ATTRIBUTE_NAMES:
            raise InvalidRequest(f"parameter '{param}' must be one of: {', '.join(ATTRIBUTES)}")
        return text

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "choices": list(ATTRIBUTES)}


class _AnyValue(String):
    """A string, number, boolean or list: checked against the attribute when it runs."""

    name = "any"

    def convert(self, value: Any, param: str) -> Any:
        if value is None or isinstance(value, dict):
            raise self.fail(param, "a string, number, boolean or list", value)
        return value


STATE_COLUMNS = ("id=instance-id", "state=current-state", "previous=previous-state")


def state_action(
    name: str, doc: str, operation: str, result: str, target: str, *extra: Param
) -> Action:
    """One of the state changes: the same shape, each with its operation and target state."""
    # RebootInstances answers with no states: its result is the list of ids.
    columns = ("id=instance-id",) if operation == "RebootInstances" else STATE_COLUMNS
    return Action(
        name=name,
        doc=doc,
        run=state_change(operation, result, target),
        rerun=Rerun.CONVERGES,  # a second start (stop, ...) leaves the state the first did
        operation=operation,
        operations=("DescribeInstances",),
        resource="instance",
        result=result,
        columns=columns,
        waits=True,
        params=(INSTANCE_IDS, *extra),
        example={"instance-id": [ID]},
    )


STATUS_FIELDS: Fields = {
    "instance-id": "InstanceId",
    "availability-zone": "AvailabilityZone",
    "instance-state-name": "InstanceState.Name",
    "instance-status": "InstanceStatus.Status",
    "system-status": "SystemStatus.Status",
    "events": Field("Events", each={"code": "Code", "description": "Description",
                                    "not-before": "NotBefore", "not-after": "NotAfter"}),
}


ACTIONS = (
    Action(
        name="create-instance",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Launch instances from an AMI; returns their details and the client token.",
        run=create_instance,
        operation="RunInstances",
        operations=("DescribeInstances",),
        resource="instance",
        result="instance-info",
        columns=resource("instance").columns,  # its items are instances, as describe's
        example={"image-id": "ami-0123456789abcdef0", "instance-type": "t3.micro"},
        waits=True,
        check=lambda p: _run_args(p, "check"),
        connector_defaults="launch-defaults",
        # The members a value goes to as it is (their AWS CLI options are aliases, names.py);
        # _run_args builds the launch (a test holds it to these).
        inputs={"min-instance": "MinCount", "max-instance": "MaxCount",
                "security-group-id": "SecurityGroupIds", "security-group": "SecurityGroups",
                "shutdown-behavior": "InstanceInitiatedShutdownBehavior",
                "termination-protection": "DisableApiTermination"},
        groups=(Group(("launch-template-id", "launch-template-name"), required=False),),
        params=(
            Param("image-id", String(r"ami-[0-9a-f]{8,17}", "ami-0123456789abcdef0"),
                  "AMI to launch (required without a launch template)", required=False),
            Param("instance-type", String(), "instance type, e.g. t3.micro (required without a "
                  "launch template)"),
            Param("min-instance", Integer(1), "launch at least this many, or none", default=1),
            Param("max-instance", Integer(1), "launch at most this many (default: min)"),
            Param("availability-zone", String(), "placement, e.g. us-east-1a"),
            Param("key-name", String(), "key pair name"),
            Param("subnet-id", String(), "VPC subnet to launch into", aliases=("network",)),
            Param("security-group-id", StringList(), "security group ids"),
            Param("user-data", Text(max_bytes=USER_DATA_MAX),
                  "user data text, at most 16 KB (base64-encoded for EC2 by us)", secret=True),
            Param("tags", Tags(reserved=RESERVED_TAGS, allow_empty=True),
                  "tags applied at launch: key -> value"),
            *LAUNCH_EXTRAS,
            *launch.PARAMS,
            Param("client-token", ClientToken(),
                  "idempotency token: a retry with it never launches twice"),
        ),
    ),
    state_action("start-instances", "Start stopped instances.", "StartInstances",
                 "started-instances-set", "running"),
    state_action("stop-instances", "Stop running instances.", "StopInstances",
                 "stop-instance-list", "stopped",
                 Param("force", Boolean(), "force the stop (no clean shutdown)")),
    state_action("terminate-instances", "Terminate instances (irreversible).",
                 "TerminateInstances", "terminated-instance-set", "terminated"),
    state_action("reboot-instances", "Reboot instances.", "RebootInstances",
                 "reboot-instance-id", "running"),
    Action(
        name="describe-instances",
        doc="Describe instances by id, by filters, or all; follows every page.",
        operation="DescribeInstances",
        resource="instance",
        mutating=False,
        params=(
            Param("instance-id", StringList(INSTANCE_ID), "instance ids (none: all)"),
            FILTERS,
        ),
        inputs={"instance-id": "InstanceIds", "filters": FILTERS_IN},
        result="instances-info",
        items="Reservations[].Instances[]",
        fields=INSTANCE_FIELDS,
        example={"instance-id": [ID]},
    ),
    Action(
        name="list-instances",
        aliases=("list",),
        doc="List every instance in the region (optionally filtered).",
        operation="DescribeInstances",
        resource="instance",
        mutating=False,
        params=(FILTERS,),
        inputs={"filters": FILTERS_IN},
        result="instance-list",
        items="Reservations[].Instances[]",
        fields=INSTANCE_FIELDS,
        example={"filters": {"instance-state-name": "running"}},
    ),
    Action(
        name="describe-instance-status",
        doc="Status checks and scheduled events of instances (running ones, unless "
            "include-all-instances).",
        operation="DescribeInstanceStatus",
        resource="instance",
        mutating=False,
        params=(
            Param("instance-id", StringList(INSTANCE_ID), "instance ids (none: all)"),
            Param("include-all-instances", Boolean(), "also instances not running"),
            FILTERS,
        ),
        inputs={"instance-id": "InstanceIds", "include-all-instances": "IncludeAllInstances",
                "filters": FILTERS_IN},
        result="instance-status-list",
        items="InstanceStatuses",
        fields=STATUS_FIELDS,
        columns=("instance-id", "instance-state-name", "instance-status", "system-status",
                 "availability-zone"),
        example={"instance-id": [ID]},
    ),
    Action(
        name="get-console-output",
        doc="The console output of an instance, as text (kept out of job records).",
        operation="GetConsoleOutput",
        resource="instance",
        mutating=False,
        params=(Param("instance-id", INSTANCE_ID, "the instance", required=True),
                Param("latest", Boolean(), "the latest output (Nitro instances only)")),
        inputs={"instance-id": "InstanceId", "latest": "Latest"},
        fields={"instance-id": "InstanceId", "timestamp": "Timestamp",
                "output": "Output"},  # botocore decodes EC2's base64
        result="output",
        secret_results=("output",),
        example={"instance-id": ID},
    ),
    Action(
        name="modify-instance-attribute",
        rerun=Rerun.CONVERGES,
        doc="Change one attribute of an instance.",
        run=modify_instance_attribute,
        operation="ModifyInstanceAttribute",
        resource="instance",
        example={"instance-id": ID, "attribute": "instance-type", "attribute-value": "t3.large"},
        params=(
            Param("instance-id", INSTANCE_ID, "the instance to modify", required=True),
            Param("attribute", _AttributeName(), "attribute to change", required=True),
            Param("attribute-value", _AnyValue(), "its new value (secret for user data)",
                  required=True, secret=True, secret_when=_is_user_data),
        ),
        check=_attribute_args,
    ),
)
