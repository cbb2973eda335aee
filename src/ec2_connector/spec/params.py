"""Parameter types and declarations: the one place request values are converted.

Each type's docstring states its conversion contract: a value already of the
right type is accepted as it is; a string form is converted; anything else is
an InvalidRequest naming the parameter.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from functools import cached_property
from typing import Any, NamedTuple

from ..errors import InvalidRequest, printable
from .records import record


class ParamType:
    """Base of the conversion contracts; `name` appears in the catalog."""

    name = "any"

    def convert(self, value: Any, param: str) -> Any:
        return value

    def fail(self, param: str, expected: str, value: Any) -> InvalidRequest:
        # Said in JSON's words, not Python's (`got str`); the value itself is not shown:
        # it may be a secret's.
        return InvalidRequest(f"parameter '{param}' must be {expected}, got {kind_of(value)}")

    def describe(self) -> dict[str, Any]:
        return {"type": self.name}


_KINDS = {str: "text", bool: "true/false", int: "a number", float: "a number",
          list: "a list", tuple: "a list", dict: "an object", bytes: "bytes"}


def kind_of(value: Any) -> str:
    """A value's kind in JSON's words: text, a number, a list, an object, null."""
    if value is None:
        return "null"
    return next((k for t, k in _KINDS.items() if isinstance(value, t)), "another kind")


# EC2's integers are 32-bit: a larger count or port is refused here, not by EC2.
INT32_MAX = 2**31 - 1
USER_DATA_MAX = 16 * 1024  # EC2's limit on user data, before its base64 encoding
MAX_DIGITS = 30
_TOO_LARGE = 10**MAX_DIGITS


def checked_text(text: str, param: str) -> str:
    """`text`, if it can be sent at all: a lone surrogate cannot be encoded as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            f"parameter '{param}' is not valid Unicode text (it holds a lone surrogate)"
        ) from None
    return text


def scalar_text(value: Any, param: str, expected: str = "a string") -> str:
    """A string, or a finite number in its string form; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ParamType().fail(param, expected, value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"parameter '{param}' must be a finite number or a string")
    # Compared, not printed: str() of an int past 4,300 digits raises ValueError.
    if isinstance(value, int) and not -_TOO_LARGE < value < _TOO_LARGE:
        raise InvalidRequest(f"parameter '{param}' is a number too large to be meant")
    return checked_text(str(value), param)


class String(ParamType):
    """A non-empty string; numbers are accepted in their string form."""

    name = "string"

    def __init__(self, pattern: str | None = None, example: str | None = None) -> None:
        self.source = pattern or None
        self.example = example

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        # Compiled when first used: the catalog declares ~100 patterns, a call checks a
        # few of them, and compiling all is ~2 ms of a one-shot command's start-up.
        return re.compile(self.source) if self.source else None

    def convert(self, value: Any, param: str) -> str:
        text = scalar_text(value, param).strip()
        if not text:
            raise InvalidRequest(f"parameter '{param}' must not be empty")
        if self.pattern and not self.pattern.fullmatch(text):
            like = f" like '{self.example}'" if self.example else ""
            raise InvalidRequest(f"parameter '{param}' is malformed: expected a value{like}")
        return text


class Text(ParamType):
    """Free text or bytes, kept as given (user data: gzip'd cloud-init is bytes); may be
    empty; at most `max_bytes` (as UTF-8 for text)."""

    name = "text"
    takes_bytes = True

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes

    def convert(self, value: Any, param: str) -> str | bytes:
        if not isinstance(value, str | bytes):
            raise self.fail(param, "text", value)
        size = len(value if isinstance(value, bytes) else checked_text(value, param).encode())
        if self.max_bytes is not None and size > self.max_bytes:
            raise InvalidRequest(
                f"parameter '{param}' is {size} bytes; EC2 takes at most {self.max_bytes}"
            )
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

    def __init__(self, minimum: int | None = None, maximum: int | None = INT32_MAX) -> None:
        self.minimum, self.maximum = minimum, maximum

    def convert(self, value: Any, param: str) -> int:
        if isinstance(value, bool):
            raise self.fail(param, "an integer", value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
            if len(value.strip()) > MAX_DIGITS:  # int() refuses 4,300 digits with ValueError
                raise InvalidRequest(f"parameter '{param}' is a number too large to be meant")
            value = int(value)
        if not isinstance(value, int):
            raise self.fail(param, "an integer (like 2)", value)
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
    """A list of strings, a single string, or a comma-separated string. A list of ids
    (items with a pattern) also splits on whitespace, as `$(aws ... --output text)` gives
    them, and names the item that is malformed (ids are not secrets)."""

    name = "list"

    def __init__(self, item: String | None = None) -> None:
        self.item = item or String()

    @cached_property
    def _split(self) -> re.Pattern[str]:
        # Compiled when first used, as String's pattern: not by every declaration at import.
        return re.compile(r"[,\s]+" if self.item.source else ",")

    def convert(self, value: Any, param: str) -> list[str]:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                try:
                    value = json.loads(stripped)
                except (ValueError, RecursionError):
                    raise InvalidRequest(f"parameter '{param}' is not a valid list") from None
            else:
                value = self._parts(stripped)
        if not isinstance(value, list | tuple):
            raise self.fail(param, "a list of strings", value)
        if self.item.pattern:
            value = [p for v in value for p in (self._parts(v) if isinstance(v, str) else [v])]
        items = [self._item(item, param, n) for n, item in enumerate(value, start=1)]
        if not items:
            # An empty id list must never reach EC2, where it can mean "all of them".
            raise InvalidRequest(f"parameter '{param}' must not be empty")
        return list(dict.fromkeys(items))

    def _parts(self, text: str) -> list[str]:
        return [part for part in self._split.split(text) if part.strip()]

    def _item(self, item: Any, param: str, position: int) -> str:
        if self.item.pattern is None:
            return self.item.convert(item, param)
        try:
            return self.item.convert(item, param)
        except InvalidRequest as exc:
            shown = printable(item) if isinstance(item, str) else type(item).__name__
            raise InvalidRequest(f"{exc.message} (item {position}: '{shown}')") from None


class Mapping_(ParamType):
    """An object of string keys to values (a JSON string of one is accepted)."""

    name = "object"

    def __init__(self, values: str = "string") -> None:
        self.values = values

    def convert(self, value: Any, param: str) -> dict[str, Any]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                raise InvalidRequest(f"parameter '{param}' is not a valid JSON object: "
                                     f"{self.example(param)}") from None
        if not isinstance(value, Mapping):
            raise self.fail(param, f"an object: {self.example(param)}", value)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise InvalidRequest(f"parameter '{param}' has an empty or non-string key")
            checked_text(key, param)
            out[key] = self._item(item, f"{param}.{key}")
        return out

    def example(self, param: str) -> str:
        """The right form, as JSON and as a command-line word (`tags=Name=web` is not it)."""
        sample = {"string-list": '{"name": ["value"]}'}.get(self.values, '{"Name": "web"}')
        return f"give {sample} (on the command line: {param}:='{sample}')"

    def _item(self, item: Any, where: str) -> Any:
        if self.values == "any":  # checked later, by whatever the keys name
            return item
        if self.values == "string-or-null" and item is None:
            return None
        if self.values == "string-list":
            return StringList().convert(item, where)
        return scalar_text(item, where)


class Tags(Mapping_):
    """Tags as EC2 takes them: 1-50 keys of 1-128 characters, values of 0-256, and no key
    in the `aws:` namespace (EC2's own)."""

    name = "object"
    MAX_TAGS, MAX_KEY, MAX_VALUE = 50, 128, 256

    def __init__(
        self, values: str = "string", *, reserved: int = 0, allow_empty: bool = False
    ) -> None:
        super().__init__(values)
        self.reserved = reserved  # tags the connector adds itself (the client token's)
        self.allow_empty = allow_empty

    def convert(self, value: Any, param: str) -> dict[str, Any]:
        tags = super().convert(value, param)
        if not tags and not self.allow_empty:
            # An empty set of tags is a request for nothing: say so, never "success".
            raise InvalidRequest(f"parameter '{param}' must not be empty")
        limit = self.MAX_TAGS - self.reserved
        if len(tags) > limit:
            raise InvalidRequest(f"parameter '{param}' has {len(tags)} tags; at most {limit}")
        for key, item in tags.items():
            if len(key) > self.MAX_KEY:
                raise InvalidRequest(f"parameter '{param}' has a key over {self.MAX_KEY} chars")
            if key.lower().startswith("aws:"):
                raise InvalidRequest(f"parameter '{param}': keys starting 'aws:' are EC2's own")
            if isinstance(item, str) and len(item) > self.MAX_VALUE:
                raise InvalidRequest(f"parameter '{param}.{key}' is over {self.MAX_VALUE} chars")
        return tags


class Cidr(ParamType):
    """An IPv4 or IPv6 network in CIDR notation (a bare address means /32 or /128)."""

    name = "cidr"

    def convert(self, value: Any, param: str) -> str:
        text = String().convert(value, param)
        try:
            return str(ipaddress.ip_network(text))
        except ValueError:
            pass
        try:
            # Host bits set: the rule would cover another network than the one written
            # (203.0.113.5/0 is all of the internet), so say which and send nothing.
            meant = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidRequest(
                f"parameter '{param}' is not a CIDR block like 10.0.0.0/16"
            ) from None
        address = text.partition("/")[0]
        raise InvalidRequest(
            f"parameter '{param}': {text} has host bits set; did you mean {meant} "
            f"(or {address}/{meant.max_prefixlen} for that address alone)?"
        )


NOTHING: Any = object()  # "no default": distinct from an explicit None


@record(frozen=True)
class Param:
    """One declared parameter of an action."""

    name: str
    type: ParamType
    doc: str
    required: bool = False
    default: Any = NOTHING
    aliases: tuple[str, ...] = ()
    secret: bool = False
    # Secret only in some requests (given the request's canonical parameters); None:
    # whenever `secret` is set. Stores and the catalog treat the name as secret always.
    secret_when: Callable[[Mapping[str, Any]], bool] | None = field(
        default=None, compare=False
    )

    def secret_in(self, params: Mapping[str, Any]) -> bool:
        if not self.secret:
            return False
        return self.secret_when is None or bool(self.secret_when(params))

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


def canonical(name: object) -> str:
    """The hyphenated spelling: `instance_id` and `instance-id` are one parameter."""
    if isinstance(name, str):
        known = _CANONICAL.get(name)
        if known is not None:
            return known
        spelled = name.strip().replace("_", "-")
        if len(_CANONICAL) < CANONICAL_CAP:
            _CANONICAL[name] = spelled
        return spelled
    return text_of(name).strip().replace("_", "-")


# Every call spells its few parameter names several times over (its timeout, secrets,
# validation): each name is worked out once. Capped: names come from callers.
_CANONICAL: dict[str, str] = {}
CANONICAL_CAP = 4096


def text_of(value: object) -> str:
    """`str(value)` that cannot fail: an int of 5,000 digits refuses to become text, and
    so may an object of the caller's; either is then named by its type."""
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        return f"<{type(value).__name__}>"


# Ids EC2 gives out: a prefix and 8 or 17 hex digits.
INSTANCE_ID = String(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?", "i-0123456789abcdef0")
GROUP_ID = String(r"sg-[0-9a-f]{8}(?:[0-9a-f]{9})?", "sg-0123456789abcdef0")
RESOURCE_ID = String(r"[a-z]+(?:-[a-z]+)*-[0-9a-f]{8}(?:[0-9a-f]{9})?", "i-0123456789abcdef0")


class Group(NamedTuple):
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

