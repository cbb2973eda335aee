"""One botocore session per process: the region lookup's is the client cache's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ec2_connector.config import Target
from ec2_connector.transport import regions, sessions
from ec2_connector.transport.clients import ClientCache


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "aws_config"
    config.write_text("[default]\nregion = eu-west-1\n[profile dev]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    regions._resolved_region.cache_clear()
    return config


def test_the_region_lookup_session_is_taken_once(aws_config: Path) -> None:
    seen = []
    assert sessions.read(None, lambda s: seen.append(s) or "x") == "x"
    assert sessions.take(None) is seen[0]
    assert sessions.take(None) is not seen[0]  # handed over once: it is the taker's now


def test_a_spare_for_another_profile_or_config_is_not_taken(
    aws_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    sessions.read("dev", seen.append)
    assert sessions.take(None) is not seen[0]
    sessions.read(None, seen.append)
    monkeypatch.setenv("AWS_PROFILE", "dev")  # a session reads it once: this one did not
    assert sessions.take(None) is not seen[1]
    monkeypatch.delenv("AWS_PROFILE")
    sessions.read(None, seen.append)
    stat = aws_config.stat()
    os.utime(aws_config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # edited since
    assert sessions.take(None) is not seen[2]


def test_a_client_builds_on_the_lookup_session(aws_config: Path) -> None:
    # A one-shot command resolves the region, then builds its client: one session, read
    # by the lookup and then prepared by the client cache.
    assert regions.from_aws_chain("dev") == "eu-central-1"
    seen = []
    sessions.read("dev", seen.append)
    cache = ClientCache(["DescribeInstances"])
    target = Target(region="eu-central-1", endpoint_url="http://127.0.0.1:9", access_key="a",
                    security_key="b", session_token=None, profile="dev", max_attempts=1,
                    retry_mode="standard")
    client = cache.client_for(target)
    assert client.meta.region_name == "eu-central-1"
    assert sessions.take("dev") is not seen[0]  # the cache took the spare
