"""The CLI's JSON text is json.dumps's, byte for byte, whatever the value (its indented
form is built by render._indented, not by json's Python encoder)."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ec2_connector.cli.render import to_json

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40,
)


def reference(value: Any, indent: int | None) -> str:
    return json.dumps(value, indent=indent, default=str)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from([2, 4, 0, None]))
def test_any_json_value_gives_json_dumps_text(value: Any, indent: int | None) -> None:
    assert to_json(value, indent=indent) == reference(value, indent)


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize("value", [
    {"when": datetime.datetime(2026, 12, 7, 18, 0, tzinfo=datetime.UTC)},  # default=str
    {"colour": Colour.RED, "level": Level.HIGH},  # subclasses of str and int
    {7: "int key", None: "none key", 2.5: "float key", True: "bool key"},
    {"nan": float("nan"), "inf": [float("inf"), -float("inf")]},
    {"text": "ünïcode \u2028 \x00 \"quoted\" \\ slash"},
    [[], {}, [{}], {"a": []}, ()],
    {"deep": [[[[[[[[[[{"x": 1}]]]]]]]]]]},
])
def test_values_json_itself_treats_specially(value: Any) -> None:
    assert to_json(value) == reference(value, 2)


def test_a_cycle_is_json_s_own_error() -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        to_json({"a": looped})
