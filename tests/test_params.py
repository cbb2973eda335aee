"""Conversion contracts of the parameter types."""

from __future__ import annotations

from typing import Any

import pytest

from ec2_connector.actions import catalog
from ec2_connector.errors import InvalidRequest
from ec2_connector.spec.params import (
    INSTANCE_ID,
    Boolean,
    Cidr,
    Integer,
    Mapping_,
    StringList,
    canonical,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["i-0123456789abcdef0"], ["i-0123456789abcdef0"]),
        ("i-0123456789abcdef0", ["i-0123456789abcdef0"]),
        ("i-0123456789abcdef0, i-12345678", ["i-0123456789abcdef0", "i-12345678"]),
        ('["i-12345678"]', ["i-12345678"]),
        (["i-12345678", "i-12345678"], ["i-12345678"]),
    ],
)
def test_list_forms(value: Any, expected: list[str]) -> None:
    assert StringList(INSTANCE_ID).convert(value, "instance-id") == expected


@pytest.mark.parametrize("value", ["bogus", "i-xyz", ["i-0123"], 5, {"a": 1}, [None]])
def test_malformed_instance_ids(value: Any) -> None:
    with pytest.raises(InvalidRequest, match="instance-id"):
        StringList(INSTANCE_ID).convert(value, "instance-id")


def test_numbers_and_booleans_accept_strings() -> None:
    assert Integer(1).convert("3", "n") == 3
    assert Integer(1).convert(3.0, "n") == 3
    assert Boolean().convert("true", "b") is True
    assert Boolean().convert("No", "b") is False
    assert Boolean().convert(0, "b") is False
    for bad in ("x", 2, None, [1]):
        with pytest.raises(InvalidRequest, match="'b'"):
            Boolean().convert(bad, "b")
    for bad in ("1.5", True, "", "0"):
        with pytest.raises(InvalidRequest, match="'n'"):
            Integer(1).convert(bad, "n")


def test_mapping_and_cidr() -> None:
    assert Mapping_().convert('{"a": 1}', "tags") == {"a": "1"}
    assert Mapping_("string-list").convert({"k": "a,b"}, "filters") == {"k": ["a", "b"]}
    with pytest.raises(InvalidRequest, match="tags"):
        Mapping_().convert(["a"], "tags")
    assert Cidr().convert("10.0.0.0/8", "cidr-block") == "10.0.0.0/8"
    assert Cidr().convert("10.0.0.5", "cidr-block") == "10.0.0.5/32"
    with pytest.raises(InvalidRequest, match=r"host bits set; did you mean 10\.0\.0\.0/8"):
        Cidr().convert("10.0.0.1/8", "cidr-block")
    assert Cidr().convert("2001:db8::/32", "cidr-block") == "2001:db8::/32"
    with pytest.raises(InvalidRequest, match="cidr-block"):
        Cidr().convert("300.1.1.1/8", "cidr-block")


def test_underscore_spelling_is_the_hyphenated_parameter() -> None:
    assert canonical("instance_id") == "instance-id"
    action = catalog.get("stop-instances")
    assert action.validate({"instance_id": "i-12345678"})["instance-id"] == ["i-12345678"]
    with pytest.raises(InvalidRequest, match="given twice"):
        action.validate({"instance_id": "i-12345678", "instance-id": "i-12345678"})


def test_catalog_comes_from_declarations() -> None:
    names = catalog.names()
    for name in (
        "create-instance", "start-instances", "stop-instances", "terminate-instances",
        "reboot-instances", "describe-instances", "list-instances", "modify-instance-attribute",
        "create-security-group", "describe-security-group", "list-security-group",
        "delete-security-group", "security-group-add-rule", "revoke-security-group-rule",
        "create-tags", "delete-tags", "describe-tags",
    ):
        assert name in names
        entry = catalog.get(name).describe()
        assert entry["doc"]
        assert all(p["doc"] for p in entry["parameters"])
    mutating = {a["name"] for a in catalog.describe() if a["mutating"]}
    for entry in catalog.describe():
        has_dry_run = any(p["name"] == "dry-run" for p in entry["parameters"])
        # Mutating actions take dry-run, except where EC2 has none (test_declarations).
        no_dry_run = {"modify-vpc-attribute", "associate-vpc-cidr-block",
                      "disassociate-vpc-cidr-block", "associate-subnet-ipv6-cidr-block",
                      "disassociate-subnet-ipv6-cidr-block"}
        assert has_dry_run == (entry["name"] in mutating - no_dry_run)
    assert {"security-key", "session-token", "user-data"} <= catalog.secret_names()


ENDPOINTS = [
    "https://ec2.us-east-1.amazonaws.com", "http://127.0.0.1:8080", "http://a.",
    "http://xn--e.com/path?q#f", "http://user:pw@host:80/p", "http://h:0",
    "http://[::1]:80", "http://[fe80::1%25eth0]", "http://[fe80::1%eth0]:5",
    "http://[::ffff:1.2.3.4]", "http://[::]", "http://", "http://:80", "http://.",
    "http://a..b", "http://-a", "http://a-", "http://exa_mple.com", "http://é.com",
    "http://ex ample.com", "http://ex\tample.com", "http://example.com\n", "http:///path",
    "http://@", "http://" + "a" * 64, "http://" + "a." * 127 + "b", "http://" + "a." * 128,
]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_endpoint_hosts_are_botocore_s(url: str) -> None:
    # netparams checks a host name without botocore.utils (an import of ~50 ms); what it
    # accepts must stay exactly what botocore's own checks accept.
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    from ec2_connector.spec.netparams import _valid_host

    expected = bool(is_valid_endpoint_url(url) or is_valid_ipv6_endpoint_url(url))
    assert _valid_host(url) is expected
