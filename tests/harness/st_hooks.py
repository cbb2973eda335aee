"""Schemathesis checks for the service: every error is the connector's envelope.

Loaded by `schemathesis run` through SCHEMATHESIS_HOOKS=tests.harness.st_hooks.
"""

from __future__ import annotations

from typing import Any

import schemathesis

ENVELOPE = {"exitcode", "message", "data", "meta"}


@schemathesis.check
def error_is_an_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx or 5xx answer carries {exitcode, message, data, meta} with exitcode > 0."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    missing = ENVELOPE - set(body)
    assert not missing, f"error body lacks {sorted(missing)}: {body!r}"
    assert isinstance(body["exitcode"], int) and body["exitcode"] > 0, body
    assert isinstance(body["message"], str) and body["message"], body
    return True


@schemathesis.check
def call_answers_with_an_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """A sync call answered 200 carries an envelope whose exitcode is a known one."""
    if response.status_code != 200 or not case.path.endswith("/sync"):
        return None
    body = response.json()
    assert set(body) >= ENVELOPE, body
    assert body["exitcode"] in range(9), body
    return True
