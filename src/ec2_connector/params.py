"""Parameter types and declarations: the one place request values are converted.

Each type's docstring states its conversion contract: a value already of the
right type is accepted as it is; a string form is converted; anything else is
an InvalidRequest naming the parameter.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest


class ParamType:
    """Base of the conversion contracts; `name` appears in the catalog."""

    name = "any"

    def convert(self, value: Any, param: str) -> Any:
        return value

    def fail(self, param: str, expected: str, value: Any) -> InvalidRequest:
        shown = type(value).__name__
        return InvalidRequest(f"parameter '{param}' must be {expected}, got {shown}")

    def describe(self) -> dict[str, Any]:
        return {"type": self.name}


class String(ParamType):
    """A non-empty string; numbers are accepted in their string form."""

    name = "string"

    def __init__(self, pattern: str | None = None, example: str | None = None) -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.example = example

    def convert(self, value: Any, param: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(param, "a string", value)
        text = str(value).strip()
        if not text:
            raise InvalidRequest(f"parameter '{param}' must not be empty")
        if self.pattern and not self.pattern.fullmatch(text):
            like = f" like '{self.example}'" if self.example else ""
            raise InvalidRequest(f"parameter '{param}' is malformed: expected a value{like}")
        return text


class Text(ParamType):
    """Free text, kept as given (user data); may be empty."""

    name = "text"

    def convert(self, value: Any, param: str) -> str:
        if not isinstance(value, str):
            raise self.fail(param, "text", value)
        return value


class Choice(ParamType):
    """One of a fixed set of strings, compared case-insensitively."""

    name = "choice"

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def convert(self, value: Any, param: str) -> str:
        text = String().convert(value, param).lower()
        for choice in self.choices:
            if choice.lower() == text:
                return choice
        raise InvalidRequest(f"parameter '{param}' must be one of: {', '.join(self.choices)}")

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "choices": list(self.choices)}


class Integer(ParamType):
    """An int, or its decimal string form, within [minimum, maximum]."""

    name = "integer"

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value: Any, param: str) -> int:
        if isinstance(value, bool):
            raise self.fail(param, "an integer", value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            value = int(value)
        if not isinstance(value, int):
            raise self.fail(param, "an integer", value)
        if self.minimum is not None and value < self.minimum:
            raise InvalidRequest(f"parameter '{param}' must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidRequest(f"parameter '{param}' must be at most {self.maximum}")
        return value


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


class Boolean(ParamType):
    """A bool, 0/1, or one of true/false, yes/no, on/off."""

    name = "boolean"

    def convert(self, value: Any, param: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise self.fail(param, "a boolean (true or false)", value)


class StringList(ParamType):
    """A list of strings, a single string, or a comma-separated string."""

    name = "list"

    def __init__(self, item: String | None = None) -> None:
        self.item = item or String()

    def convert(self, value: Any, param: str) -> list[str]:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                try:
                    value = json.loads(stripped)
                except ValueError:
                    raise InvalidRequest(f"parameter '{param}' is not a valid list") from None
            else:
                value = [part for part in stripped.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise self.fail(param, "a list of strings", value)
        items = [self.item.convert(item, param) for item in value]
        if not items:
            # An empty id list must never reach EC2, where it can mean "all of them".
            raise InvalidRequest(f"parameter '{param}' must not be empty")
        return list(dict.fromkeys(items))


class Mapping_(ParamType):
    """An object of string keys to values (a JSON string of one is accepted)."""

    name = "object"

    def __init__(self, values: str = "string") -> None:
        self.values = values

    def convert(self, value: Any, param: str) -> dict[str, Any]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise InvalidRequest(f"parameter '{param}' is not a valid JSON object") from None
        if not isinstance(value, Mapping):
            raise self.fail(param, "an object", value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise InvalidRequest(f"parameter '{param}' has an empty or non-string key")
            out[key] = self._item(item, f"{param}.{key}")
        return out

    def _item(self, item: Any, where: str) -> Any:
        if self.values == "string-or-null" and item is None:
            return None
        if self.values == "string-list":
            return StringList().convert(item, where)
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise InvalidRequest(f"parameter '{where}' must be a string")
        return str(item)


class Cidr(ParamType):
    """An IPv4 or IPv6 network in CIDR notation (a bare address means /32 or /128)."""

    name = "cidr"

    def convert(self, value: Any, param: str) -> str:
        text = String().convert(value, param)
        try:
            return str(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise InvalidRequest(
                f"parameter '{param}' is not a CIDR block like 10.0.0.0/16"
            ) from None


NOTHING: Any = object()  # "no default": distinct from an explicit None


@dataclass(frozen=True)
class Param:
    """One declared parameter of an action."""

    name: str
    type: ParamType
    doc: str
    required: bool = False
    default: Any = NOTHING
    aliases: tuple[str, ...] = ()
    secret: bool = False

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, **self.type.describe(), "doc": self.doc}
        out["required"] = self.required
        if self.default is not NOTHING:
            out["default"] = self.default
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.secret:
            out["secret"] = True
        return out


def canonical(name: str) -> str:
    """The hyphenated spelling: `instance_id` and `instance-id` are one parameter."""
    return name.strip().replace("_", "-")


# Ids EC2 gives out: a prefix and 8 or 17 hex digits.
INSTANCE_ID = String(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?", "i-0123456789abcdef0")
GROUP_ID = String(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?", "sg-0123456789abcdef0")
RESOURCE_ID = String(r"[a-z]+(?:-[a-z]+)*-[0-9a-f]{8}(?:[0-9a-f]{9})?", "i-0123456789abcdef0")


@dataclass(frozen=True)
class Group:
    """A rule across parameters: exactly one of, or at least one of, `names`."""

    names: tuple[str, ...]
    exactly_one: bool = True
    required: bool = True

    def check(self, given: Mapping[str, Any]) -> None:
        present = [name for name in self.names if name in given]
        listed = " / ".join(f"'{name}'" for name in self.names)
        if self.exactly_one and len(present) > 1:
            raise InvalidRequest(f"give only one of {listed}, not several")
        if self.required and not present:
            raise InvalidRequest(f"one of {listed} is required")

