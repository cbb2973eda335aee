"""Security group actions against the endpoint, read back with plain boto3."""

from __future__ import annotations

from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.actions.tokens import TOKEN_TAG, own_tags
from tests.harness.calls import run


def groups(ec2: Any) -> dict[str, dict[str, Any]]:
    return {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}


def test_create_describe_list_delete(call: Call, ec2: Any) -> None:
    created = run(call, "create-security-group", group_name="web", group_description="web tier",
                  tags={"env": "test"})
    assert created.exitcode == 0, created.message
    gid = created.get("group-id")
    held = groups(ec2)[gid]
    assert held["GroupName"] == "web" and held["Description"] == "web tier"

    by_id = run(call, "describe-security-group", group_id=gid)
    info = by_id.get("security-group-info")
    assert len(info) == 1
    assert set(info[0]) == {
        "group-id", "group-name", "group-description", "owner-id", "vpc-id", "ip-permissions",
        "ip-permissions-egress", "tags",
    }
    assert info[0]["group-name"] == "web" and own_tags(info[0]["tags"]) == {"env": "test"}
    assert TOKEN_TAG in info[0]["tags"]  # a rerun finds the group by it
    by_name = run(call, "describe-security-group", group_name="web")
    assert by_name.get("security-group-info")[0]["group-id"] == gid

    listed = run(call, "list-security-group")
    assert {g["group-id"] for g in listed.get("security-group-list")} == set(groups(ec2))

    deleted = run(call, "delete-security-group", group_id=gid)
    assert deleted.exitcode == 0
    assert gid not in groups(ec2)
    again = run(call, "delete-security-group", group_id=gid)
    assert again.exitcode == 6 and "InvalidGroup.NotFound" in again.message


def test_delete_by_name(call: Call, ec2: Any) -> None:
    ec2.create_security_group(GroupName="tmp", Description="x")
    response = run(call, "delete-security-group", group_name="tmp")
    assert response.exitcode == 0
    assert "tmp" not in {g["GroupName"] for g in groups(ec2).values()}


def test_add_and_revoke_rules(call: Call, ec2: Any) -> None:
    gid = ec2.create_security_group(GroupName="ssh", Description="x")["GroupId"]
    added = run(call, "security-group-add-rule", group_id=gid, protocol="tcp", from_port=22,
                cidr_block="203.0.113.0/24")
    assert added.exitcode == 0, added.message
    perms = groups(ec2)[gid]["IpPermissions"]
    assert perms[0]["FromPort"] == 22 and perms[0]["ToPort"] == 22
    assert perms[0]["IpRanges"][0]["CidrIp"] == "203.0.113.0/24"
    out = run(call, "security-group-add-rule", security_group_id=gid, direction="outbound",
              protocol="udp", from_port="53", to_port="53", ip_range="10.0.0.0/8")
    assert out.exitcode == 0
    egress = groups(ec2)[gid]["IpPermissionsEgress"]
    assert any(p.get("FromPort") == 53 and p["IpProtocol"] == "udp" for p in egress)

    revoked = run(call, "revoke-security-group-rule", group_id=gid, protocol="tcp", from_port=22,
                  cidr_block="203.0.113.0/24")
    assert revoked.exitcode == 0
    assert groups(ec2)[gid]["IpPermissions"] == []


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"protocol": "tcp", "from-port": 22},
             "one of 'cidr-block' / 'ip-range' / 'ip-permissions' is required"),
        ({"protocol": "tcp", "from-port": 22, "cidr-block": "10.0.0.0/8",
          "ip-range": "10.0.0.0/8"}, "give only one of 'cidr-block' / 'ip-range'"),
        ({"protocol": "tcp", "cidr-block": "10.0.0.0/8"}, "'from-port' is required"),
        ({"protocol": "tcp", "from-port": 80, "to-port": 22, "cidr-block": "10.0.0.0/8"},
         "'to-port' must not be less"),
        ({"protocol": "tcp", "from-port": 70000, "cidr-block": "10.0.0.0/8"}, "'from-port'"),
        ({"protocol": "smtp", "from-port": 25, "cidr-block": "10.0.0.0/8"}, "'protocol'"),
        ({"direction": "sideways", "from-port": 25, "cidr-block": "10.0.0.0/8"}, "'direction'"),
        ({"from-port": 25, "cidr-block": "10.0.0.0/33"}, "'cidr-block' is not a CIDR block"),
    ],
)
def test_bad_rules_change_nothing(
    call: Call, ec2: Any, params: dict[str, Any], text: str
) -> None:
    gid = ec2.create_security_group(GroupName="g", Description="x")["GroupId"]
    before = groups(ec2)[gid]
    response = run(call, "security-group-add-rule", group_id=gid, **params)
    assert response.exitcode == 2, response.message
    assert text in response.message
    assert groups(ec2)[gid] == before


def test_group_id_checks(call: Call, ec2: Any) -> None:
    missing = run(call, "delete-security-group")
    assert missing.exitcode == 2 and "one of 'security-group-id' / 'group-name'" in missing.message
    malformed = run(call, "delete-security-group", group_id="web")
    assert malformed.exitcode == 2 and "'security-group-id' is malformed" in malformed.message
    ghost = run(call, "describe-security-group", group_id="sg-0123456789abcdef0")
    assert ghost.exitcode == 6
    nothing = run(call, "create-security-group", group_name="x")
    assert nothing.exitcode == 2 and "'group-description'" in nothing.message
    assert {g["GroupName"] for g in groups(ec2).values()} == {"default"}


def test_create_group_dry_run(call: Call, ec2: Any) -> None:
    response = run(call, "create-security-group", group_name="dry", group_description="x",
                   dry_run=True)
    assert response.exitcode == 0 and response.get("dry-run") is True
    assert "dry" not in {g["GroupName"] for g in groups(ec2).values()}


@pytest.mark.parametrize(("cidr", "meant"), [
    ("203.0.113.5/0", "0.0.0.0/0"), ("10.0.0.5/8", "10.0.0.0/8"),
    ("203.0.113.5/24", "203.0.113.0/24"), ("2001:db8::1/32", "2001:db8::/32"),
])
def test_cidr_with_host_bits_is_refused_with_the_network_meant(
    call: Call, ec2: Any, cidr: str, meant: str
) -> None:
    """Why: cidr-block=203.0.113.5/0 opened a port to 0.0.0.0/0, exit 0."""
    gid = run(call, "create-security-group", group_name="cidr", group_description="x") \
        .get("group-id")
    before = groups(ec2)[gid]["IpPermissions"]
    response = run(call, "security-group-add-rule", security_group_id=gid, from_port=22,
                   cidr_block=cidr)
    assert response.exitcode == 2, response.message
    assert f"{cidr} has host bits set; did you mean {meant}" in response.message
    assert groups(ec2)[gid]["IpPermissions"] == before


def test_a_bare_address_is_one_host(call: Call, ec2: Any) -> None:
    gid = run(call, "create-security-group", group_name="host", group_description="x") \
        .get("group-id")
    added = run(call, "security-group-add-rule", security_group_id=gid, from_port=22,
                cidr_block="203.0.113.5")
    assert added.exitcode == 0, added.message
    ranges = [r["CidrIp"] for p in groups(ec2)[gid]["IpPermissions"] for r in p["IpRanges"]]
    assert ranges == ["203.0.113.5/32"]


@pytest.mark.parametrize("spelling", ["security-group-id", "group-id", "security_group_id"])
def test_one_name_for_a_group_id_in_every_group_action(
    call: Call, ec2: Any, spelling: str
) -> None:
    gid = run(call, "create-security-group", security_group_name="spell",
              group_description="x").get("group-id")
    assert gid in groups(ec2)
    described = call.connector("aws-ec2").set("action", "describe-security-group") \
        .set(spelling, gid).sync()
    assert described.exitcode == 0 and described.get("security-group-info")[0]["group-id"] == gid
    by_name = call.connector("aws-ec2").set("action", "describe-security-group") \
        .set("security-group-name", "spell").sync()
    assert by_name.get("security-group-info")[0]["group-id"] == gid
    deleted = call.connector("aws-ec2").set("action", "delete-security-group") \
        .set(spelling, gid).sync()
    assert deleted.exitcode == 0 and deleted.get("group-id") == gid
    assert gid not in groups(ec2)
