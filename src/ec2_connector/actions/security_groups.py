"""Security group actions: create, describe, list, delete, add and revoke rules."""

from __future__ import annotations

import ipaddress
from typing import Any

from ..action import Action
from ..context import Context
from ..errors import InvalidRequest
from ..params import GROUP_ID, Choice, Cidr, Group, Integer, Mapping_, Param, String, StringList
from .shapes import tag_specs, tags_of


def create_security_group(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"GroupName": p["group-name"], "Description": p["group-description"]}
    if p.get("vpc-id"):
        args["VpcId"] = p["vpc-id"]
    if p.get("tags"):
        args["TagSpecifications"] = tag_specs("security-group", p["tags"])
    if p.get("dry-run"):
        args["DryRun"] = True
    result = ctx.call("CreateSecurityGroup", **args)
    return {"group-id": result["GroupId"]}


def _group_info(g: dict[str, Any]) -> dict[str, Any]:
    return {
        "group-id": g.get("GroupId"),
        "group-name": g.get("GroupName"),
        "group-description": g.get("Description"),
        "owner-id": g.get("OwnerId"),
        "vpc-id": g.get("VpcId"),
        "ip-permissions": [_permission(x) for x in g.get("IpPermissions", [])],
        "ip-permissions-egress": [_permission(x) for x in g.get("IpPermissionsEgress", [])],
        "tags": tags_of(g),
    }


def _permission(perm: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocol": perm.get("IpProtocol"),
        "from-port": perm.get("FromPort"),
        "to-port": perm.get("ToPort"),
        "cidr-blocks": [r["CidrIp"] for r in perm.get("IpRanges", [])],
        "ipv6-cidr-blocks": [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])],
        "group-ids": [g.get("GroupId") for g in perm.get("UserIdGroupPairs", [])],
    }


def _groups(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    if not args.get("GroupIds") and not args.get("GroupNames"):
        args["MaxResults"] = 1000
    return [
        _group_info(g)
        for page in ctx.pages("DescribeSecurityGroups", **args)
        for g in page.get("SecurityGroups", [])
    ]


def describe_security_group(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    args = {"GroupIds": p.get("group-id"), "GroupNames": p.get("group-name")}
    return {"security-group-info": _groups(ctx, {k: v for k, v in args.items() if v})}


def list_security_group(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if p.get("filters"):
        args["Filters"] = [{"Name": k, "Values": v} for k, v in p["filters"].items()]
    return {"security-group-list": _groups(ctx, args)}


def delete_security_group(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if p.get("group-id"):
        args["GroupId"] = p["group-id"]
    else:
        args["GroupName"] = p["group-name"]
    if p.get("dry-run"):
        args["DryRun"] = True
    ctx.call("DeleteSecurityGroup", **args)
    return {"group-id": p.get("group-id"), "group-name": p.get("group-name"), "deleted": True}


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


def _rule_change(ingress: str, egress: str) -> Any:
    def run(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
        perm = rule_permission(p)
        outbound = p["direction"] == "outbound"
        args: dict[str, Any] = {"GroupId": p["security-group-id"], "IpPermissions": [perm]}
        if p.get("dry-run"):
            args["DryRun"] = True
        result = ctx.call(egress if outbound else ingress, **args)
        rule_ids = [r.get("SecurityGroupRuleId") for r in result.get("SecurityGroupRules", [])]
        return {
            "group-id": p["security-group-id"],
            "direction": p["direction"],
            "rule": _permission(perm),
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


PORT = Integer(-1, 65535)
GROUP_NAMES = Param("group-name", StringList(), "security group names (default VPC)")
RULE_PARAMS = (
    Param("security-group-id", GROUP_ID, "the group to change", required=True,
          aliases=("group-id",)),
    Param("direction", Choice("inbound", "outbound"), "inbound or outbound",
          default="inbound"),
    Param("protocol", _Protocol(), "tcp, udp, icmp or all", default="tcp"),
    Param("from-port", PORT, "first port (icmp: type)"),
    Param("to-port", PORT, "last port (default: from-port; icmp: code)"),
    Param("cidr-block", Cidr(), "source or destination network, e.g. 203.0.113.0/24"),
    Param("ip-range", Cidr(), "the same as cidr-block, Flint's older name for it"),
)
RULE_GROUPS = (Group(("cidr-block", "ip-range")),)

ACTIONS = (
    Action(
        name="create-security-group",
        doc="Create a security group; returns its id.",
        run=create_security_group,
        operations=("CreateSecurityGroup",),
        result="group-id",
        params=(
            Param("group-name", String(), "name of the group", required=True),
            Param("group-description", String(), "description of the group", required=True,
                  aliases=("description",)),
            Param("vpc-id", String(), "VPC to create it in (default VPC if absent)"),
            Param("tags", Mapping_(), "tags applied at creation: key -> value"),
        ),
    ),
    Action(
        name="describe-security-group",
        doc="Describe security groups by id or by name.",
        run=describe_security_group,
        operations=("DescribeSecurityGroups",),
        result="security-group-info",
        mutating=False,
        params=(
            Param("group-id", StringList(GROUP_ID), "security group ids"),
            GROUP_NAMES,
        ),
        groups=(Group(("group-id", "group-name"), exactly_one=False),),
    ),
    Action(
        name="list-security-group",
        doc="List every security group in the region (optionally filtered).",
        run=list_security_group,
        operations=("DescribeSecurityGroups",),
        result="security-group-list",
        mutating=False,
        params=(Param("filters", Mapping_("string-list"), "EC2 filters: name -> values"),),
    ),
    Action(
        name="delete-security-group",
        doc="Delete a security group by id or by name.",
        run=delete_security_group,
        operations=("DeleteSecurityGroup",),
        params=(
            Param("group-id", GROUP_ID, "security group id"),
            Param("group-name", String(), "security group name (default VPC)"),
        ),
        groups=(Group(("group-id", "group-name")),),
    ),
    Action(
        name="security-group-add-rule",
        doc="Allow traffic: add an inbound or outbound rule to a security group.",
        run=_rule_change("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"),
        operations=("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"),
        params=RULE_PARAMS,
        groups=RULE_GROUPS,
        check=rule_permission,
    ),
    Action(
        name="revoke-security-group-rule",
        doc="Remove an inbound or outbound rule from a security group.",
        run=_rule_change("RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"),
        operations=("RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"),
        params=RULE_PARAMS,
        groups=RULE_GROUPS,
        check=rule_permission,
    ),
)
