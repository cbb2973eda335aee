"""An action declared once, as data; validation, the runner and the catalog read it.

An action is an `Action(...)` in one of the `actions/` modules. Most need no code:

    Action(
        name="describe-volume",             # Flint's name where Flint had the action
        aliases=("describe-volumes",),       # the AWS CLI name, when it differs
        doc="Describe volumes by id or by filters.",
        operation="DescribeVolumes",         # the EC2 operation (botocore's name)
        resource="volume",                   # its facts: resources.RESOURCES
        mutating=False,                      # True (default): takes dry-run, sends DryRun
        params=(VOLUME_IDS, FILTERS),
        inputs={"volume-id": "VolumeIds",    # parameter -> input member ("A.B" nests)
                "filters": In("Filters", filters_arg)},   # or with a conversion
        result="volume-details",             # the data key of the result
        items="Volumes",                     # JMESPath to the result's list in the output,
        fields=VOLUME_FIELDS,                # each item mapped by fields (see fields.py)
        example={"volume-id": "vol-0123456789abcdef0"},   # a valid request
    )

The result is, by which of these is declared: `items` (a list, paged and streamed),
`item` (one mapped object under `result`), or neither (the `fields` of the output at the
top of the data). `echo` copies request parameters into the data; `derive` computes
result values from the request. `build` computes input members from several parameters
at once. The generic runner (actions/runner.py) sends `DryRun` for mutating actions, pages only
where botocore's paginator model has the operation, and sends `MaxResults` only where the
input shape has it. An action with logic no declaration states (a token search, per-id
batches, a rule pair) gives `run=`; it still declares its operations and an example.

A mutating action declares `rerun=`: whether a job of it that lost its worker may run
again on its own (see `Rerun`); a declaration without it fails at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InvalidRequest, unknown_name
from ..settings import DEFAULT_TIMEOUT_MS, DEFAULT_WAIT_INTERVAL_MS
from .fields import Fields
from .names import cli_name, same_verb
from .netparams import EndpointUrl, interval_type, region_type
from .params import NOTHING, Boolean, Group, Integer, Param, String, canonical
from .records import record

if TYPE_CHECKING:
    from ..response import Outcome
    from ..transport.context import Context

MAX_TIMEOUT_MS = 86_400_000  # a day: beyond it a "timeout" is a mistake, not a bound
# A runner's data, or an Outcome: the data with a success message of its own.
Runner = Callable[["Context", dict[str, Any]], "dict[str, Any] | Outcome"]

# Accepted by every action: where and as whom to call EC2, and for how long.
CONNECTION_PARAMS = (
    Param("access-key", String(), "AWS access key id; beats the connector's config"),
    Param("security-key", String(), "AWS secret access key", secret=True),
    Param("session-token", String(), "AWS session token for temporary credentials", secret=True),
    Param("region", region_type(),
          "AWS region (default: the connector's, else the AWS config's, else us-east-1)"),
    Param("profile", String(), "AWS profile (~/.aws) to take credentials and region from"),
    Param("endpoint-url", EndpointUrl(), "EC2 endpoint URL (default AWS; AWS_ENDPOINT_URL_EC2)"),
    Param("timeout", Integer(1, MAX_TIMEOUT_MS),
          f"bound on the whole call, in ms (default {DEFAULT_TIMEOUT_MS})"),
    Param("include-raw-body", Boolean(), "also return the last EC2 response body in meta"),
)
DRY_RUN = Param("dry-run", Boolean(), "ask EC2 whether the call would succeed, change nothing")
WAIT_PARAMS = (
    Param("wait", Boolean(), "wait until every resource reaches the target state",
          default=False),
    Param("wait-interval", interval_type(), "milliseconds between polls while waiting",
          default=DEFAULT_WAIT_INTERVAL_MS),
)
# Taken by every create that reruns safely (declared or not): its tag finds what it made.
TOKEN_PARAM = Param("client-token", String(r"[\x21-\x7e]{1,64}", "my-request-1"),
                    "idempotency token: a retry with it never creates twice")
CONNECTION_NAMES = frozenset(p.name for p in CONNECTION_PARAMS)


class Rerun(StrEnum):
    """Whether a second run of an action is safe when the first may have reached EC2.

    A job whose worker was lost runs again on its own only if its action's class is not
    MANUAL; a MANUAL job stays `interrupted` until an explicit `jobs resume`.
    """

    READ_ONLY = "read-only"  # changes nothing
    CONVERGES = "converges"  # a second run leaves EC2 as the first one left it
    FOUND_BY_TOKEN = "found-by-token"  # a create whose rerun finds the first one's resource
    MANUAL = "manual"  # nothing can tell what the first run did: a person decides

    @property
    def note(self) -> str:
        """What protects a rerun, as the rerun's message says it."""
        return _RERUN_NOTES[self]


_RERUN_NOTES = {
    Rerun.READ_ONLY: "it only reads, so a rerun changes nothing",
    Rerun.CONVERGES: "its change converges: a second run leaves EC2 as the first one "
                     "left it (it may report the first run's change as an error)",
    Rerun.FOUND_BY_TOKEN: "a create first looks for what its client token made (the tag "
                          "ec2-connector:client-token, under the token's lock) and returns "
                          "that instead of creating another",
    Rerun.MANUAL: "nothing can tell what the first run did, so it runs again only on "
                  "`jobs resume`",
}


class In(NamedTuple):
    """An input member (`"A.B"` nests) and how a parameter's value becomes its value."""

    member: str
    convert: Callable[[Any], Any] | None = None


@record(frozen=True, kw_only=True)
class Action:
    """One connector action: its parameters, its EC2 operation, its result; see the top."""

    name: str
    doc: str
    run: Runner | None = None  # None: the generic runner (actions/runner.py) runs it
    params: tuple[Param, ...] = ()
    groups: tuple[Group, ...] = ()
    aliases: tuple[str, ...] = ()
    operation: str | None = None
    operations: tuple[str, ...] = ()  # further operations the action may call
    # operation -> the parameter values that make the action call it; the operation's AWS
    # CLI name (names.py) then means the action with those values.
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    inputs: Mapping[str, str | In] = field(default_factory=dict)
    build: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    result: str | None = None
    items: str | None = None
    item: str | None = None
    fields: Fields = field(default_factory=dict)
    echo: tuple[str, ...] = ()
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    resource: str | None = None
    columns: tuple[str, ...] = ()  # table columns, when not the resource's
    mutating: bool = True
    dry_run: bool = True  # False: EC2 has no dry run for the operation
    waits: bool = False  # a custom runner that waits
    until: str | None = None  # with `wait`, the generic runner waits for this state
    secret_results: tuple[str, ...] = ()  # result keys never stored, logged or in raw-body
    async_requires: str | None = None  # the parameter an async call needs (secret results)
    example: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], object] | None = None  # cross-parameter rules
    rerun: Rerun | None = None  # mutating actions: is a second run safe? (see Rerun)
    # The connector setting holding defaults of its parameters ("launch-defaults").
    connector_defaults: str | None = None

    def __post_init__(self) -> None:
        if not self.mutating:
            object.__setattr__(self, "rerun", Rerun.READ_ONLY)
        elif self.rerun is None or self.rerun is Rerun.READ_ONLY:
            raise TypeError(f"action '{self.name}' changes EC2: it must declare rerun= "
                            "(converges, found-by-token or manual)")

    def all_operations(self) -> tuple[str, ...]:
        """Every EC2 operation the action may call (the trimmed model holds them)."""
        ops: tuple[str, ...] = (self.operation,) if self.operation else ()
        if self.until and self.resource:  # waits, then describes afresh
            from .resources import resource

            ops += (resource(self.resource).describe,)
        if self.rerun is Rerun.FOUND_BY_TOKEN and self.resource:  # the token look-up
            from .resources import resource

            ops += (resource(self.resource).describe,)
        return tuple(dict.fromkeys((*ops, *self.operations)))

    def table_columns(self) -> list[str]:
        if self.columns:
            return list(self.columns)
        if self.resource and self.items:
            from .resources import resource

            return list(resource(self.resource).columns)
        return []

    def all_params(self) -> tuple[Param, ...]:
        extra: tuple[Param, ...] = (DRY_RUN,) if self.mutating and self.dry_run else ()
        if self.rerun is Rerun.FOUND_BY_TOKEN and all(p.name != "client-token"
                                                      for p in self.params):
            extra += (TOKEN_PARAM,)
        if self.waits or self.until:
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

    def validate(
        self, raw: Mapping[str, Any], defaults: Iterable[tuple[str, Any]] = ()
    ) -> dict[str, Any]:
        """Convert raw request values to typed ones, or raise InvalidRequest naming the fault.
        `defaults` (the connector's `connector_defaults` setting) fill parameters the request
        does not give; those applied are listed under that setting's name."""
        index = _param_index(self)
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = canonical(key)
            if name in ("action", "connector-name"):
                continue
            param = index.get(name)
            if param is None:
                raise unknown_name("parameter", name, same_verb(name, index),
                                   f" for action '{self.name}'")
            if param.name in values:
                raise InvalidRequest(f"parameter '{param.name}' is given twice (as '{key}')")
            if value is None:
                continue
            values[param.name] = param.type.convert(value, param.name)
        if defaults:
            self._defaulted(values, defaults, index)
        for param in _filled(self):
            if param.name not in values:
                if param.required:
                    raise InvalidRequest(f"missing required parameter '{param.name}'")
                values[param.name] = param.default
        for group in self.groups:
            group.check(values)
        if self.check is not None:
            self.check(values)
        return values

    def _defaulted(self, values: dict[str, Any], defaults: Iterable[tuple[str, Any]],
                   index: Mapping[str, Param]) -> None:
        setting = self.connector_defaults or "defaults"
        applied = {}
        for key, value in defaults:
            param = index.get(canonical(key))
            if param is None or param.name in CONNECTION_NAMES:
                raise unknown_name(f"parameter in the connector's {setting}", canonical(key),
                                   [p.name for p in self.params])
            if param.secret or param.name == "client-token":
                # A token for every launch would make the second return the first.
                raise InvalidRequest(f"connector setting {setting}: '{param.name}' is given "
                                     "per request, never as a default")
            if param.name not in values and value is not None:
                try:
                    values[param.name] = applied[param.name] = param.type.convert(
                        value, param.name)
                except InvalidRequest as exc:
                    raise InvalidRequest(f"connector setting {setting}: {exc.message}") from None
        if applied:
            values[setting] = applied

    def check_async(self, values: Mapping[str, Any]) -> None:
        """Refuse a job whose secret result would otherwise be lost (never stored)."""
        if self.async_requires and not values.get(self.async_requires):
            raise InvalidRequest(
                f"'{self.name}' returns {', '.join(self.secret_results)} to a sync call "
                f"only (never stored in a job): give '{self.async_requires}' to run it async")

    def describe(self) -> dict[str, Any]:
        """The catalog entry: what `ec2-connector actions` and `GET /v1/actions` show."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "doc": self.doc,
            # The AWS CLI command calling the same operation (its result keys differ: ours
            # are Flint's).
            "aws-cli": f"aws ec2 {cli_name(self.operation)}" if self.operation else None,
            "mutating": self.mutating,
            "result": self.result,
            "resource": self.resource,
            "columns": self.table_columns(),
            "operations": list(self.all_operations()),
            "example": dict(self.example),
            "waits-for": self.until,
            "secret-results": list(self.secret_results),
            "rerun": str(self.rerun),
            "parameters": [p.describe() for p in self.all_params()],
            "rules": [
                {"one-of" if g.exactly_one else "any-of": list(g.names), "required": g.required}
                for g in self.groups
            ],
        }


_INDEX_CACHE: dict[int, dict[str, Param]] = {}


def _param_index(action: Action) -> dict[str, Param]:
    # Built once per action: validation is on every call's path. Keyed by the object: an
    # AWS CLI alias with presets is a variant of its action, under the same name.
    index = _INDEX_CACHE.get(id(action))
    if index is None:
        index = _INDEX_CACHE[id(action)] = action.param_index()
    return index


_FILLED_CACHE: dict[int, tuple[Param, ...]] = {}


def _filled(action: Action) -> tuple[Param, ...]:
    """The parameters a request must give or that have a default, in declared order."""
    filled = _FILLED_CACHE.get(id(action))
    if filled is None:
        filled = _FILLED_CACHE[id(action)] = tuple(
            p for p in action.all_params() if p.required or p.default is not NOTHING)
    return filled
