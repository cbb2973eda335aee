"""From command-line words to a flat request, and from a request to a builder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from .parser import PROG, UsageError

if TYPE_CHECKING:
    from ..call import Call, RequestBuilder


def gather_request(words: list[str], request_file: str | None) -> dict[str, Any]:
    """The flat request: the --request object, then ACTION, then key=value pairs over it."""
    request = read_request(request_file) if request_file else {}
    if words and "=" not in words[0]:
        request["action"] = words.pop(0)
    for position, word in enumerate(words, start=1):
        key, value = parse_pair(word, position)
        request[key] = value
    if not request.get("action"):
        raise UsageError(
            f"no action: give ACTION or an 'action' in --request (see '{PROG} actions')"
        )
    return request


def parse_pair(word: str, position: int) -> tuple[str, Any]:
    """`key=value` (a string) or `key:=json` (a JSON value), as httpie reads them.

    Errors name the key and the position, never the value: it may be a secret.
    """
    index = word.find("=")
    is_json = index > 0 and word[index - 1] == ":"
    key = word[: index - 1] if is_json else word[:index]
    if index < 0 or not key:
        raise UsageError(
            f"parameter {position} is not key=value or key:=json"
        )
    raw = word[index + 1 :]
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


def result_key_of(request: dict[str, Any]) -> str | None:
    """The data key holding the action's result list (for table and ndjson output)."""
    from ..actions import catalog

    try:
        return catalog.get(str(request.get("action"))).result
    except InvalidRequest:
        return None


def builder_for(call: Call, connector: str, request: dict[str, Any]) -> RequestBuilder:
    builder = call.connector(connector)
    for key, value in request.items():
        builder.set(key, value)
    return builder
