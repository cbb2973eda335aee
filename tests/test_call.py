"""The public contract of Call and Response: config, precedence, meta, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import ec2_connector
from ec2_connector import Call
from tests.conftest import MotoServer, all_instances, free_port, launch

SECRET = "SuperSecretKeyValue/0123456789abcdefghij"
TOKEN = "SessionTokenValue0123456789"


def test_public_names() -> None:
    assert ec2_connector.__all__ == sorted(ec2_connector.__all__)
    for name in ec2_connector.__all__:
        assert hasattr(ec2_connector, name)


def test_config_from_file_dict_and_env(
    endpoint: str, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "connectors.json"
    path.write_text(json.dumps(config))
    for c in (Call(config=str(path)), Call(config=config)):
        response = c.connector("aws-ec2").set("action", "list-instances").sync()
        assert response.exitcode == 0 and response.meta["endpoint"] == endpoint
    monkeypatch.setenv("EC2_CONNECTOR_CONFIG", str(path))
    named = {"connectors": {"prod": {**config["connectors"]["aws-ec2"]}}}
    path.write_text(json.dumps(named))
    response = Call().connector("prod").set("action", "list-instances").sync()
    assert response.exitcode == 0 and response.meta["connector"] == "prod"


def test_unknown_connector_and_bad_config(config: dict[str, Any], tmp_path: Path) -> None:
    unknown = Call(config=config).connector("aws-ec3").set("action", "list-instances").sync()
    assert unknown.exitcode == 2 and "unknown connector 'aws-ec3'" in unknown.message
    assert "did you mean 'aws-ec2'" in unknown.message
    missing = Call(config=str(tmp_path / "nope.json")).connector("aws-ec2").sync()
    assert missing.exitcode == 2 and "not found" in missing.message
    (tmp_path / "bad.json").write_text("{not json")
    bad = Call(config=str(tmp_path / "bad.json")).connector("aws-ec2").sync()
    assert bad.exitcode == 2 and "not valid JSON" in bad.message
    wrong = Call(config={"connectors": {"x": {"type": "aws-s3"}}}).connector("x").sync()
    assert wrong.exitcode == 2 and "aws-s3" in wrong.message


def test_request_beats_config(
    moto_server: MotoServer, endpoint: str, ec2: Any, image_id: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    call = Call(config={"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLE", "security-key": "x", "endpoint-url": dead,
        "region": "eu-west-1"}}})
    response = (call.connector("aws-ec2").set("action", "create-instance")
                .set("image-id", image_id).set("instance-type", "t2.micro")
                .set("endpoint-url", endpoint).set("region", "us-east-1").sync())
    assert response.exitcode == 0, response.message
    assert response.meta["region"] == "us-east-1"
    assert len(all_instances(ec2)) == 1
    config_only = call.connector("aws-ec2").set("action", "list-instances").timeout(5000).sync()
    assert config_only.exitcode == 4 and config_only.meta["region"] == "eu-west-1"


def test_no_config_uses_aws_environment(endpoint: str, ec2: Any, image_id: str) -> None:
    iid = launch(ec2, image_id)[0]
    script = (
        "from ec2_connector import Call; import json; "
        "r = Call().connector('aws-ec2').set('action', 'describe-instances').sync(); "
        "print(json.dumps(r.to_dict()))"
    )
    env = {**os.environ, "AWS_ENDPOINT_URL_EC2": endpoint}
    env.pop("EC2_CONNECTOR_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    envelope = json.loads(out.stdout)
    assert envelope["exitcode"] == 0
    assert [i["instance-id"] for i in envelope["data"]["instances-info"]] == [iid]


def test_refused_endpoint_is_exitcode_4_and_fast() -> None:
    call = Call(config={"connectors": {"aws-ec2": {
        "access-key": "AKIAEXAMPLE", "security-key": "x",
        "endpoint-url": f"http://127.0.0.1:{free_port()}", "max-attempts": 1}}})
    started = time.monotonic()
    response = call.connector("aws-ec2").set("action", "stop-instances") \
        .set("instance-id", "i-12345678").sync()
    assert response.exitcode == 4 and "unreachable" in response.message
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def iam_moto() -> Iterator[tuple[MotoServer, dict[str, str]]]:
    """moto in IAM mode: its first two calls make a user with no permissions at all,
    every later call is checked against IAM."""
    server = MotoServer({"INITIAL_NO_AUTH_ACTION_COUNT": "2"})
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=server.url,
                       aws_access_key_id="x", aws_secret_access_key="y")
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    yield server, {"access-key": key["AccessKeyId"], "security-key": key["SecretAccessKey"]}
    server.stop()


def test_dry_run_without_permission_is_exitcode_5(
    iam_moto: tuple[MotoServer, dict[str, str]]
) -> None:
    server, keys = iam_moto
    call = Call(config={"connectors": {"aws-ec2": {**keys, "endpoint-url": server.url}}})
    response = (call.connector("aws-ec2").set("action", "stop-instances")
                .set("instance-id", "i-12345678").set("dry-run", True).sync())
    assert response.exitcode == 5, response.message
    assert "not authorized to perform: ec2:StopInstances" in response.message


def test_bad_credentials_are_exitcode_5(iam_moto: tuple[MotoServer, dict[str, str]]) -> None:
    call = Call(config={"connectors": {"aws-ec2": {
        "access-key": "AKIAWRONGWRONGWRONG0", "security-key": SECRET,
        "endpoint-url": iam_moto[0].url}}})
    response = call.connector("aws-ec2").set("action", "describe-instances").sync()
    assert response.exitcode == 5, response.message
    assert "AuthFailure" in response.message or "InvalidClientTokenId" in response.message
    assert SECRET not in json.dumps(response.to_dict())


def test_builder_is_reusable_and_envelope_shape(call: Call, ec2: Any, image_id: str) -> None:
    ids = launch(ec2, image_id, 2)
    builder = call.connector("aws-ec2").set("action", "describe-instances")
    first = builder.set("instance-id", ids[0]).sync()
    second = builder.set("instance-id", ids[1]).sync()
    assert [i["instance-id"] for i in first.get("instances-info")] == [ids[0]]
    assert [i["instance-id"] for i in second.get("instances-info")] == [ids[1]]
    envelope = second.to_dict()
    assert set(envelope) == {"exitcode", "message", "data", "meta"}
    json.dumps(envelope)  # every value is JSON-serialisable
    for key in ("request-id", "http-status", "attempts", "duration-ms", "region", "endpoint"):
        assert key in envelope["meta"]


def test_meta_headers_are_the_last_answers_in_lower_case(call: Call, ec2: Any,
                                                         image_id: str) -> None:
    iid = launch(ec2, image_id)[0]
    ok = call.connector("aws-ec2").set("action", "stop-instances").set("instance-id", iid).sync()
    failed = (call.connector("aws-ec2").set("action", "stop-instances")
              .set("instance-id", "i-0123456789abcdef0").sync())
    assert (ok.exitcode, failed.exitcode) == (0, 6)
    for response in (ok, failed):
        assert response.headers and all(k == k.lower() for k in response.headers)
        assert response.headers["content-type"].startswith("text/xml")
        assert response.meta["http-status"] == 200
    # Each names its own last answer: the failed call's is the describe it made to learn
    # which ids exist (200), not the stop of the call before.
    assert ok.headers["x-amzn-requestid"] != failed.headers["x-amzn-requestid"]


def test_include_raw_body(call: Call, ec2: Any, image_id: str) -> None:
    iid = launch(ec2, image_id)[0]
    response = (call.connector("aws-ec2").set("action", "describe-instances")
                .set("include-raw-body", "true").sync())
    assert "<DescribeInstancesResponse" in response.meta["raw-body"]
    assert iid in response.meta["raw-body"]
    plain = call.connector("aws-ec2").set("action", "describe-instances").sync()
    assert "raw-body" not in plain.meta


def test_secrets_never_shown(call: Call, endpoint: str, ec2: Any, image_id: str) -> None:
    user_data = "#!/bin/sh\nexport DB_PASSWORD=hunter2-hunter2"
    builder = (call.connector("aws-ec2").set("action", "create-instance")
               .set("image-id", image_id).set("instance-type", "t2.micro")
               .set("user-data", user_data).set("access-key", "AKIAEXAMPLE")
               .set("security-key", SECRET).set("session-token", TOKEN)
               .set("endpoint-url", endpoint))
    response = builder.sync()
    assert response.exitcode == 0
    failing = builder.set("image-id", "ami-12345678").sync()
    assert failing.exitcode == 6
    for text in (repr(builder), repr(response), json.dumps(response.to_dict()),
                 json.dumps(failing.to_dict()), repr(builder.request())):
        for secret in (SECRET, TOKEN, user_data, "hunter2"):
            assert secret not in text


def test_unknown_action_and_missing_action(call: Call) -> None:
    none = call.connector("aws-ec2").sync()
    assert none.exitcode == 2 and "'action'" in none.message
    typo = call.connector("aws-ec2").set("action", "terminate-instance").sync()
    assert typo.exitcode == 2 and "did you mean 'terminate-instances'" in typo.message
    assert typo.meta["attempts"] == 0


def test_actions_catalog(call: Call) -> None:
    catalog = {a["name"]: a for a in call.actions()}
    create = {p["name"]: p for p in catalog["create-instance"]["parameters"]}
    # required unless a launch template gives it (a rule checked at validation)
    image = create["image-id"]
    assert image["required"] is False and "launch template" in image["doc"]
    assert create["min-instance"]["default"] == 1
    assert create["user-data"]["secret"] is True


def test_missing_credentials_are_exitcode_5(endpoint: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL_EC2=endpoint,
        AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )
    env.pop("EC2_CONNECTOR_CONFIG", None)
    script = (
        "from ec2_connector import Call; "
        "r = Call().connector('aws-ec2').set('action', 'list-instances').sync(); "
        "print(r.exitcode, r.message)"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.startswith("5 no AWS credentials"), out.stdout + out.stderr


def test_absurd_timeouts_are_invalid(call: Call) -> None:
    for value in (10**15, 0, -5, "soon"):
        builder = call.connector("aws-ec2").set("action", "list-instances")
        response = builder.set("timeout", value).sync()
        assert response.exitcode == 2 and "'timeout'" in response.message, value
    huge = call.connector("aws-ec2").set("action", "list-instances").timeout(10**15).sync()
    assert huge.exitcode == 2 and "'timeout'" in huge.message


def test_a_list_of_connectors_runs_on_each(endpoint: str, tmp_path: Path) -> None:
    from tests.harness.calls import launch_in

    ids = {region: launch_in(endpoint, region) for region in ("us-east-1", "eu-west-1")}
    config = {"connectors": {"east": {"endpoint-url": endpoint, "region": "us-east-1"},
                             "west": {"endpoint-url": endpoint, "region": "eu-west-1"}}}
    with Call(config=config, home=tmp_path / "home") as call:
        both = call.connector(["east", "west"]).set("action", "describe-instances").sync()
        assert both.exitcode == 0, both.message
        found = {(i["instance-id"], i["connector"]) for i in both.get("instances-info")}
        assert found == {(ids["us-east-1"], "east"), (ids["eu-west-1"], "west")}
        for names in ([], ["east", "nope"]):
            refused = call.connector(names).set("action", "describe-instances").sync()
            assert refused.exitcode == 2 and refused.meta["attempts"] == 0, refused.message
        changing = (call.connector(["east", "west"]).set("action", "stop-instances")
                    .set("instance-id", ids["us-east-1"]).sync())
        assert changing.exitcode == 2 and "read-only" in changing.message
    held = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    state = held.describe_instances(InstanceIds=[ids["us-east-1"]])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
