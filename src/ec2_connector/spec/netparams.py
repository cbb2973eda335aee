"""Parameter types for where a call goes: the region and the endpoint URL.

botocore refuses a malformed region (InvalidRegionError) or endpoint (ValueError) only
when the client is built, on the I/O thread, which made them "unexpected failure"
(exitcode 1). Checked here, they are exitcode 2 naming the parameter, before anything
is built or sent. The rules are botocore's own (botocore.utils.validate_region_name and
is_valid_endpoint_url, copied: tests/test_params.py holds them to botocore's), so what
passes here is what botocore accepts.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidRequest
from .params import Integer, String

# botocore.utils.validate_region_name
REGION_PATTERN = r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)"
# botocore.utils.is_valid_endpoint_url: dot-separated labels of letters, digits and '-'
HOST_NAME = re.compile(r"^((?!-)[A-Z\d-]{1,63}(?<!-)\.)*((?!-)[A-Z\d-]{1,63}(?<!-))$", re.I)
# botocore.compat.UNSAFE_URL_CHARS
UNSAFE_URL_CHARS = frozenset("\t\r\n")
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
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and port != 0 and _valid_host(text)


def _valid_host(text: str) -> bool:
    """botocore's `is_valid_endpoint_url(text) or is_valid_ipv6_endpoint_url(text)`,
    without importing botocore.utils for a name or an IPv4 address: that import is most
    of botocore (~50 ms), which a request refused here never needs."""
    if UNSAFE_URL_CHARS.intersection(text):  # what urlsplit would silently strip
        return False
    host = urlsplit(text).hostname
    if host is None:
        return False
    if ":" in host:  # only an IPv6 literal; a host name never holds one
        from botocore.utils import is_valid_ipv6_endpoint_url

        return bool(is_valid_ipv6_endpoint_url(text))
    if len(host) > 255:
        return False
    return HOST_NAME.match(host.removesuffix(".")) is not None
