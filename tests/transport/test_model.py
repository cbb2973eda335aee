"""The trimmed EC2 model: what botocore loads from it, from its JSON or its marshalled
copy, is the same model; a copy that does not read back is replaced, never trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session
import pytest

from ec2_connector.actions import catalog
from ec2_connector.transport import model

OPERATIONS = catalog.operations()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path


def loaded() -> tuple[dict[str, Any], Any]:
    """The raw shapes a fresh session's client was built from, and the client."""
    session = botocore.session.Session()
    assert model.install(session, OPERATIONS)
    client = session.create_client("ec2", region_name="us-east-1",
                                   aws_access_key_id="AKIDEXAMPLE",
                                   aws_secret_access_key="not-a-secret")
    return dict(client.meta.service_model._shape_resolver._shape_map), client


def service_file(root: Path) -> Path:
    return next(root.rglob("service-2.json"))


def test_the_marshalled_copy_is_written_once_and_read_after(cache: Path) -> None:
    shapes, client = loaded()
    source = service_file(cache)
    copy = source.with_name(source.name[:-len(".json")] + model.MARSHALLED)
    assert copy.is_file() and (source.parent.parent.parent / ("endpoints"
                                                              + model.MARSHALLED)).is_file()
    assert set(client.meta.service_model.operation_names) == set(OPERATIONS)
    source.write_text("{not json")  # only the copy can give the model now
    again, client = loaded()
    assert again == shapes
    assert set(client.meta.service_model.operation_names) == set(OPERATIONS)


def test_the_model_is_botocore_s_own_for_those_operations(cache: Path) -> None:
    _, client = loaded()
    full = botocore.session.Session().get_service_model("ec2")
    ours = client.meta.service_model
    for name in ("DescribeInstances", "RunInstances", "StopInstances"):
        mine, theirs = ours.operation_model(name), full.operation_model(name)
        assert mine.output_shape.members.keys() == theirs.output_shape.members.keys()
        assert mine.input_shape.members.keys() == theirs.input_shape.members.keys()


@pytest.mark.parametrize("garbage", [b"", b"\x00\x01 not marshal", b"N"])
def test_a_copy_that_does_not_read_back_is_replaced_from_the_json(
        cache: Path, garbage: bytes) -> None:
    shapes, _ = loaded()
    source = service_file(cache)
    copy = source.with_name(source.name[:-len(".json")] + model.MARSHALLED)
    copy.write_bytes(garbage)  # b"N": marshal's None, not a model
    again, _ = loaded()
    assert again == shapes
    assert copy.read_bytes() != garbage  # written afresh from the JSON
    source.write_text("{not json")
    assert loaded()[0] == shapes  # and that copy reads back
