"""Security group actions: create, describe, list, delete, add and revoke rules."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, ClassVar

from ..errors import InvalidRequest
from ..spec.action import Action, Rerun
from ..spec.fields import TAGS, Field, Fields, mapper
from ..spec.params import (
    GROUP_ID,
    Choice,
    Cidr,
    Group,
    Integer,
    Mapping_,
    Param,
    ParamType,
    String,
    StringList,
)
from ..transport.context import Context
from .shapes import FILTERS_IN, TAGS_PARAM, tags_in

PERMISSION_FIELDS: Fields = {
    "protocol": "IpProtocol",
    "from-port": "FromPort",
    "to-port": "ToPort",
    "cidr-blocks": "IpRanges[].CidrIp",
    "ipv6-cidr-blocks": "Ipv6Ranges[].CidrIpv6",
    "group-ids": "UserIdGroupPairs[].GroupId",
}
GROUP_FIELDS: Fields = {
    "group-id": "GroupId",
    "group-name": "GroupName",
    "group-description": "Description",
    "owner-id": "OwnerId",
    "vpc-id": "VpcId",
    "ip-permissions": Field("IpPermissions", each=PERMISSION_FIELDS),
    "ip-permissions-egress": Field("IpPermissionsEgress", each=PERMISSION_FIELDS),
    "tags": TAGS,
}
_permission = mapper(PERMISSION_FIELDS)
SG = "sg-0123456789abcdef0"


def rule_permission(p: dict[str, Any]) -> dict[str, Any]:
    """EC2's IpPermissions entry for the rule described by the request."""
    protocol = p["protocol"]
    perm: dict[str, Any] = {"IpProtocol": protocol}
    if protocol in ("tcp", "udp"):
        if "from-port" not in p:
            raise InvalidRequest(f"parameter 'from-port' is required for protocol '{protocol}'")
        perm["FromPort"] = p["from-port"]
        perm["ToPort"] = p.get("to-port", p["from-port"])
        if perm["ToPort"] < perm["FromPort"]:
            raise InvalidRequest("parameter 'to-port' must not be less than 'from-port'")
    elif protocol == "icmp":
        perm["FromPort"] = p.get("from-port", -1)
        perm["ToPort"] = p.get("to-port", -1)
    cidr = p.get("cidr-block") or p["ip-range"]
    if ipaddress.ip_network(cidr).version == 6:
        perm["Ipv6Ranges"] = [{"CidrIpv6": cidr}]
    else:
        perm["IpRanges"] = [{"CidrIp": cidr}]
    return perm


def rule_permissions(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The IpPermissions of the request: EC2's own (`ip-permissions`), or the one rule
    its protocol, ports and network describe."""
    if "ip-permissions" not in p:
        return [rule_permission(p)]
    mixed = [n for n in ("from-port", "to-port") if n in p]
    if mixed:
        raise InvalidRequest(f"give 'ip-permissions' or '{mixed[0]}', not both")
    return list(p["ip-permissions"])


def _rule_change(ingress: str, egress: str) -> Any:
    def run(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
        perms = rule_permissions(p)
        perm = perms[0]
        outbound = p["direction"] == "outbound"
        args: dict[str, Any] = {"GroupId": p["security-group-id"], "IpPermissions": perms}
        if p.get("dry-run"):
            args["DryRun"] = True
        operation = egress if outbound else ingress
        if "ip-permissions" in p:  # EC2's own form: checked against its model here
            ctx.check(operation, args, "ip-permissions")
        result = ctx.call(operation, **args)
        rule_ids = [r.get("SecurityGroupRuleId") for r in result.get("SecurityGroupRules", [])]
        return {
            "group-id": p["security-group-id"],
            "direction": p["direction"],
            "rule": _permission(perm),
            **({"rules": [_permission(x) for x in perms]} if len(perms) > 1 else {}),
            "security-group-rule-ids": rule_ids,
        }

    return run


_PROTOCOLS = {"all": "-1", "-1": "-1", "tcp": "tcp", "udp": "udp", "icmp": "icmp"}


class _Protocol(String):
    """tcp, udp, icmp, or all (-1); a protocol number is passed to EC2 as it is."""

    name = "choice"

    def convert(self, value: Any, param: str) -> str:
        text = super().convert(value, param).lower()
        if text in _PROTOCOLS:
            return _PROTOCOLS[text]
        if text.isdigit() and 0 <= int(text) <= 255:
            return text
        raise InvalidRequest(f"parameter '{param}' must be tcp, udp, icmp, all or 0-255")

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "choices": ["tcp", "udp", "icmp", "all"]}


class _Direction(Choice):
    """inbound or outbound; EC2's ingress and egress (Flint's `type`) say the same."""

    SAME: ClassVar[dict[str, str]] = {"ingress": "inbound", "egress": "outbound"}

    def convert(self, value: Any, param: str) -> str:
        if isinstance(value, str):
            value = self.SAME.get(value.strip().lower(), value)
        return super().convert(value, param)


class _Permissions(ParamType):
    """EC2's IpPermissions, in its own names (`IpProtocol`, `FromPort`, `IpRanges`, ...): a
    non-empty list of objects, or a JSON string of one; the action checks the members
    against the model before anything is sent (`Context.check`)."""

    name = "list"

    def convert(self, value: Any, param: str) -> list[dict[str, Any]]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise InvalidRequest(f"parameter '{param}' is not a valid JSON list") from None
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not value or not all(
                isinstance(v, dict) and v for v in value):
            raise self.fail(param, 'a list of objects like [{"IpProtocol": "tcp", '
                            '"FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": '
                            '"10.0.0.0/8"}]}]', value)
        return value


PORT = Integer(-1, 65535)
GROUP_NAMES = Param("group-name", StringList(), "security group names (default VPC)",
                    aliases=("security-group-name",))
RULE_PARAMS = (
    Param("security-group-id", GROUP_ID, "the group to change", required=True,
          aliases=("group-id",)),
    Param("direction", _Direction("inbound", "outbound"), "inbound or outbound (also: "
          "ingress, egress)", default="inbound", aliases=("type",)),
    Param("protocol", _Protocol(), "tcp, udp, icmp or all", default="tcp"),
    Param("from-port", PORT, "first port (icmp: type)"),
    Param("to-port", PORT, "last port (default: from-port; icmp: code)"),
    Param("cidr-block", Cidr(), "source or destination network, e.g. 203.0.113.0/24"),
    Param("ip-range", Cidr(), "the same as cidr-block, Flint's older name for it"),
    Param("ip-permissions", _Permissions(), "several rules at once, in EC2's IpPermissions "
          "form (instead of protocol, ports and cidr-block)"),
)
RULE_GROUPS = (Group(("cidr-block", "ip-range", "ip-permissions")),)
INBOUND, OUTBOUND = {"direction": "inbound"}, {"direction": "outbound"}

ACTIONS = (
    Action(
        name="create-security-group",
        rerun=Rerun.FOUND_BY_TOKEN,
        doc="Create a security group; returns its id.",
        operation="CreateSecurityGroup",
        resource="security-group",
        result="group-id",
        fields={"group-id": "GroupId"},
        inputs={"group-name": "GroupName", "group-description": "Description",
                "vpc-id": "VpcId", "tags": tags_in("security-group")},
        example={"group-name": "web", "group-description": "web servers"},
        params=(
            Param("group-name", String(), "name of the group", required=True,
                  aliases=("security-group-name",)),
            Param("group-description", String(), "description of the group", required=True,
                  aliases=("description",)),
            Param("vpc-id", String(), "VPC to create it in (default VPC if absent)"),
            TAGS_PARAM,
        ),
    ),
    Action(
        name="describe-security-group",
        doc="Describe security groups by id or by name.",
        operation="DescribeSecurityGroups",
        resource="security-group",
        inputs={"security-group-id": "GroupIds", "group-name": "GroupNames"},
        result="security-group-info",
        items="SecurityGroups",
        fields=GROUP_FIELDS,
        example={"security-group-id": [SG]},
        mutating=False,
        params=(
            Param("security-group-id", StringList(GROUP_ID), "security group ids",
                  aliases=("group-id",)),
            GROUP_NAMES,
        ),
        groups=(Group(("security-group-id", "group-name"), exactly_one=False),),
    ),
    Action(
        name="list-security-group",
        doc="List every security group in the region (optionally filtered).",
        operation="DescribeSecurityGroups",
        resource="security-group",
        inputs={"filters": FILTERS_IN},
        result="security-group-list",
        items="SecurityGroups",
        fields=GROUP_FIELDS,
        example={"filters": {"group-name": "web"}},
        mutating=False,
        params=(Param("filters", Mapping_("string-list"), "EC2 filters: name -> values"),),
    ),
    Action(
        name="delete-security-group",
        rerun=Rerun.MANUAL,
        doc="Delete a security group by id or by name.",
        operation="DeleteSecurityGroup",
        resource="security-group",
        inputs={"security-group-id": "GroupId", "group-name": "GroupName"},
        derive=lambda p: {"group-id": p.get("security-group-id"),
                          "group-name": p.get("group-name"), "deleted": True},
        example={"security-group-id": SG},
        params=(
            Param("security-group-id", GROUP_ID, "security group id", aliases=("group-id",)),
            Param("group-name", String(), "security group name (default VPC)",
                  aliases=("security-group-name",)),
        ),
        groups=(Group(("security-group-id", "group-name")),),
    ),
    Action(
        name="security-group-add-rule",
        rerun=Rerun.CONVERGES,
        doc="Allow traffic: add an inbound or outbound rule to a security group.",
        run=_rule_change("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"),
        operation="AuthorizeSecurityGroupIngress",
        operations=("AuthorizeSecurityGroupEgress",),
        presets={"AuthorizeSecurityGroupIngress": INBOUND,
                 "AuthorizeSecurityGroupEgress": OUTBOUND},
        resource="security-group",
        example={"security-group-id": SG, "from-port": 22, "cidr-block": "10.0.0.0/8"},
        params=RULE_PARAMS,
        groups=RULE_GROUPS,
        check=rule_permissions,
    ),
    Action(
        name="revoke-security-group-rule",
        rerun=Rerun.CONVERGES,
        doc="Remove an inbound or outbound rule from a security group.",
        run=_rule_change("RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"),
        operation="RevokeSecurityGroupIngress",
        operations=("RevokeSecurityGroupEgress",),
        presets={"RevokeSecurityGroupIngress": INBOUND,
                 "RevokeSecurityGroupEgress": OUTBOUND},
        resource="security-group",
        example={"security-group-id": SG, "from-port": 22, "cidr-block": "10.0.0.0/8"},
        params=RULE_PARAMS,
        groups=RULE_GROUPS,
        check=rule_permissions,
    ),
)
