"""Connector configuration and the AWS chain: refuse instead of guessing.

Every call here goes to a loopback capture server (or nowhere): the region a call was
signed for is read back from the Authorization header the server received.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call
from tests.harness import CaptureServer

AWS_CONFIG = """\
[default]
region = eu-west-1
[profile dev]
region = eu-central-1
aws_access_key_id = AKIAPROFILEDEV000000
aws_secret_access_key = profile-dev-secret
[profile broken]
source_profile = nosuch
role_arn = arn:aws:iam::123456789012:role/x
"""


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "aws_config"
    config.write_text(AWS_CONFIG)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no_credentials"))
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    return config


def signed_regions(server: CaptureServer) -> list[str]:
    """The region scope of every request's SigV4 signature."""
    found = []
    for _, headers, _ in server.captured:
        match = re.search(r"Credential=[^/]+/\d+/([^/]+)/ec2/", headers.get("Authorization", ""))
        assert match, headers
        found.append(match[1])
    return found


def list_instances(config: dict[str, Any], **extra: Any) -> Any:
    return Call(config).execute("aws-ec2", {"action": "list-instances", **extra})


@pytest.mark.parametrize("document", [
    {"aws-ec2": {"endpoint-url": "http://127.0.0.1:9"}},
    {"aws-ec2": {}, "other": {}},
])
def test_config_without_connectors_wrapper_is_refused(
    document: dict[str, Any], capture: CaptureServer, tmp_path: Path
) -> None:
    """Why: `{"aws-ec2": {...}}` was ignored, and the call went to AWS itself."""
    response = list_instances(document, **{"endpoint-url": capture.url})
    assert response.exitcode == 2
    assert 'config has no "connectors" object (found "aws-ec2"' in response.message
    assert 'wrap it: {"connectors": {...}}' in response.message
    assert capture.captured == []
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(document))
    assert list_instances(str(path)).exitcode == 2  # the same from a file


def test_unknown_top_level_key_is_refused_with_a_suggestion(capture: CaptureServer) -> None:
    document = {"connectors": {}, "conectors": {"aws-ec2": {}}}
    response = list_instances(document, **{"endpoint-url": capture.url})
    assert response.exitcode == 2
    assert "'conectors'" in response.message and "did you mean 'connectors'" in response.message
    assert capture.captured == []


def test_config_values_are_checked_like_request_values(capture: CaptureServer) -> None:
    bad = {"connectors": {"aws-ec2": {"region": 5.5, "endpoint-url": capture.url}}}
    response = list_instances(bad)
    assert response.exitcode == 2 and "connector 'aws-ec2'" in response.message
    assert capture.captured == []


@pytest.mark.parametrize(("how", "expected", "source"), [
    ("default-profile", "eu-west-1", "aws-config"),
    ("connector-profile", "eu-central-1", "aws-config"),
    ("request-profile", "eu-central-1", "aws-config"),
    ("AWS_REGION", "ap-south-1", "aws-config"),
    ("connector-region", "sa-east-1", "connector"),
    ("request-region", "ca-central-1", "request"),
])
def test_region_chain(
    how: str, expected: str, source: str, aws_files: Path, capture: CaptureServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why: `[default] region = eu-west-1`, AWS_PROFILE=dev or a connector profile all
    went to us-east-1; there was no `profile` request parameter."""
    connector: dict[str, Any] = {"endpoint-url": capture.url}
    extra: dict[str, Any] = {}
    if how == "connector-profile":
        connector["profile"] = "dev"
    if how == "request-profile":
        extra["profile"] = "dev"
    if how == "AWS_REGION":
        monkeypatch.setenv("AWS_REGION", "ap-south-1")
    if how == "connector-region":
        connector["region"] = "sa-east-1"
    if how == "request-region":
        connector["region"], extra["region"] = "sa-east-1", "ca-central-1"
    response = list_instances({"connectors": {"aws-ec2": connector}}, **extra)
    assert response.exitcode == 0, response.message
    assert response.meta["region"] == expected
    assert response.meta["region-source"] == source
    assert signed_regions(capture) == [expected]


def test_aws_profile_in_the_environment_gives_region_and_keys(
    aws_files: Path, capture: CaptureServer
) -> None:
    # A fresh process: botocore reads AWS_PROFILE when its session is made.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ACCESS")}
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    env["AWS_PROFILE"] = "dev"
    result = subprocess.run(
        [sys.executable, "-m", "ec2_connector.cli", "call", "list-instances",
         f"endpoint-url={capture.url}"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    meta = json.loads(result.stdout)["meta"]
    assert (meta["region"], meta["region-source"]) == ("eu-central-1", "aws-config")
    assert signed_regions(capture) == ["eu-central-1"]
    assert "Credential=AKIAPROFILEDEV000000/" in capture.captured[0][1]["Authorization"]


def test_without_any_region_us_east_1_is_the_default(
    aws_files: Path, capture: CaptureServer
) -> None:
    aws_files.write_text("[default]\n")
    response = list_instances({"connectors": {"aws-ec2": {"endpoint-url": capture.url}}})
    assert response.exitcode == 0, response.message
    assert (response.meta["region"], response.meta["region-source"]) == ("us-east-1", "default")


def test_a_profile_signs_with_its_own_keys(aws_files: Path, capture: CaptureServer) -> None:
    response = list_instances({"connectors": {"aws-ec2": {"endpoint-url": capture.url}}},
                              profile="dev")
    assert response.exitcode == 0, response.message
    assert "Credential=AKIAPROFILEDEV000000/" in capture.captured[0][1]["Authorization"]


@pytest.mark.parametrize(("setting", "botocore_text"), [
    ({"AWS_PROFILE": "nosuch"}, "The config profile (nosuch) could not be found"),
    ({"AWS_PROFILE": "broken"},
     'The source_profile "nosuch" referenced in the profile "broken" does not exist'),
])
def test_aws_configuration_errors_are_one_line_exitcode_5(
    setting: dict[str, str], botocore_text: str, aws_files: Path, capture: CaptureServer,
) -> None:
    """Why: a missing profile printed a ~50-line traceback; a broken source_profile ended
    as "unexpected failure: InvalidConfigError" (exitcode 1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ACCESS")}
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    env.update(setting)
    result = subprocess.run(
        [sys.executable, "-m", "ec2_connector.cli", "call", "list-instances",
         f"endpoint-url={capture.url}", "region=us-east-1"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and botocore_text in lines[0], result.stderr
    envelope = json.loads(result.stdout)
    assert botocore_text in envelope["message"]
    assert capture.captured == []


def test_unparsable_credentials_file_is_exitcode_5(
    aws_files: Path, capture: CaptureServer, tmp_path: Path,
) -> None:
    broken = tmp_path / "credentials"
    broken.write_text("[default\naws_access_key_id = x\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ACCESS")}
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(broken)
    result = subprocess.run(
        [sys.executable, "-m", "ec2_connector.cli", "call", "list-instances",
         f"endpoint-url={capture.url}", "region=us-east-1"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr and str(broken) in result.stderr
    assert capture.captured == []


def test_unknown_region_is_refused_with_a_suggestion(capture: CaptureServer) -> None:
    """Why: region=us-east-9 was "endpoint unreachable" against AWS."""
    response = Call({}).execute("aws-ec2", {"action": "list-instances", "region": "us-east-9"})
    assert response.exitcode == 2
    assert "unknown region 'us-east-9' (did you mean 'us-east-" in response.message
    assert response.meta["attempts"] == 0


def test_any_well_formed_region_with_an_explicit_endpoint(capture: CaptureServer) -> None:
    config = {"connectors": {"aws-ec2": {"endpoint-url": capture.url, "region": "local-1"}}}
    response = list_instances(config)
    assert response.exitcode == 0, response.message
    assert signed_regions(capture) == ["local-1"]
    assert list_instances(config, region="us_east").exitcode == 2
    # Text with spaces or commas is a list of regions (as a shell gives them), each one
    # checked: one malformed name refuses the whole call, nothing sent.
    assert list_instances(config, region="local-1 us_east").exitcode == 2
    assert signed_regions(capture) == ["local-1"]
