"""A single record on a terminal: aligned `key: value` lines with JSON values (no Python
reprs), a record inside it as an indented block, key material on lines of its own."""

from __future__ import annotations

import re
from typing import Any

from tests.harness.cli import run_tty


def value_column(lines: list[str]) -> set[int]:
    """Where the value starts on each `key: value` line."""
    found = (re.match(r"(\s*[\w:-]+:\s+)\S", line) for line in lines)
    return {len(m.group(1)) for m in found if m}


def test_a_record_is_aligned_lines_with_json_values(env: dict[str, str], ec2: Any) -> None:
    made = run_tty(env, "call", "create-volume", "availability-zone=us-east-1a", "size:=8",
                   columns=120)
    assert made.returncode == 0, made.stderr
    lines = made.plain.splitlines()
    assert lines[0].endswith(":") and not lines[0].startswith(" ")  # the record's own key
    block = [line for line in lines[1:] if re.match(r"  [a-z]", line)]
    fields = dict(line.split(":", 1) for line in block)
    assert {k.strip(): v.strip() for k, v in fields.items()}["encrypted"] == "false"
    assert "False" not in made.plain and "None" not in made.plain and "=" not in made.plain
    assert len(value_column(block)) == 1  # one column of values
    [volume] = ec2.describe_volumes()["Volumes"]
    assert any(re.fullmatch(rf"  volume-id:\s+{volume['VolumeId']}", line) for line in lines)
    assert any(re.fullmatch(r"  size:\s+8", line) for line in lines)


def test_key_material_is_not_glued_to_the_fingerprint(env: dict[str, str], ec2: Any) -> None:
    made = run_tty(env, "call", "create-key-pair", "key-name=aligned", columns=120)
    assert made.returncode == 0, made.stderr
    lines = made.plain.splitlines()
    [fingerprint] = [line for line in lines if "key-fingerprint:" in line]
    stored = ec2.describe_key_pairs(KeyNames=["aligned"])["KeyPairs"][0]["KeyFingerprint"]
    assert fingerprint.split() == ["key-fingerprint:", stored]
    begin = next(n for n, line in enumerate(lines) if "-----BEGIN" in line)
    end = next(n for n, line in enumerate(lines) if "-----END" in line)
    start = fingerprint.index(stored)
    assert lines[begin].index("-----BEGIN") == start and lines[begin].startswith("  key-material:")
    body = lines[begin + 1:end + 1]
    assert len(body) > 5 and all(line[:start].strip() == "" and line[start] != " "
                                 for line in body)
