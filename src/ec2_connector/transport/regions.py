"""Which region a call goes to, and whether AWS has such a region.

The chain is the AWS CLI's: the request, else the connector's config, else what botocore
resolves for the profile in effect (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
`region` in ~/.aws/config), else us-east-1. A call says in `meta.region-source` which
link gave its region, so "why did this go to us-east-1" has an answer.

A region name is checked against botocore's partitions: `us-east-9` is a typo, and on
AWS it would only ever be "endpoint unreachable". With an explicit endpoint URL (a
compatible endpoint, a VPC endpoint) any well-formed name is allowed, since the region
there is only a signing scope.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from ..errors import AuthError, InvalidRequest
from . import sessions

DEFAULT_REGION = "us-east-1"
# Environment variables through which botocore points EC2 at another endpoint.
ENDPOINT_ENV = ("AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL")


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every partition botocore knows (its `partitions.json`)."""
    from botocore.loaders import create_loader

    data: dict[str, Any] = create_loader().load_data("partitions")
    return frozenset(
        name
        for partition in data.get("partitions", [])
        for name in partition.get("regions", {})
        if not name.endswith("-global")
    )


def check_known(region: str) -> None:
    """InvalidRequest (exitcode 2) for a region AWS does not have, with the closest one."""
    if region in known_regions():
        return
    import difflib

    matches = difflib.get_close_matches(region, sorted(known_regions()), n=1, cutoff=0.6)
    hint = f" (did you mean '{matches[0]}'?)" if matches else ""
    raise InvalidRequest(
        f"unknown region '{region}'{hint}; with an explicit endpoint-url any region name "
        "is accepted"
    )


def endpoint_from_env() -> str | None:
    for name in ENDPOINT_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def from_aws_chain(profile: str | None) -> str | None:
    """The region botocore resolves for `profile` (None: $AWS_PROFILE or default).

    AuthError (exitcode 5) with botocore's own text when the AWS configuration itself is
    broken: a profile that does not exist, a config file that cannot be parsed or read.
    """
    if os.environ.get("AWS_REGION"):  # the SDKs' name, which botocore itself ignores
        return os.environ["AWS_REGION"]
    key = (profile, os.environ.get("AWS_PROFILE"), os.environ.get("AWS_DEFAULT_REGION"))
    return _resolved_region(key, *sessions.config_stamp())


@functools.lru_cache(maxsize=64)
def _resolved_region(
    key: tuple[str | None, str | None, str | None], config_file: str, stamp: int | None
) -> str | None:
    # Cached by profile, environment and the config file's mtime: a session per call
    # would parse ~/.aws/config on every call. The session read is the spare that the
    # client cache then builds on (sessions.py).
    from botocore import exceptions as bexc

    try:
        region = sessions.read(key[0], lambda s: s.get_config_variable("region"))
    except (bexc.BotoCoreError, OSError) as exc:
        raise AuthError(f"AWS configuration: {one_line(exc)}") from None
    return str(region) if region else None


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
