"""SigV4 for the connector's EC2 clients: botocore's signature, with less work per request.

botocore signs each request with `SigV4Auth`, which rebuilds its headers into an
`email.message`-based map twice per request, prepares the whole request once more just
to read its body, parses the URL three times and derives the signing key with four
HMACs, all in Python, on every call. `SigV4Signer` is that class with the same steps
done once each: the same canonical request, string to sign and Authorization header,
byte for byte (a test signs requests of every operation the catalog calls, both ways, at
one instant). The signing key is kept per (secret, day, region, service), as the AWS
SDKs that cache it do, under a digest of the secret, never the secret itself.

`install(client)` makes a client sign this way where botocore would use plain SigV4
(its `choose-signer` event, after botocore's own choice for the operation, so anything
else it would choose, unsigned or another version, stays botocore's).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from botocore import auth, handlers
from botocore.compat import ensure_unicode, quote
from botocore.exceptions import NoCredentialsError
from botocore.utils import normalize_url_path

NAME = "ec2-connector-v4"  # the signature version botocore is told to use
_PLAIN = "v4"
_UNSIGNED_HEADERS = frozenset(auth.SIGNED_HEADERS_BLACKLIST)
_KEYS_KEPT = 64  # signing keys: one per account and region in use, renewed daily


# botocore's stubs declare SigV4Auth's public methods only; its helpers are used here.
_SigV4Auth: Any = auth.SigV4Auth
_auth: Any = auth


class SigV4Signer(_SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 signer, computing the same signature with fewer steps."""

    def add_auth(self, request: Any) -> None:
        if self.credentials is None:
            raise NoCredentialsError()
        request.context["timestamp"] = _auth.get_current_datetime().strftime(
            _auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        headers = _headers_to_sign(request)
        signed = ";".join(sorted(name.lower().strip() for name in headers))
        canonical = "\n".join((
            request.method.upper(),
            _path(request.url),
            self.canonical_query_string(request),
            _canonical_headers(headers) + "\n",
            signed,
            request.headers["X-Amz-Content-SHA256"]
            if "X-Amz-Content-SHA256" in request.headers else self.payload(request),
        ))
        string_to_sign = self.string_to_sign(request, canonical)
        signature = hmac.new(self._signing_key(request), string_to_sign.encode("utf-8"),
                             hashlib.sha256).hexdigest()
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
            f"SignedHeaders={signed}, Signature={signature}")

    def payload(self, request: Any) -> str:
        """botocore's payload hash, reading the body without preparing the request."""
        if (self._is_streaming_checksum_payload(request)
                or not self._should_sha256_sign_payload(request)):
            return str(super().payload(request))
        body = request._request_preparer._prepare_body(request)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not body or hasattr(body, "seek"):
            return str(super().payload(request))
        # The request keeps the form it was encoded to: preparing it to send encodes
        # the same bytes again otherwise (a retry starts again from its parameters).
        request.data = body
        return hashlib.sha256(body).hexdigest()

    def _signing_key(self, request: Any) -> bytes:
        secret = self.credentials.secret_key
        day = request.context["timestamp"][0:8]
        key = (hashlib.sha256(secret.encode()).digest(), day, self._region_name,
               self._service_name)
        with _keys_lock:
            found = _keys.get(key)
            if found is not None:
                _keys.move_to_end(key)
                return found
        k_date = self._sign(f"AWS4{secret}".encode(), day)
        k_region = self._sign(k_date, self._region_name)
        k_service = self._sign(k_region, self._service_name)
        found = self._sign(k_service, "aws4_request")
        with _keys_lock:
            _keys[key] = found
            while len(_keys) > _KEYS_KEPT:
                _keys.popitem(last=False)
        return bytes(found)


_keys: OrderedDict[tuple[bytes, str, str, str], bytes] = OrderedDict()
_keys_lock = threading.Lock()


def _headers_to_sign(request: Any) -> dict[str, list[str]]:
    """botocore's `headers_to_sign`: lower-cased names, each with all its values in
    order, the unsigned ones left out, `host` from the URL when the request has none."""
    found: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered not in _UNSIGNED_HEADERS:
            found.setdefault(lowered, []).append(value)
    if "host" not in found:
        found["host"] = [_host(request.url)]
    return found


def _canonical_headers(headers: dict[str, list[str]]) -> str:
    return "\n".join(
        f"{name}:{ensure_unicode(','.join(' '.join(v.split()) for v in headers[name]))}"
        for name in sorted(headers))


@functools.lru_cache(maxsize=256)
def _host(url: str) -> str:
    return str(_auth._host_from_url(url))


@functools.lru_cache(maxsize=256)
def _path(url: str) -> str:
    """botocore's canonical path of `url` (`SigV4Auth._normalize_url_path`)."""
    return quote(normalize_url_path(urlsplit(url).path), safe="/~")


def _choose(signature_version: str, context: dict[str, Any], signing_name: str,
            **kwargs: Any) -> Any:
    """botocore's choice for the operation (a version name, or botocore.UNSIGNED); ours
    in place of plain SigV4."""
    chosen = handlers.set_operation_specific_signer(
        context=context, signing_name=signing_name, **kwargs) or signature_version
    return NAME if chosen == _PLAIN else chosen


def install(client: Any) -> None:
    """Sign `client`'s requests with `SigV4Signer` wherever botocore would use SigV4."""
    auth.AUTH_TYPE_MAPS.setdefault(NAME, SigV4Signer)
    client.meta.events.register("choose-signer.ec2", _choose)
