"""A request's secret parameters sealed for workers with a key submitters and workers share.

A job for remote workers keeps its parameters in the shared store, which must never hold
a secret in clear. With `EC2_CONNECTOR_SEAL_KEY` (a Fernet key: AES-128-CBC and an
HMAC-SHA256 over it) the submitter seals the request's secret values into one token, the
record's `sealed` field; only a process with the same key can open it, and a token
changed in the store does not open at all (the HMAC fails), so a worker never runs a
request someone else wrote into its job. Bytes (gzip'd user data) stay bytes.

Rotation: the setting may hold several keys, comma-separated. The first seals; any of
them opens. Give every worker "new,old", then every submitter "new,old", and drop "old"
once no job sealed with it is left.

The key is a secret itself: it is never logged, shown or put in a message; a message
names its setting only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AuthError, InvalidRequest

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

SETTING = "EC2_CONNECTOR_SEAL_KEY"
_BYTES = "$bytes"  # how a bytes value rides in the sealed JSON


def seal(values: Mapping[str, Any], key: str) -> str:
    """`values` (secret parameters by name) as one token only `key` opens."""
    text = json.dumps(dict(values), default=_bytes_form, separators=(",", ":"))
    return _fernet(key).encrypt(text.encode("utf-8")).decode("ascii")


def open_sealed(token: str, key: str | None) -> dict[str, Any]:
    """The values `seal` was given; a clear error (naming the setting, never the key) if
    this process has no key, or not the one the values were sealed with."""
    if not key:
        raise InvalidRequest(
            f"this job's secret parameters are sealed, and this worker has no key to open "
            f"them: set {SETTING} to the key its submitters seal with; nothing was sent")
    from cryptography.fernet import InvalidToken

    try:
        text = _fernet(key).decrypt(token.encode("ascii"))
    except (InvalidToken, ValueError):
        raise AuthError(
            f"this job's sealed secret parameters do not open with this worker's {SETTING}: "
            "it is not the key they were sealed with (or the job was altered in the store); "
            "nothing was sent") from None
    opened = json.loads(text, object_hook=_from_bytes_form)
    if not isinstance(opened, dict):
        raise AuthError("this job's sealed secret parameters are not a set of parameters; "
                        "nothing was sent")
    return opened


def check_key(key: str) -> None:
    """Refuse a key that is not a Fernet key (exitcode 2), before anything is stored."""
    _fernet(key)


def new_key() -> str:
    """A fresh key for `EC2_CONNECTOR_SEAL_KEY`."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _fernet(key: str) -> MultiFernet:
    try:
        from cryptography.fernet import Fernet, MultiFernet
    except ImportError:
        raise InvalidRequest(
            f"{SETTING} needs the cryptography package: pip install "
            "'ec2-connector[worker]'") from None
    try:
        return MultiFernet([Fernet(k.strip().encode("ascii")) for k in key.split(",")])
    except (ValueError, TypeError, UnicodeEncodeError):
        # Fernet's own message is safe, but a key is never worth echoing in any form.
        raise InvalidRequest(
            f"{SETTING} is not a Fernet key, or a comma-separated list of them (32 bytes, "
            "url-safe base64): make one with "
            "python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'") from None


def _bytes_form(value: Any) -> dict[str, str]:
    if isinstance(value, bytes | bytearray):
        return {_BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"a {type(value).__name__} value cannot be sealed")


def _from_bytes_form(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and isinstance(obj.get(_BYTES), str):
        return base64.b64decode(obj[_BYTES])
    return obj
