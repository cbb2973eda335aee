"""The compiled EC2 parser gives botocore's answer on responses EC2 really sent: bodies
public projects captured for their own tests, kept byte for byte in `captured/` with
their source and licence in `captured/SOURCES.md`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import XMLParser

import botocore.session
import pytest

from ec2_connector.actions import catalog
from ec2_connector.transport.xmlparser import CompiledEC2Parser
from tests.harness.parsers import assert_same, ok

EC2 = botocore.session.get_session().get_service_model("ec2")
CAPTURED = Path(__file__).parent / "captured"
LICENCES = {"Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause"}
ERROR = "error"
# An error body answers no operation of its own: it is parsed against these outputs.
ERROR_OPERATIONS = ("DescribeInstances", "StopInstances", "CreateTags")
KINDS = {"captured", "aws-example"}
# A file's name: the fixture set it comes from, `--`, the fixture's own file name.
SETS = {"libcloud": "apache/libcloud", "botocore": "boto/botocore",
        "botocore-errors": "boto/botocore", "jclouds-ec2": "apache/jclouds",
        "jclouds-aws-ec2": "apache/jclouds", "boto": "boto/boto"}
# What the connector calls most, each answered by at least one captured body.
CORE = {"DescribeInstances", "DescribeVolumes", "DescribeSnapshots", "DescribeImages",
        "DescribeSecurityGroups", "DescribeAddresses", "DescribeKeyPairs", "DescribeVpcs",
        "DescribeSubnets", "DescribeTags", "DescribeRegions", "DescribeAvailabilityZones",
        "RunInstances", "StartInstances", "StopInstances", "TerminateInstances",
        "CreateTags", "CreateVolume", "AttachVolume", "CreateSecurityGroup"}
ROW = re.compile(r"^\| (?P<file>[^ |]+\.xml) \| (?P<operation>\w+) \| (?P<kind>[\w-]+) "
                 r"\| (?P<repo>[\w.-]+/[\w.-]+) \| (?P<path>[^ |]+) \| (?P<commit>[0-9a-f]{40}) "
                 r"\| (?P<licence>[\w.-]+) \|$")


def _listed() -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for line in (CAPTURED / "SOURCES.md").read_text().splitlines():
        found = ROW.match(line)
        if found is not None:
            assert found["file"] not in rows, f"{found['file']} listed twice"
            rows[found["file"]] = found.groupdict()
    return rows


LISTED = _listed()
FILES = sorted(path.name for path in CAPTURED.glob("*.xml"))


def _root(body: bytes) -> str:
    parser = XMLParser()
    parser.feed(body)
    return re.sub("{.*}", "", parser.close().tag)


def test_every_body_is_listed_with_its_source_and_every_listed_body_is_here() -> None:
    assert set(LISTED) == set(FILES)
    kinds = [row["kind"] for row in LISTED.values()]
    assert set(kinds) <= KINDS
    assert kinds.count("captured") >= 100  # answers off the wire, not only AWS's examples
    table_rows = [line for line in (CAPTURED / "SOURCES.md").read_text().splitlines()
                  if line.startswith("| ") and ".xml |" in line.split(" | ")[0] + " |"]
    assert len(table_rows) == len(LISTED)  # no row the pattern above failed to read
    for name, row in LISTED.items():
        assert row["licence"] in LICENCES, name
        fixture_set, _, original = name.partition("--")
        assert SETS.get(fixture_set) == row["repo"], name
        source, _, line = row["path"].partition("#L")
        folder, base = source.split("/")[-2:]
        if line:  # a string in a test module: named by the module and what holds it
            assert original.startswith(f"{folder}.{base.removesuffix('.py')}."), name
        else:
            assert original == base, name


def test_each_body_answers_the_operation_it_is_listed_under() -> None:
    for name, row in LISTED.items():
        root = _root((CAPTURED / name).read_bytes())
        if row["operation"] == ERROR:
            assert root == "Response", name
        else:
            assert root.removesuffix("Response") == row["operation"], name
            assert row["operation"] in EC2.operation_names, name
    operations = {row["operation"] for row in LISTED.values()}
    assert CORE | {ERROR} <= operations


def _responses(name: str) -> list[tuple[dict[str, Any], Any]]:
    body = (CAPTURED / name).read_bytes()
    operation = LISTED[name]["operation"]
    if operation == ERROR:
        return [(ok(body, 400), EC2.operation_model(op).output_shape)
                for op in ERROR_OPERATIONS]
    return [(ok(body), EC2.operation_model(operation).output_shape)]


@pytest.mark.parametrize("name", FILES)
def test_a_captured_body_parses_as_botocore_parses_it(name: str) -> None:
    for response, shape in _responses(name):
        parsed = assert_same(response, shape)
        if response["status_code"] == 200:
            assert isinstance(parsed, dict) and "ResponseMetadata" in parsed
        else:
            assert parsed["Error"]["Code"]


def test_the_compiled_functions_themselves_parse_every_success_body() -> None:
    """Not botocore's parser, reached by a fallback: the compiled path gives the answer."""
    compiled, fell_back = 0, []
    for name in FILES:
        for response, shape in _responses(name):
            if response["status_code"] != 200 or shape is None:
                continue
            parser = CompiledEC2Parser()
            fn = parser.compiled(shape)
            assert fn is not None, name
            try:
                mine = parser.parse_with(fn, response["body"])
            except Exception:  # a body the compiled functions leave to botocore
                fell_back.append(name)
                continue
            theirs = assert_same(response, shape)
            # botocore adds the status and headers after the body is parsed
            metadata = {k: v for k, v in theirs["ResponseMetadata"].items()
                        if k == "RequestId"}
            assert mine.pop("ResponseMetadata", {}) == metadata, name
            assert mine == {k: v for k, v in theirs.items() if k != "ResponseMetadata"}, name
            compiled += 1
    assert fell_back == []
    assert compiled >= 200


def test_captured_bodies_read_as_any_catalog_operation_s_answer_are_botocore_s() -> None:
    """A body read against another operation's output (members missing, tags unknown):
    real XML down the paths a matching body never takes."""
    shapes = {shape.name: shape for op in catalog.operations()
              if (shape := EC2.operation_model(op).output_shape) is not None}
    assert len(shapes) >= 30
    for name in FILES:
        response = ok((CAPTURED / name).read_bytes())
        for shape in shapes.values():
            assert_same(response, shape)
