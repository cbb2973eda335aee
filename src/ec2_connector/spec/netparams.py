"""Parameter types for where a call goes: the region and the endpoint URL.

botocore refuses a malformed region (InvalidRegionError) or endpoint (ValueError) only
when the client is built, on the I/O thread, which made them "unexpected failure"
(exitcode 1). Checked here, they are exitcode 2 naming the parameter, before anything
is built or sent. The rules are botocore's own (botocore.utils.validate_region_name and
is_valid_endpoint_url), so what passes here is what botocore accepts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidRequest
from .params import Integer, String

# botocore.utils.validate_region_name
REGION_PATTERN = r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)"
# An hour between polls: beyond it a wait interval is a mistake, and a huge one overflows
# the thread wait (OverflowError) once a wait begins.
MAX_INTERVAL_MS = 3600 * 1000


def region_type() -> String:
    """An AWS region name, e.g. us-east-1."""
    return String(REGION_PATTERN, "us-east-1")


def interval_type() -> Integer:
    """Milliseconds between wait polls."""
    return Integer(100, MAX_INTERVAL_MS)


class EndpointUrl(String):
    """An http(s) URL with a host and, optionally, a port in 1..65535."""

    name = "url"

    def convert(self, value: Any, param: str) -> str:
        text = super().convert(value, param)
        if not _is_endpoint(text):
            raise InvalidRequest(
                f"parameter '{param}' is not an http(s) URL like "
                "https://ec2.us-east-1.amazonaws.com"
            )
        return text


def _is_endpoint(text: str) -> bool:
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        return False
    valid = is_valid_endpoint_url(text) or is_valid_ipv6_endpoint_url(text)
    return parts.scheme in ("http", "https") and bool(valid) and port != 0
