"""Secrets in logs, reprs, messages, meta and job records: masked whole, at every level.

Why: botocore's and urllib3's DEBUG logs printed the session token and the (base64) user
data; `endpoint-url=http://user:pass@host` showed `user:pass` in the message,
`meta.endpoint` and the job record; a non-string secret showed in `repr`; redaction
turned `'stopped'` into `'***ped'`.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ec2_connector import Call
from ec2_connector.masking import mask_wire, redact
from ec2_connector.request import Request
from tests.conftest import launch
from tests.harness import RefusingEndpoint

SESSION_TOKEN = "MASKSESSIONTOKEN/IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3Q"
USER_DATA = "#!/bin/sh\necho MASKUSERDATA-51c0 > /etc/motd\n"


def needles() -> dict[str, bytes]:
    once = base64.b64encode(USER_DATA.encode())
    return {
        "session token": SESSION_TOKEN.encode(),
        "user data": b"MASKUSERDATA-51c0",
        "user data (base64)": once,
        "user data (base64, 40 chars)": once[:40],
        "user data (base64 twice)": base64.b64encode(once)[:40],
    }


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_log() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    loggers = [logging.getLogger(n) for n in ("botocore", "urllib3", "ec2_connector")]
    levels = [lg.level for lg in loggers]
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def test_debug_logs_of_botocore_and_urllib3_hold_no_secret(
    call: Call, image_id: str, ec2: Any, debug_log: Captured
) -> None:
    creds = {"access-key": "AKIAMASKTEST00000000", "security-key": "mask-secret-key-value",
             "session-token": SESSION_TOKEN}
    launched = call.execute("aws-ec2", {"action": "create-instance", "image-id": image_id,
                                        "instance-type": "t2.micro", "user-data": USER_DATA,
                                        **creds})
    assert launched.exitcode == 0, launched.message
    instance = launched.get("instance-info")[0]["instance-id"]
    modified = call.execute("aws-ec2", {
        "action": "modify-instance-attribute", "instance-id": instance,
        "attribute": "user-data", "attribute-value": USER_DATA, **creds})
    assert modified.exitcode == 0, modified.message
    text = "\n".join(debug_log.lines)
    # The log really is botocore's wire-level DEBUG output, not an empty capture.
    assert "botocore.endpoint DEBUG" in text and "urllib3.connectionpool DEBUG" in text
    assert "X-Amz-Security-Token" in text and "UserData" in text
    leaks = [name for name, needle in needles().items() if needle.decode() in text]
    assert not leaks, leaks
    assert "mask-secret-key-value" not in text
    # What the endpoint holds is the user data itself: masking touched only the logs.
    held = ec2.describe_instance_attribute(InstanceId=instance, Attribute="userData")
    assert base64.b64decode(held["UserData"]["Value"]).decode() == USER_DATA


def test_wire_fields_are_masked_in_any_log_record(debug_log: Captured) -> None:
    log = logging.getLogger("botocore.some.child")
    log.debug("headers=%s", {"X-Amz-Security-Token": b"abcdefgh1234", "Authorization":
                             b"AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ff00"})
    log.debug("body: Action=RunInstances&UserData=SWdub3Jl%3D&MinCount=1")
    log.debug("x-amz-security-token:tokenvalue99\nauthorization: AWS4 Credential=x")
    log.debug("Response body:\nb'<keyMaterial>-----BEGIN RSA PRIVATE KEY-----\\nMIIEpQIB"
              "secretkeybody\\n-----END RSA PRIVATE KEY-----</keyMaterial>'")
    log.debug("parsed: {'KeyMaterial': 'MIIEsecondcopy', 'Output': 'x'}")
    text = "\n".join(debug_log.lines)
    for secret in ("abcdefgh1234", "Signature=ff00", "SWdub3Jl", "tokenvalue99",
                   "AWS4 Credential=x", "secretkeybody", "MIIEsecondcopy"):
        assert secret not in text, text
    assert "MinCount=1" in text


@pytest.mark.parametrize("secret", [
    ["list-secret-value"], b"bytes-secret-value", 12345678901, {"k": "dict-secret-value"},
])
def test_secrets_of_any_type_are_masked_in_repr(call: Call, secret: Any) -> None:
    builder = call.connector("aws-ec2").set("action", "describe-instances") \
        .set("security-key", secret).set("securityKey", secret).set("Session_Token", secret)
    shown = repr(builder) + repr(builder.request())
    for text in ("secret-value", "12345678901"):
        assert text not in shown, shown


def test_userinfo_of_the_endpoint_is_masked_everywhere(tmp_path: Path) -> None:
    with RefusingEndpoint() as refusing:
        url = refusing.url.replace("http://", "http://alice:hunter2pass@")
        config = {"connectors": {"aws-ec2": {"access-key": "AKIAUSERINFO00000000",
                                             "security-key": "userinfo-secret", "region":
                                             "us-east-1", "max-attempts": 1}}}
        with Call(config, home=tmp_path / "home") as call:
            builder = call.connector("aws-ec2").set("action", "describe-instances") \
                .set("endpoint-url", url)
            response = builder.sync()
            job = builder.async_()
            done = job.wait(30_000)
            record = json.dumps(job.to_dict(), default=str)
        assert response.exitcode == 4, response.message
        assert done.exitcode == 4, done.message
        for where in (json.dumps(response.to_dict()), json.dumps(done.to_dict()),
                      repr(builder), repr(response), record):
            assert "hunter2pass" not in where and "alice:" not in where, where
        assert response.meta["endpoint"].startswith("http://127.0.0.1:")
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert b"hunter2pass" not in path.read_bytes(), path


def test_redaction_masks_whole_values_only() -> None:
    assert redact("instance i-1 is 'stopped'", ["stop"]) == "instance i-1 is 'stopped'"
    assert redact("the value 'stop' was refused", ["stop"]) == "the value '***' was refused"
    assert redact("key abc in abcdef", ["abc"]) == "key abc in abcdef"  # under 4: kept
    assert redact("token=Zm9v/YmFy+ end", ["Zm9v/YmFy+"]) == "token=*** end"
    assert mask_wire("'UserData': 'SGVsbG8='") == "'UserData': '***'"


def test_only_user_data_is_secret_for_modify_instance_attribute(
    call: Call, ec2: Any, image_id: str, tmp_path: Path
) -> None:
    """Why: `attribute-value` was secret for every attribute, so a harmless
    disable-api-termination job could not be resumed or audited, and redaction garbled
    messages."""
    (instance,) = launch(ec2, image_id, 1)
    base = {"instance-id": instance, "action": "modify-instance-attribute"}
    plain = Request("aws-ec2", base["action"], {**base, "attribute": "disableApiTermination",
                                                 "attribute-value": "true"})
    assert plain.secrets() == [] and "'true'" in repr(plain)
    secret = Request("aws-ec2", base["action"], {**base, "attribute": "userData",
                                                  "attribute-value": USER_DATA})
    assert USER_DATA in secret.secrets() and "MASKUSERDATA" not in repr(secret)
    builder = call.connector("aws-ec2").set("action", "modify-instance-attribute") \
        .set("instance-id", instance).set("attribute", "disable-api-termination") \
        .set("attribute-value", "true")
    job = builder.async_()
    assert job.wait(30_000).exitcode == 0
    record = job.to_dict()
    assert record["params"]["attribute-value"] == "true"
    assert not record.get("secrets-held-in-memory")
    held = ec2.describe_instance_attribute(InstanceId=instance,
                                           Attribute="disableApiTermination")
    assert held["DisableApiTermination"]["Value"] is True
    hidden = call.connector("aws-ec2").set("action", "modify-instance-attribute") \
        .set("instance-id", instance).set("attribute", "user-data") \
        .set("attribute-value", USER_DATA).async_()
    assert hidden.wait(30_000).exitcode == 0
    assert "attribute-value" not in hidden.to_dict()["params"]


# --------------------------------------------------------------------------- the model

def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("ec2")


def _callable_operations(model: Any) -> set[str]:
    """What the connector can call: the named actions' operations, the read-only ones any
    connector's call-operation reaches, and any other its `allow-operations` may list."""
    from ec2_connector.actions import catalog
    from ec2_connector.actions.passthrough import read_only

    named = set(catalog.operations())
    assert named <= set(model.operation_names)
    passthrough = {op for op in model.operation_names if read_only(op)}
    allowable = set(model.operation_names)  # allow-operations: fnmatch patterns, "*" too
    return named | passthrough | allowable


def _sensitive_members(shape: Any, found: set[tuple[str, str, str, str]],
                       seen: set[str]) -> None:
    """(owner, member, XML name, query name) of every member whose shape is sensitive,
    walked with botocore's own shape objects (not the masker's walk of the JSON)."""
    if shape is None or shape.name in seen:
        return
    seen.add(shape.name)
    for name, member in getattr(shape, "members", {}).items():
        if member.metadata.get("sensitive"):
            location = member.serialization.get("name", name)
            query = member.serialization.get("queryName") or (
                location[0].upper() + location[1:])
            found.add((shape.name, name, location, query))
        _sensitive_members(member, found, seen)
    for child in (getattr(shape, "member", None), getattr(shape, "value", None)):
        _sensitive_members(child, found, seen)


def test_every_sensitive_member_of_every_callable_operation_is_masked() -> None:
    """Why: masking was a hand list; GetPasswordData's `passwordData` (and the VPN
    pre-shared keys of DescribeVpnConnections) went to DEBUG logs in clear."""
    from ec2_connector.sensitive import masked

    model = _service_model()
    members = masked().members
    checked = 0
    for operation in sorted(_callable_operations(model)):
        op = model.operation_model(operation)
        found: set[tuple[str, str, str, str]] = set()
        for shape in (op.input_shape, op.output_shape):
            _sensitive_members(shape, found, set())
        for owner, name, location, query in found:
            assert (owner, name) in members, (operation, owner, name)
            secret = f"S3cr3t-{operation}-{name}"
            for text in (f"<{location}>{secret}</{location}>", f"{query}={secret}&x=1",
                         f"'{name}': '{secret}'", f"'Items.1.{query}': b'{secret}'"):
                shown = mask_wire(f"{operation}: {text}")
                assert secret not in shown, (operation, shown)
            checked += 1
    # The walk is real: the model marks dozens of members in the callable operations.
    assert checked > 40 and len(members) > 40


def test_what_the_model_does_not_mark_is_masked_and_harmless_names_stay() -> None:
    from ec2_connector.sensitive import ALSO_MASKED

    assert set(ALSO_MASKED) == {"UserData", "Output", "KeyMaterial", "PasswordData"}
    assert all(len(why) > 30 for why in ALSO_MASKED.values())  # each says why
    # DescribeInstanceAttribute's user data and GetConsoleOutput's output are unmarked.
    body = ("<DescribeInstanceAttributeResponse><userData><value>STAYSECRET1</value>"
            "</userData></DescribeInstanceAttributeResponse><output>CONSOLESECRET</output>")
    shown = mask_wire(body)
    assert "STAYSECRET1" not in shown and "CONSOLESECRET" not in shown
    assert shown.startswith("<DescribeInstanceAttributeResponse><userData>***</userData>")
    # A name the model shares with harmless members (a tag's value, a snapshot's
    # description, botocore's 'url') is masked only where a secret one can be.
    tags = "<DescribeTagsResponse><item><key>env</key><value>prod</value></item>"
    assert mask_wire(tags) == tags
    line = "{'url': 'http://127.0.0.1:5000/', 'body': {'Action': 'DescribeSnapshots'}}"
    assert mask_wire(line) == line
    modify = "{'Action': 'ModifyInstanceAttribute', 'Value': 'IAMSECRET9'}"
    assert "IAMSECRET9" not in mask_wire(modify)


def test_the_model_is_loaded_only_when_masking_needs_it(tmp_path: Path) -> None:
    """Import time matters: `--help`, and importing the library, load no model."""
    import subprocess
    import sys

    code = ("import sys; import ec2_connector.execution; from ec2_connector import sensitive; "
            "print(sensitive.masked.cache_info().currsize, "
            "int('botocore.loaders' in sys.modules))")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60, check=True).stdout.split()
    assert out == ["0", "0"], out
    helped = subprocess.run([sys.executable, "-m", "ec2_connector.cli", "--help"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert helped.returncode == 0
    assert not list(tmp_path.rglob("sensitive-*.json"))  # nothing computed for --help


def test_the_cached_set_is_the_computed_one(tmp_path: Path) -> None:
    from ec2_connector.sensitive import _full_model, compute, masked

    assert compute(_full_model()) == masked()


@pytest.mark.parametrize("action", ["describe-instances", "no-such-action", "create-instance"])
@pytest.mark.parametrize("key", ["user-data", "UserData", "password_data", "key-material",
                                 "session-token", "PreSharedKey", "attribute-value"])
def test_a_secret_named_key_is_masked_in_repr_whatever_the_action(
    call: Call, action: str, key: str
) -> None:
    """Why: `user-data` set on an action that does not declare it showed its value in
    the repr of the builder and of the request."""
    builder = call.connector("aws-ec2").set("action", action).set(key, "REPRSECRET-7a1")
    shown = repr(builder) + repr(builder.request())
    assert "REPRSECRET" not in shown and key in shown, shown
    # A name some action declares secret: its value is masked in logs too, by value.
    declared = key not in ("password_data", "PreSharedKey", "key-material")
    assert bool(builder.request().secrets()) == declared
    response = builder.sync()  # most are refused (an unknown parameter): the value unsaid
    assert response.exitcode == (0 if key == "session-token" and action[0] == "d" else 2)
    assert "REPRSECRET" not in response.message + repr(response)


def test_a_harmless_key_still_shows_in_repr(call: Call) -> None:
    builder = call.connector("aws-ec2").set("action", "describe-instances") \
        .set("instance-id", "i-0123456789abcdef0").set("max-results", 7)
    assert "'i-0123456789abcdef0'" in repr(builder) and "7" in repr(builder)
