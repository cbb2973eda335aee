"""From command-line words to a flat request, and from a request to a builder.

Words are `key=value` (a string) or `key:=json` (a JSON value), as httpie reads them. A
value `@FILE`, `file://FILE` or `@-` is read from a file or stdin (as bytes where the
parameter takes bytes, e.g. user-data), `fileb://FILE` always as bytes. A key given
twice accumulates for a list parameter and is refused for any other. Errors name the
key and the position, never a value: it may be a secret.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from ..spec.names import same_verb
from ..spec.params import Param, StringList, canonical
from .options import UsageError
from .prog import PROG

if TYPE_CHECKING:
    from ..call import Call, RequestBuilder
    from ..spec.action import Action

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Words:
    """The request being gathered, with what is known of its action's parameters."""

    def __init__(self, base: dict[str, Any]) -> None:
        self.request = base
        self.action: Action | None = None
        self.index: dict[str, Param] = {}
        self.given: set[str] = set()  # parameters given on the command line (not the file)
        self.stdin_used = False

    def set_action(self, name: str) -> None:
        self.request["action"] = name
        self.action = find_action(name)
        self.index = self.action.param_index() if self.action else {}

    def add(self, key: str, value: Any, where: str) -> None:
        """Add one parameter: a repeat extends a list parameter, else must not differ."""
        param = self.index.get(canonical(key))
        name = param.name if param else canonical(key)
        known = next((k for k in self.request if self._name(k) == name), None)
        if known is None or name not in self.given:
            if known is not None:
                del self.request[known]  # a pair beats the --request file
            self.request[key] = value
        elif param is not None and isinstance(param.type, StringList):
            self.request[known] = [*_as_list(self.request[known]), *_as_list(value)]
        elif self.request[known] != value:
            raise UsageError(
                f"'{name}' is given twice ({where}); it takes one value"
                + ("" if param is None else f" ({param.type.name})")
            )
        self.given.add(name)

    def _name(self, key: str) -> str:
        param = self.index.get(canonical(key))
        return param.name if param else canonical(key)

    def takes_bytes(self, key: str) -> bool:
        param = self.index.get(canonical(key))
        return bool(param is not None and getattr(param.type, "takes_bytes", False))


def find_action(name: str) -> Action | None:
    from ..actions import catalog

    try:
        return catalog.get(name)
    except InvalidRequest:
        return None


def gather_request(
    words: list[str], request_file: str | None, flags: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The flat request: the --request object, then ACTION, then pairs and flags over it."""
    gathered = Words(read_request(request_file) if request_file else {})
    if request_file == "-":
        gathered.stdin_used = True
    words = list(words)
    if words and "=" not in words[0]:
        gathered.set_action(words.pop(0))
    elif gathered.request.get("action"):
        gathered.set_action(str(gathered.request["action"]))
    for position, word in enumerate(words, start=1):
        if "=" not in word:
            raise UsageError(_not_a_pair(word, position, words, gathered))
        key, value = parse_pair(word, position, gathered)
        if canonical(key) == "connector" and "connector" not in gathered.index:
            # A connector's name is no secret, but a value read from a file may be.
            name = value if isinstance(value, str) and _NAME.fullmatch(value) else "NAME"
            raise UsageError(f"the connector is chosen with --connector {name}, not a pair")
        gathered.add(key, value, f"parameter {position}")
    for key, value in (flags or {}).items():
        gathered.add(key, value, f"as --{key} and as a pair")
    if not gathered.request.get("action"):
        raise UsageError(
            f"no action: give ACTION or an 'action' in --request (see '{PROG} actions')"
        )
    return gathered.request


def _not_a_pair(word: str, position: int, words: list[str], gathered: Words) -> str:
    if gathered.action is None and find_action(word) is not None:
        pairs = " ".join(w for w in words if "=" in w)
        return (f"the action comes first: {PROG} call {canonical(word)} {pairs}".rstrip()
                + f" (see '{PROG} call --help')")
    return f"parameter {position} is not key=value or key:=json (see '{PROG} call --help')"


def parse_pair(word: str, position: int, gathered: Words | None = None) -> tuple[str, Any]:
    """One `key=value` or `key:=json` word; a value may come from a file or stdin."""
    gathered = gathered or Words({})
    index = word.find("=")
    is_json = index > 0 and word[index - 1] == ":"
    key = word[: index - 1] if is_json else word[:index]
    if index < 0 or not key:
        raise UsageError(f"parameter {position} is not key=value or key:=json")
    raw: Any = word[index + 1 :]
    # \@ keeps a value that starts with @ (a tag value "@home") from naming a file.
    raw = raw[1:] if raw.startswith("\\@") else read_value(key, raw, gathered, json_text=is_json)
    if not is_json:
        return key, raw
    try:
        return key, json.loads(raw)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
        raise UsageError(
            f"the value of '{key}' (given with :=) is not valid JSON: {reason}; "
            f"use {key}=text for a plain string"
        ) from None


def read_value(key: str, raw: str, gathered: Words, *, json_text: bool = False) -> Any:
    """The value itself, or what the file or stdin it names holds."""
    binary = False
    if raw.startswith("fileb://"):
        source, binary = raw[len("fileb://"):], True
    elif raw.startswith("file://"):
        source = raw[len("file://"):]
    elif raw.startswith("@") and len(raw) > 1:
        source = raw[1:]
    else:
        return raw
    if binary and json_text:
        raise UsageError(f"'{key}': fileb:// gives bytes, not JSON; use {key}:=@FILE")
    binary = binary or (gathered.takes_bytes(key) and not json_text)
    where = "stdin" if source == "-" else f"file '{source}'"
    try:
        if source == "-":
            if gathered.stdin_used:
                raise UsageError(f"'{key}': stdin is already read by another value")
            gathered.stdin_used = True
            data = sys.stdin.buffer.read()
        else:
            data = Path(source).expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the value of '{key}' from {where}: {exc.strerror}") \
            from None
    if binary:
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"the value of '{key}' in {where} is not UTF-8 text; fileb:// gives bytes"
        ) from None


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def flag_hint(flag: str, value: str | None, action: Action | None,
              call: argparse.ArgumentParser) -> str:
    """What to say of an unknown `--flag`: the pair it most likely means, else the
    closest option of `call` (the call command's parser)."""
    name = canonical(flag.lstrip("-").split("=", 1)[0])
    if action is not None:
        import difflib  # a mistyped flag only

        index = action.param_index()
        match = name if name in index else next(
            iter(difflib.get_close_matches(name, same_verb(name, index), n=1, cutoff=0.75)),
            None)
        if match is not None:
            param = index[match]
            shown = value if value is not None else (
                "true" if param.type.name == "boolean" else "...")
            return (f"unknown flag '{flag}': parameters are pairs; did you mean "
                    f"{param.name}={shown}?")
    from .options import option_hint

    return (f"unrecognized arguments: {flag}"
            + (option_hint(call, flag) or f" (see '{PROG} call --help')"))


def read_request(source: str) -> dict[str, Any]:
    """A whole JSON request object from a file, or from stdin for `-`."""
    where = "stdin" if source == "-" else f"file {source}"
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read the request {where}: {reason}") from None
    try:
        request = json.loads(text)
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
        raise UsageError(f"the request {where} is not valid JSON: {reason}") from None
    if not isinstance(request, dict):
        kind = type(request).__name__.replace("dict", "object").replace("list", "array")
        raise UsageError(f"the request {where} must be a JSON object, not {kind}")
    return request


def result_key_of(request: Mapping[str, Any]) -> str | None:
    """The data key holding the action's result list (for table and ndjson output)."""
    action = find_action(str(request.get("action")))
    return action.result if action else None


def builder_for(call: Call, connector: str, request: dict[str, Any]) -> RequestBuilder:
    builder = call.connector(connector)
    for key, value in request.items():
        builder.set(key, value)
    return builder
