"""Elastic IP and key pair actions against a real EC2-compatible endpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call
from tests.conftest import launch
from tests.harness.calls import PUBLIC_KEY, refused, run


def test_address_flow(call: Call, ec2: Any, image_id: str) -> None:
    allocated = run(call, "allocate-address", tags={"Name": "web"})
    assert allocated.exitcode == 0, allocated.message
    allocation_id, public_ip = allocated.get("allocation-id"), allocated.get("public-ip")
    held = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]
    assert held["PublicIp"] == public_ip and held["Domain"] == "vpc"

    instance_id = launch(ec2, image_id)[0]
    associated = run(call, "associate-address", allocation_id=allocation_id,
                     instance_id=instance_id)
    assert associated.exitcode == 0, associated.message
    association_id = associated.get("association-id")
    held = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]
    assert held["InstanceId"] == instance_id and held["AssociationId"] == association_id

    described = run(call, "describe-addresses", public_ip=public_ip)
    [item] = described.get("public-ips-set")
    assert item["instance-id"] == instance_id and item["allocation-id"] == allocation_id

    assert run(call, "disassociate-address", association_id=association_id).exitcode == 0
    assert not ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0].get(
        "InstanceId")
    released = run(call, "release-address", allocation_id=allocation_id)
    assert released.exitcode == 0 and released.get("released") is True
    assert ec2.describe_addresses()["Addresses"] == []


@pytest.mark.parametrize(
    ("action", "params", "text"),
    [
        ("associate-address", {"instance-id": "i-0123456789abcdef0"},
         "one of 'allocation-id' / 'public-ip' is required"),
        ("associate-address", {"allocation-id": "eipalloc-0123456789abcdef0",
                               "public-ip": "203.0.113.1", "instance-id": "i-0123456789abcdef0"},
         "give only one of"),
        ("associate-address", {"allocation-id": "eipalloc-0123456789abcdef0"},
         "one of 'instance-id' / 'network-interface-id'"),
        ("release-address", {"public-ip": "not-an-ip"}, "'public-ip' is malformed"),
        ("disassociate-address", {}, "one of 'association-id' / 'public-ip'"),
        ("create-key-pair", {}, "missing required parameter 'key-name'"),
        ("create-key-pair", {"key-name": "k", "key-type": "dsa"}, "'key-type' must be one of"),
        ("delete-key-pair", {}, "one of 'key-name' / 'key-pair-id'"),
        ("import-key-pair", {"key-name": "k"}, "'public-key-material'"),
    ],
)
def test_bad_address_and_key_input_sends_nothing(
    call: Call, ec2: Any, action: str, params: dict[str, Any], text: str
) -> None:
    refused(call, action, text, params)
    assert ec2.describe_addresses()["Addresses"] == []
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_key_pair_flow(call: Call, ec2: Any, tmp_path: Path) -> None:
    created = run(call, "create-key-pair", key_name="deploy", tags={"team": "ops"},
                  include_raw_body=True)
    assert created.exitcode == 0, created.message
    info = created.get("key-pair-info")
    material = info["key-material"]
    assert material.startswith("-----BEGIN") and len(material) > 200
    assert material not in str(created.meta) and "raw-body" in created.meta
    held = ec2.describe_key_pairs(KeyNames=["deploy"])["KeyPairs"][0]
    assert held["KeyFingerprint"] == info["key-fingerprint"]

    key_file = tmp_path / "second.pem"
    to_file = run(call, "create-key-pair", key_name="second", key_file=str(key_file))
    assert to_file.exitcode == 0, to_file.message
    assert "key-material" not in to_file.get("key-pair-info")
    assert to_file.get("key-pair-info")["key-file"] == str(key_file)
    assert key_file.read_text().startswith("-----BEGIN")
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    again = run(call, "create-key-pair", key_name="third", key_file=str(key_file))
    assert again.exitcode == 2 and "already exists" in again.message

    imported = run(call, "import-key-pair", key_name="mine", public_key_material=PUBLIC_KEY)
    assert imported.exitcode == 0, imported.message
    listed = run(call, "describe-key-pairs")
    assert {k["key-name"] for k in listed.get("key-pair-list")} == {"deploy", "second", "mine"}
    for name in ("deploy", "second", "mine"):
        assert run(call, "delete-key-pair", key_name=name).get("deleted") is True
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_key_material_never_stored_logged_or_in_raw_body(
    endpoint: str, ec2: Any, tmp_path: Path, debug_log: Path,
) -> None:
    home = tmp_path / "home"
    call = Call(config={"connectors": {"aws-ec2": {"endpoint-url": endpoint}}}, home=home)
    sync = (call.connector("aws-ec2").set("action", "create-key-pair").set("key-name", "s")
            .set("include-raw-body", True).sync())
    assert sync.exitcode == 0, sync.message
    secrets = [sync.get("key-pair-info")["key-material"]]

    refused = (call.connector("aws-ec2").set("action", "create-key-pair").set("key-name", "a")
               .async_())
    response = refused.wait(30_000)
    assert response.exitcode == 2 and "give 'key-file'" in response.message
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["s"]

    key_file = tmp_path / "a.pem"
    job = (call.connector("aws-ec2").set("action", "create-key-pair").set("key-name", "a")
           .set("key-file", str(key_file)).set("include-raw-body", True).async_())
    done = job.wait(30_000)
    assert done.exitcode == 0, done.message
    assert done.get("key-pair-info")["key-file"] == str(key_file)
    secrets.append(key_file.read_text())
    record = str(job.to_dict())
    call.close()

    # The PEM bodies' middle lines: what would show in any copy of the keys.
    needles = [line for s in secrets for line in s.splitlines()[2:4]]
    assert all(len(n) > 40 for n in needles)
    texts = {"sync raw-body": str(sync.meta), "async envelope": str(done.to_dict()),
             "job": record, "log": debug_log.read_text()}
    texts |= {f"home {p.name}": p.read_bytes().decode("latin-1")
              for p in home.rglob("*") if p.is_file()}
    assert len(texts) > 4
    leaks = [where for where, text in texts.items() for n in needles if n in text]
    assert not leaks, leaks
