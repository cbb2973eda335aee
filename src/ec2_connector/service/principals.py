"""Who may use the service, and for what: principals, their roles and their limits.

The service's config file names principals next to its connectors:

    {"connectors": {...},
     "principals": {"ci": {"token-hash": "sha256$<salt>$<digest>", "role": "operator",
                           "connectors": ["staging"], "actions": ["stop-*", "describe-*"],
                           "max-targets": 10, "call-operation-mutate": false}}}

`ec2-connector token create NAME --role ROLE ...` writes such an entry and prints the
token once; the file keeps only a salted hash of it. Roles: `viewer` runs read-only
actions and reads its jobs; `operator` also runs mutating ones; `admin` may do anything
and sees every principal's jobs. Limits narrow any role: which connectors, which actions
(fnmatch globs over the action's name), how many resources one request may touch, and
whether `call-operation` may run an operation that changes things. The single
$EC2_CONNECTOR_TOKEN, when set, is one more principal, `token`, with the admin role.

Tokens are 32 random bytes, so a salted SHA-256 is as strong as a slow hash against a
stolen config (stretching protects guessable passwords; nobody guesses 256 bits), and it
costs microseconds, so checking every principal on every request stays cheap and an
unknown token cannot make the service burn CPU.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest, unknown_name
from ..spec.params import Integer, String, StringList, canonical

ROLES = ("viewer", "operator", "admin")
HASH_SCHEME = "sha256"
LEGACY_NAME = "token"  # the principal $EC2_CONNECTOR_TOKEN stands for
ANONYMOUS = "anonymous"  # who calls a service that has no token at all (loopback only)
_KEYS = {"token-hash", "role", "connectors", "actions", "max-targets",
         "call-operation-mutate", "callback-secret", "description"}
_NAMES = StringList(String())
_COUNT = Integer(1, None)


@dataclass(frozen=True)
class Principal:
    """One caller of the service: its role and limits; the token's hash is never shown."""

    name: str
    role: str
    token_hash: str = field(default="", repr=False)
    connectors: tuple[str, ...] | None = None  # None: every connector
    actions: tuple[str, ...] = ("*",)
    max_targets: int | None = None
    call_operation_mutate: bool = False
    callback_secret: str | None = field(default=None, repr=False)  # signs its callbacks

    @property
    def sees_every_job(self) -> bool:
        return self.role == "admin"

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any]) -> Principal:
        entry = {canonical(str(k)): v for k, v in entry.items()}
        unknown = set(entry) - _KEYS
        if unknown:
            raise unknown_name("setting", sorted(unknown)[0], _KEYS, f" of principal '{name}'")
        role = entry.get("role")
        if role not in ROLES:
            raise InvalidRequest(f"principal '{name}': role must be one of {', '.join(ROLES)}")
        stored = entry.get("token-hash")
        if not isinstance(stored, str) or stored.count("$") != 2:
            raise InvalidRequest(
                f"principal '{name}': 'token-hash' must be what 'ec2-connector token create' "
                "writes (sha256$SALT$DIGEST)")
        try:
            connectors = entry.get("connectors")
            actions = entry.get("actions")
            limit = entry.get("max-targets")
            return cls(
                name=name, role=role, token_hash=stored,
                connectors=None if connectors is None else tuple(
                    _NAMES.convert(connectors, "connectors")),
                actions=("*",) if actions is None else tuple(_NAMES.convert(actions, "actions")),
                max_targets=None if limit is None else _COUNT.convert(limit, "max-targets"),
                call_operation_mutate=_yes(entry.get("call-operation-mutate", role == "admin")),
                callback_secret=_secret(entry.get("callback-secret")),
            )
        except InvalidRequest as exc:
            raise InvalidRequest(f"principal '{name}': {exc.message}") from None

    def to_entry(self) -> dict[str, Any]:
        """The config entry `token create` writes."""
        entry: dict[str, Any] = {"token-hash": self.token_hash, "role": self.role}
        if self.connectors is not None:
            entry["connectors"] = list(self.connectors)
        if self.actions != ("*",):
            entry["actions"] = list(self.actions)
        if self.max_targets is not None:
            entry["max-targets"] = self.max_targets
        entry["call-operation-mutate"] = self.call_operation_mutate
        if self.callback_secret is not None:
            entry["callback-secret"] = self.callback_secret
        return entry

    def may_use(self, connector: str) -> bool:
        return self.connectors is None or connector in self.connectors

    def may_run(self, action: str) -> bool:
        return any(fnmatch.fnmatchcase(action, glob) for glob in self.actions)


def _yes(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "no", "false"):
        return value.lower() in ("yes", "true")
    raise InvalidRequest("'call-operation-mutate' must be true or false")


def _secret(value: Any) -> str | None:
    import base64
    import binascii

    if value is None:
        return None
    try:
        if isinstance(value, str) and value.startswith("whsec_") and base64.b64decode(
                value.removeprefix("whsec_"), validate=True):
            return value
    except binascii.Error:
        pass
    raise InvalidRequest("'callback-secret' must be 'whsec_' and base64 "
                         "(what 'ec2-connector token create' writes)")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str, salt: str | None = None) -> str:
    salt = salt if salt is not None else secrets.token_hex(16)
    digest = hashlib.sha256(f"{salt}:{token}".encode()).hexdigest()
    return f"{HASH_SCHEME}${salt}${digest}"


def matches(token: str, stored: str) -> bool:
    """Does `token` hash to `stored`? Compared in constant time."""
    scheme, _, rest = stored.partition("$")
    salt = rest.partition("$")[0]
    if scheme != HASH_SCHEME:
        return False
    return hmac.compare_digest(hash_token(token, salt).encode(), stored.encode())


class Principals:
    """The principals of one service: from its config, plus the legacy single token."""

    def __init__(self, principals: Iterable[Principal] = (), legacy_token: str | None = None):
        self.by_name = {p.name: p for p in principals}
        # An empty token is no token: it must never be a password an empty header matches.
        self._legacy = legacy_token or None
        self._legacy_principal = Principal(LEGACY_NAME, "admin", call_operation_mutate=True)

    @classmethod
    def from_document(cls, document: Mapping[str, Any],
                      legacy_token: str | None = None) -> Principals:
        entries = document.get("principals") or {}
        if not isinstance(entries, Mapping):
            raise InvalidRequest("config: 'principals' must be an object")
        found = []
        for name, entry in entries.items():
            if not isinstance(entry, Mapping):
                raise InvalidRequest(f"config: principal '{name}' must be an object")
            found.append(Principal.from_entry(str(name), entry))
        return cls(found, legacy_token)

    @property
    def required(self) -> bool:
        """Must a request carry a token? Not when the service has neither kind."""
        return bool(self.by_name) or self._legacy is not None

    def authenticate(self, token: str) -> Principal | None:
        """The principal whose token this is, or None. Every principal's hash is checked,
        whichever matches, so the time taken tells nothing of which one did."""
        found = None
        if self._legacy is not None and hmac.compare_digest(
                token.encode(), self._legacy.encode()):
            found = self._legacy_principal
        for principal in self.by_name.values():
            if principal.token_hash and matches(token, principal.token_hash):
                found = principal
        if not self.required:
            return Principal(ANONYMOUS, "admin", call_operation_mutate=True)
        return found


# ------------------------------------------------------------------ what a request may do

@dataclass(frozen=True)
class Denial:
    """A request a principal may not make: the rule it broke and one line saying so."""

    rule: str
    message: str


def authorize(principal: Principal, connector: str, body: Mapping[str, Any]) -> Denial | None:
    """Why `principal` may not make this request, or None if it may.

    A request whose action or parameters are not valid is let through: validation
    refuses it next, and nothing is sent either way.
    """
    from ..actions import catalog

    who = f"principal '{principal.name}' ({principal.role})"
    given = {canonical(str(k)): v for k, v in body.items() if v is not None}
    try:
        named = given.get("connectors")
        used = _NAMES.convert(named, "connectors") if named is not None else []
    except InvalidRequest:
        used = []  # validation refuses it next
    for name in dict.fromkeys([connector, *used]):
        if not principal.may_use(name):
            return Denial("connectors", f"forbidden: {who} may not use connector '{name}'")
    try:
        action = catalog.get(str(given.get("action", "")))
    except InvalidRequest:
        return None
    if not principal.may_run(action.name):
        return Denial("actions", f"forbidden: {who} may not run '{action.name}' (allowed: "
                      f"{', '.join(principal.actions)})")
    operation = given.get("operation") if action.name == "call-operation" else None
    mutating = changes_things(action, operation)
    if mutating and principal.role == "viewer":
        return Denial("role", f"forbidden: {who} runs read-only actions only, and "
                      f"'{operation or action.name}' changes things")
    if operation is not None and mutating and not principal.call_operation_mutate:
        return Denial("call-operation-mutate", f"forbidden: {who} may not run "
                      f"'{operation}' with call-operation: it changes things")
    if mutating and principal.max_targets is not None:
        return _over_limit(principal, who, action, given)
    return None


def changes_things(action: Any, operation: Any) -> bool:
    """Does the request change anything? call-operation: by its operation's name."""
    if operation is not None:
        from ..actions.passthrough import read_only

        return not (isinstance(operation, str) and read_only(operation))
    return bool(action.mutating)


def _over_limit(principal: Principal, who: str, action: Any,
                given: Mapping[str, Any]) -> Denial | None:
    assert principal.max_targets is not None
    from .targets import target_count

    try:
        count = target_count(action, action.validate(given))
    except InvalidRequest:
        return None  # validation refuses it next
    if count is None:
        return Denial("max-targets", f"forbidden: {who} may touch at most "
                      f"{principal.max_targets} resources per request, and how many this "
                      "request touches cannot be known before it runs")
    if count > principal.max_targets:
        return Denial("max-targets", f"forbidden: {who} may touch at most "
                      f"{principal.max_targets} resources per request, not {count}")
    return None
