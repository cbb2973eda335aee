"""Two parsers' answers to one response, compared: botocore's `EC2QueryParser` and the
compiled one must give the same dicts (`==` and `repr`) and the same exceptions."""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element

from botocore import parsers
from botocore.model import Shape

from ec2_connector.transport.xmlparser import CompiledEC2Parser

ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def outcome(parser: Any, response: dict[str, Any], shape: Shape | None) -> Any:
    """What a parser gives for a response: its dict, or the class and text of its error
    (botocore's can name an element, by address)."""
    try:
        return parser.parse(dict(response), shape)
    except Exception as exc:  # the error is the outcome compared
        return ("raised", type(exc), ADDRESS.sub("", str(exc)))


def canonical(value: Any) -> Any:
    """Elements compare by identity: botocore can leave one in an answer (a repeated
    scalar), so they are compared by what they hold."""
    if isinstance(value, Element):
        return ("element", value.tag, value.text)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(canonical(v) for v in value)
    return value


def assert_same(response: dict[str, Any], shape: Shape | None) -> Any:
    """botocore's outcome, after checking the compiled parser gives the same."""
    theirs = outcome(parsers.EC2QueryParser(), response, shape)
    ours = outcome(CompiledEC2Parser(), response, shape)
    assert canonical(ours) == canonical(theirs)
    assert ADDRESS.sub("", repr(ours)) == ADDRESS.sub("", repr(theirs))
    return theirs


def ok(body: bytes | str, status: int = 200) -> dict[str, Any]:
    """The response dict botocore's parsers take, as its endpoint builds it."""
    data = body.encode() if isinstance(body, str) else body
    return {"body": data, "status_code": status, "context": {},
            "headers": {"x-amzn-RequestId": "r-1", "Content-Type": "text/xml"}}
