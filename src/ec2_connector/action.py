"""An action declared once, as data; validation and the catalog read that declaration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequest, unknown_name
from .netparams import EndpointUrl, interval_type, region_type
from .params import NOTHING, Boolean, Group, Integer, Param, String, canonical
from .settings import DEFAULT_TIMEOUT_MS, DEFAULT_WAIT_INTERVAL_MS

if TYPE_CHECKING:
    from .context import Context

MAX_TIMEOUT_MS = 86_400_000  # a day: beyond it a "timeout" is a mistake, not a bound
Runner = Callable[["Context", dict[str, Any]], dict[str, Any]]

# Accepted by every action: where and as whom to call EC2, and for how long.
CONNECTION_PARAMS = (
    Param("access-key", String(), "AWS access key id; beats the connector's config"),
    Param("security-key", String(), "AWS secret access key", secret=True),
    Param("session-token", String(), "AWS session token for temporary credentials", secret=True),
    Param("region", region_type(), "AWS region (default us-east-1)"),
    Param("endpoint-url", EndpointUrl(), "EC2 endpoint URL (default AWS; AWS_ENDPOINT_URL_EC2)"),
    Param("timeout", Integer(1, MAX_TIMEOUT_MS),
          f"bound on the whole call, in ms (default {DEFAULT_TIMEOUT_MS})"),
    Param("include-raw-body", Boolean(), "also return the last EC2 response body in meta"),
)
DRY_RUN = Param("dry-run", Boolean(), "ask EC2 whether the call would succeed, change nothing")
WAIT_PARAMS = (
    Param("wait", Boolean(), "wait until every instance reaches the target state", default=False),
    Param("wait-interval", interval_type(), "milliseconds between polls while waiting",
          default=DEFAULT_WAIT_INTERVAL_MS),
)
CONNECTION_NAMES = frozenset(p.name for p in CONNECTION_PARAMS)


@dataclass(frozen=True)
class Action:
    """One connector action: its parameters, the EC2 operations it calls, its runner."""

    name: str
    doc: str
    run: Runner
    params: tuple[Param, ...] = ()
    groups: tuple[Group, ...] = ()
    operations: tuple[str, ...] = ()
    result: str | None = None
    mutating: bool = True
    waits: bool = False
    check: Callable[[dict[str, Any]], object] | None = None  # cross-parameter rules

    def all_params(self) -> tuple[Param, ...]:
        extra: tuple[Param, ...] = (DRY_RUN,) if self.mutating else ()
        if self.waits:
            extra += WAIT_PARAMS
        return self.params + extra + CONNECTION_PARAMS

    def param_index(self) -> dict[str, Param]:
        index: dict[str, Param] = {}
        for param in self.all_params():
            index[param.name] = param
            for alias in param.aliases:
                index[alias] = param
        return index

    def secret_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.all_params() if p.secret)

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Convert raw request values to typed ones, or raise InvalidRequest naming the fault."""
        index = _param_index(self)
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = canonical(str(key))
            if name in ("action", "connector-name"):
                continue
            param = index.get(name)
            if param is None:
                raise unknown_name("parameter", name, index, f" for action '{self.name}'")
            if param.name in values:
                raise InvalidRequest(f"parameter '{param.name}' is given twice (as '{key}')")
            if value is None:
                continue
            values[param.name] = param.type.convert(value, param.name)
        for param in self.all_params():
            if param.name not in values:
                if param.required:
                    raise InvalidRequest(f"missing required parameter '{param.name}'")
                if param.default is not NOTHING:
                    values[param.name] = param.default
        for group in self.groups:
            group.check(values)
        if self.check is not None:
            self.check(values)
        return values

    def describe(self) -> dict[str, Any]:
        """The catalog entry: what `ec2-connector actions` and `GET /v1/actions` show."""
        return {
            "name": self.name,
            "doc": self.doc,
            "mutating": self.mutating,
            "result": self.result,
            "operations": list(self.operations),
            "parameters": [p.describe() for p in self.all_params()],
            "rules": [
                {"one-of" if g.exactly_one else "any-of": list(g.names), "required": g.required}
                for g in self.groups
            ],
        }


_INDEX_CACHE: dict[str, dict[str, Param]] = {}


def _param_index(action: Action) -> dict[str, Param]:
    # Built once per action: validation is on every call's path.
    index = _INDEX_CACHE.get(action.name)
    if index is None:
        index = _INDEX_CACHE[action.name] = action.param_index()
    return index
