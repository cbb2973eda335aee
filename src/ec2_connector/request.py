"""A request, as every caller hands it in (`Request`), and as validation leaves it
(`Prepared`): the one place a flat mapping becomes a request and the timeout is read.

A request is never changed once made: what validation adds (the timeout a caller gave
apart from the parameters) goes into the prepared parameters, not into the caller's
`Request`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from .actions import catalog
from .config import Connectors, Target
from .errors import InvalidRequest
from .masking import MASK, secret_forms, userinfo, without_userinfo
from .spec.action import MAX_TIMEOUT_MS, Action
from .spec.params import Integer, Param, canonical, text_of
from .spec.records import record
from .transport.deadline import Deadline

TIMEOUT = Integer(1, MAX_TIMEOUT_MS)


@record()
class Request:
    """One connector call: which connector, which action, with which raw parameters."""

    connector: str
    action: str | None
    params: dict[str, Any] = field(default_factory=dict)
    timeout_ms: int | None = None

    # Written out, as Prepared's and Target's: one is made on every call (spec/records.py).
    def __init__(self, connector: str, action: str | None,
                 params: dict[str, Any] | None = None, timeout_ms: int | None = None) -> None:
        self.connector = connector
        self.action = action
        self.params = {} if params is None else params
        self.timeout_ms = timeout_ms

    def secret_names(self) -> frozenset[str]:
        """The canonical names of the parameters that are secret in this request."""
        try:
            action = catalog.get(self.action) if self.action else None
        except InvalidRequest:
            action = None
        if action is None:  # an unknown action: every name any action keeps secret
            return catalog.secret_names()
        secret = _secret_params(action)
        if not secret:
            return frozenset()
        given = {canonical(k): v for k, v in self.params.items()}
        return frozenset(p.name for p in secret if p.secret_in(given))

    def secrets(self) -> list[str]:
        """The secret values this request carries, to be masked wherever text leaves us."""
        loose = self._secret_keys()
        found: list[str] = []
        for key, value in self.params.items():
            if _loose(text_of(key)) in loose:
                found += secret_forms(value)
            elif canonical(key) == "endpoint-url":
                found += userinfo(value)
        return found

    def _secret_keys(self, *, model: bool = False) -> frozenset[str]:
        """The keys (loose forms) whose values are secret here: those this request's
        action keeps secret, and any name another action (or, with `model`, botocore's
        model) keeps secret that this action does not declare (`user-data` set on
        `describe-instances`)."""
        own = self.secret_names()
        others = _others_secret(self.action, model)
        return others.union(_loose(n) for n in own) if own else others

    def __repr__(self) -> str:
        loose = self._secret_keys(model=True)
        shown = {
            text_of(k): (MASK if _loose(text_of(k)) in loose else _shown_url(k, v))
            for k, v in self.params.items()
        }
        return (f"Request(connector={_shown(self.connector)}, action={_shown(self.action)}, "
                f"params={_shown(shown)})")


@functools.lru_cache(maxsize=1024)  # parameter names: every call's, several times
def _loose(name: str) -> str:
    # `securityKey`, `Security-Key` and `security_key` are one name to a masker.
    return re.sub(r"[^a-z0-9]", "", name.lower())


_SECRET_PARAMS: dict[str, tuple[Param, ...]] = {}
_SECRET_KEYS = frozenset(_loose(n) for n in catalog.secret_names())


def _secret_params(action: Action) -> tuple[Param, ...]:
    """The parameters of `action` that may be secret (most actions have none)."""
    found = _SECRET_PARAMS.get(action.name)
    if found is None:
        found = _SECRET_PARAMS[action.name] = tuple(p for p in action.all_params() if p.secret)
    return found


_OTHERS_SECRET: dict[tuple[str | None, bool], frozenset[str]] = {}


def _others_secret(action_name: str | None, model: bool) -> frozenset[str]:
    """The secret names (loose forms) that `action_name` does not take: set on it, their
    values are secret whatever the action makes of them. Fixed per action: cached."""
    found = _OTHERS_SECRET.get((action_name, model))
    if found is None:
        try:
            action = catalog.get(action_name) if action_name else None
        except InvalidRequest:
            action = None
        declared = frozenset() if action is None else frozenset(
            _loose(n) for p in action.all_params() for n in (p.name, *p.aliases))
        found = (_model_secret_keys() if model else _SECRET_KEYS) - declared
        if action is not None or len(_OTHERS_SECRET) < 1024:  # unknown names: bounded
            _OTHERS_SECRET[(action_name, model)] = found
    return found


@functools.cache
def _model_secret_keys() -> frozenset[str]:
    """Names botocore's model keeps secret, as keys (only a repr asks: the model's set
    is loaded on first use)."""
    from .sensitive import masked

    return _SECRET_KEYS | frozenset(_loose(n) for n in masked().everywhere)


def _shown(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int of 5,000 digits refuses repr()
        return f"<{type(value).__name__}>"


def _shown_url(key: object, value: Any) -> Any:
    if canonical(key) == "endpoint-url" and isinstance(value, str):
        return without_userinfo(value)
    return value


@record()
class Prepared:
    """A request that passed validation: everything needed to run it."""

    request: Request
    action: Action
    params: dict[str, Any]
    target: Target
    deadline: Deadline

    def __init__(self, request: Request, action: Action, params: dict[str, Any],
                 target: Target, deadline: Deadline) -> None:
        self.request = request
        self.action = action
        self.params = params
        self.target = target
        self.deadline = deadline


def prepare_one(request: Request, connectors: Connectors, deadline: Deadline) -> Prepared:
    """Validate a request for one target; raise InvalidRequest (exitcode 2) before
    anything is sent."""
    config = connectors.get(request.connector)
    if not request.action:
        raise InvalidRequest("missing required parameter 'action'")
    action = catalog.get(request.action)
    raw: Mapping[str, Any] = request.params
    if request.timeout_ms is not None and "timeout" not in raw:
        raw = {**raw, "timeout": request.timeout_ms}  # validated like any parameter
    params = action.validate(raw, config.defaults(action.connector_defaults))
    target = Target.resolve(config, params)
    return Prepared(request, action, params, target, deadline)


def timeout_of(request: Request) -> int | None:
    """The request's timeout in ms: its `timeout` parameter, else the one given apart;
    None when neither is given or it is not valid (validation then says why)."""
    raw = next((v for k, v in request.params.items()
                if isinstance(k, str) and canonical(k) == "timeout"), None)
    if raw is None:
        raw = request.timeout_ms
    if raw is None:
        return None
    try:
        return int(TIMEOUT.convert(raw, "timeout"))
    except InvalidRequest:
        return None


def as_request(
    connector: str, params: Mapping[str, Any], timeout_ms: int | None = None
) -> Request:
    """Split a flat request mapping (`{"action": ..., params...}`) into a Request."""
    params = dict(params)
    action = params.pop("action", None)
    return Request(connector, text_of(action) if action is not None else None, params, timeout_ms)
