"""Checks on an EC2 response as it came off the wire, before botocore parses it.

botocore reads bodies with urllib3's Content-Length check turned off, so a connection
that the endpoint closes mid-body (FIN, not RST) hands the parser a truncated document,
which would surface as "malformed XML" (exitcode 1). A body shorter than its declared
length is a broken connection (exitcode 4), and is reported as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import EndpointUnreachable


def check_complete(response_dict: Mapping[str, Any], endpoint: str | None) -> None:
    """Raise EndpointUnreachable when the body is shorter than its Content-Length."""
    body = response_dict.get("body")
    declared = _declared_length(response_dict.get("headers") or {})
    if declared is None or not isinstance(body, bytes | bytearray) or len(body) >= declared:
        return
    raise EndpointUnreachable(
        f"the connection to the endpoint broke mid-response ({len(body)} of {declared} "
        f"bytes received): {endpoint or 'the endpoint'}",
        code="IncompleteBody",
    )


def _declared_length(headers: Mapping[str, Any]) -> int | None:
    value = headers.get("content-length") or headers.get("Content-Length")
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def parse_timestamp(value: str) -> Any:
    """EC2's ISO 8601 timestamps, parsed by the C `fromisoformat` (~40x dateutil).

    botocore parses every timestamp with dateutil, a third of the cost of parsing a
    DescribeInstances page. Anything `fromisoformat` cannot read exactly as botocore
    would (epoch numbers, no time zone) goes to botocore's own parser.
    """
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        from botocore.utils import parse_timestamp as botocore_parse

        return botocore_parse(value)
    return parsed

