"""Words to requests: AWS CLI flags, repeated keys, id lists, values from files and stdin."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import all_instances, launch
from tests.harness.cli import assert_one_line_error, envelope, run_cli


def states(ec2: Any) -> dict[str, str]:
    return {i["InstanceId"]: i["State"]["Name"] for i in all_instances(ec2)}


def test_aws_cli_flags_equal_their_pairs(
    env: dict[str, str], config: dict[str, Any], tmp_path: Path, ec2: Any, image_id: str
) -> None:
    by_pair = envelope(run_cli(env, "call", "describe-instances", "region=us-west-2"))
    by_flag = envelope(run_cli(env, "call", "describe-instances", "--region", "us-west-2"))
    assert by_pair["meta"]["region"] == by_flag["meta"]["region"] == "us-west-2"
    # A connector without an endpoint: --endpoint-url gives it, as endpoint-url= would.
    entry = {k: v for k, v in config["connectors"]["aws-ec2"].items() if k != "endpoint-url"}
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"connectors": {"aws-ec2": entry}}))
    url = config["connectors"]["aws-ec2"]["endpoint-url"]
    flagged = run_cli({**env, "EC2_CONNECTOR_CONFIG": str(bare)}, "call", "describe-instances",
                      "--endpoint-url", url, "-o", "json")
    assert envelope(flagged)["meta"]["endpoint"] == url
    ids = launch(ec2, image_id, 1)
    dry_flag = run_cli(env, "call", "stop-instances", f"instance-id={ids[0]}", "--dry-run")
    dry_pair = run_cli(env, "call", "stop-instances", f"instance-id={ids[0]}", "dry-run=true")
    assert envelope(dry_flag)["exitcode"] == envelope(dry_pair)["exitcode"] == 0
    assert envelope(dry_flag)["message"] == envelope(dry_pair)["message"]
    assert states(ec2) == {ids[0]: "running"}  # a dry run changed nothing
    clash = run_cli(env, "call", "describe-instances", "region=eu-west-1", "--region",
                    "us-west-2")
    assert "given twice" in assert_one_line_error(clash, 2)


def test_profile_flag_takes_credentials_from_the_shared_files(
    env: dict[str, str], config: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "credentials").write_text(
        "[dev]\naws_access_key_id = AKIADEVPROFILE000000\naws_secret_access_key = dev-secret\n")
    (tmp_path / "aws-config").write_text("[profile dev]\nregion = us-east-1\n")
    entry = {k: v for k, v in config["connectors"]["aws-ec2"].items()
             if k not in ("access-key", "security-key")}
    keyless = tmp_path / "keyless.json"
    keyless.write_text(json.dumps({"connectors": {"aws-ec2": entry}}))
    bare = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    bare.update(EC2_CONNECTOR_CONFIG=str(keyless), AWS_EC2_METADATA_DISABLED="true",
                AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
                AWS_CONFIG_FILE=str(tmp_path / "aws-config"))
    without = run_cli(bare, "call", "describe-instances")
    assert without.returncode == 5  # no credentials anywhere
    with_profile = run_cli(bare, "call", "describe-instances", "--profile", "dev")
    assert envelope(with_profile)["exitcode"] == 0, with_profile.stderr
    unknown = run_cli(bare, "call", "describe-instances", "--profile", "nope")
    assert "nope" in assert_one_line_error(unknown, 5)


def test_a_repeated_list_key_accumulates_and_ids_split_on_whitespace(
    env: dict[str, str], ec2: Any, image_id: str
) -> None:
    ids = launch(ec2, image_id, 3)
    result = run_cli(env, "call", "stop-instances", f"instance-id={ids[0]}",
                     f"instance-id={ids[1]} {ids[2]}\n")
    stopped = envelope(result)["data"]["stop-instance-list"]
    assert sorted(i["instance-id"] for i in stopped) == sorted(ids)
    assert set(states(ec2).values()) <= {"stopping", "stopped"}


def test_a_repeated_scalar_key_is_refused_and_nothing_is_launched(
    env: dict[str, str], ec2: Any, image_id: str
) -> None:
    result = run_cli(env, "call", "create-instance", f"image-id={image_id}",
                     "instance-type=t2.micro", "instance-type=t3.micro")
    assert "'instance-type' is given twice" in assert_one_line_error(result, 2)
    assert all_instances(ec2) == []


def test_the_malformed_item_of_a_list_is_named(env: dict[str, str]) -> None:
    result = run_cli(env, "call", "stop-instances",
                     "instance-id=i-0123456789abcdef0 i-nothex i-0123456789abcdef1")
    line = assert_one_line_error(result, 2)
    assert "item 2: 'i-nothex'" in line


@pytest.mark.parametrize("form", ["@{}", "fileb://{}", "file://{}"])
def test_user_data_from_a_file_arrives_as_its_bytes(
    env: dict[str, str], ec2: Any, image_id: str, tmp_path: Path, form: str
) -> None:
    script = b"#cloud-config\nruncmd:\n - echo hello\n"
    packed = gzip.compress(script, mtime=0)  # gzip'd cloud-init: not text at all
    path = tmp_path / "user-data.gz"
    path.write_bytes(packed)
    result = run_cli(env, "call", "create-instance", f"image-id={image_id}",
                     "instance-type=t2.micro", "user-data=" + form.format(path))
    instance = envelope(result)["data"]["instance-info"][0]["instance-id"]
    held = ec2.describe_instance_attribute(InstanceId=instance, Attribute="userData")
    assert base64.b64decode(held["UserData"]["Value"]) == packed


def test_values_from_stdin_and_text_files(
    env: dict[str, str], ec2: Any, image_id: str, tmp_path: Path
) -> None:
    ids = launch(ec2, image_id, 2)
    listed = tmp_path / "ids.txt"
    listed.write_text("\n".join(ids) + "\n")  # as `aws ... --output text > ids.txt`
    tagged = run_cli(env, "call", "create-tags", f"resource-id=@{listed}", "tag-key=role",
                     "tag-value=@-", stdin="db\n")
    assert envelope(tagged)["exitcode"] == 0
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["role"]}])["Tags"]
    assert sorted((t["ResourceId"], t["Value"]) for t in tags) == sorted((i, "db") for i in ids)
    missing = run_cli(env, "call", "create-tags", f"resource-id={ids[0]}", "tag-key=k",
                      f"tag-value=@{tmp_path / 'absent.txt'}")
    assert "cannot read the value of 'tag-value'" in assert_one_line_error(missing, 2)
    literal = run_cli(env, "call", "create-tags", f"resource-id={ids[0]}", "tag-key=at",
                      "tag-value=\\@home")
    assert envelope(literal)["exitcode"] == 0
    held = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["at"]}])["Tags"]
    assert [t["Value"] for t in held] == ["@home"]


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["call", "describe-instances", "--instance-ids", "i-0123456789abcdef0"],
         "did you mean instance-id=i-0123456789abcdef0?"),
        (["call", "stop-instances", "--force"], "did you mean force=true?"),
        (["call", "region=us-east-1", "describe-instances"],
         "the action comes first: ec2-connector call describe-instances region=us-east-1"),
        (["call", "describe-instances", "--bogus"], "unrecognized arguments: --bogus"),
        (["call", "describe-instances", "connector=other"],
         "the connector is chosen with --connector other, not a pair"),
    ],
)
def test_habits_from_the_aws_cli_get_a_hint(
    env: dict[str, str], args: list[str], hint: str
) -> None:
    result = run_cli(env, *args)
    assert hint in assert_one_line_error(result, 2)
