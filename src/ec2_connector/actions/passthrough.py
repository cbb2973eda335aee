"""`call-operation`: any EC2 operation by name, with EC2's own input, checked first.

The operation must exist in botocore's model and its parameters pass botocore's
ParamValidator before anything is sent (exitcode 2 otherwise). Read-only operations
(Describe*, Get*, List*, Search*) are allowed; any other only when the connector's config
lists it in `allow-operations` (fnmatch patterns: `"Modify*"`). It pages where botocore
has a paginator (`max-items` stops early), with the envelope, deadline, retries and
dry-run rule of every action. The full model is loaded only by this action.

Sensitive values (members the model marks sensitive, and `UserData`, console `Output`)
are returned to a sync caller, masked in what a job record keeps, and the raw body of
an operation whose output has any is withheld. A job record never holds `parameters`;
in messages its values are masked only when it carries a sensitive member (or when the
operation is unknown), so an ordinary error still names the id or value it is about.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from datetime import datetime
from typing import Any

from ..errors import InvalidRequest, unknown_name
from ..sensitive import ALSO_MASKED
from ..spec.action import Action, Rerun
from ..spec.params import Integer, Mapping_, Param, String
from ..transport.context import READ_ONLY_PREFIXES, Context
from .runner import pages

ALSO_SENSITIVE = frozenset(ALSO_MASKED)  # what the model does not mark, and why
MASK = "***"


class _Input(Mapping_):
    """EC2's own input: an object of PascalCase members, checked by botocore later."""

    name = "object"

    def convert(self, value: Any, param: str) -> dict[str, Any]:
        if isinstance(value, str):
            value = super().convert(value, param)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.fail(param, "an object of EC2 input members", value)
        return dict(value)


def read_only(operation: str) -> bool:
    return operation.startswith(READ_ONLY_PREFIXES)


def _allowed(operation: str, patterns: tuple[str, ...]) -> bool:
    return read_only(operation) or any(fnmatch.fnmatchcase(operation, p) for p in patterns)


def call_operation(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    operation = p["operation"]
    ctx.clients = ctx.clients.full()  # the full model, for this call only
    model = ctx.client().meta.service_model
    if operation not in model.operation_names:
        raise unknown_name("EC2 operation", operation, model.operation_names)
    if not _allowed(operation, ctx.target.allow_operations):
        raise InvalidRequest(
            f"'{operation}' changes things: call-operation runs it only when the connector's "
            f"config allows it, e.g. \"allow-operations\": [\"{operation}\"]")
    op_model = model.operation_model(operation)
    args = dict(p.get("parameters") or {})
    if p.get("dry-run"):
        if "DryRun" not in op_model.input_shape.members:
            raise InvalidRequest(f"'{operation}' has no dry run in EC2")
        args["DryRun"] = True
    _validate(args, op_model)
    if op_model.output_shape is not None and _has_sensitive(op_model.output_shape):
        ctx.notes["raw-body"] = "withheld: the response holds sensitive values"
    result, count = _collect(ctx, operation, args, p.get("max-items"))
    if "raw-body" in ctx.notes and ctx.raw_body is not None:
        ctx.raw_body = None
    return {"operation": operation, "result": plain(result), "pages": count}


def _validate(args: dict[str, Any], op_model: Any) -> None:
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(args, op_model.input_shape)
    if report.has_errors():
        text = " ".join(report.generate_report().split())
        raise InvalidRequest(f"parameter 'parameters' is invalid for {op_model.name}: {text}")


def _collect(
    ctx: Context, operation: str, args: dict[str, Any], max_items: int | None
) -> tuple[dict[str, Any], int]:
    from ..transport import model

    config = model.paginator(operation, ctx.clients.operations) or {}
    keys = config.get("result_key") or []
    keys = [keys] if isinstance(keys, str) else [k for k in keys if "." not in k]
    merged: dict[str, Any] = {}
    count = 0
    for page in pages(ctx, operation, args, sized=False):
        count += 1
        page = {k: v for k, v in page.items() if k not in ("ResponseMetadata", "NextToken")}
        for key, value in page.items():
            if key in keys and isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            else:
                merged[key] = value
        if max_items and keys and sum(len(merged.get(k, [])) for k in keys) >= max_items:
            for key in keys:
                merged[key] = merged.get(key, [])[:max_items]
            break
    return merged, count


def plain(value: Any) -> Any:
    """EC2's output as JSON holds it: timestamps as ISO 8601 text."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _has_sensitive(shape: Any, seen: set[str] | None = None) -> bool:
    seen = set() if seen is None else seen
    if shape.name in seen:
        return False
    seen.add(shape.name)
    if shape.metadata.get("sensitive"):
        return True
    members = getattr(shape, "members", None) or {}
    if any(name in ALSO_SENSITIVE for name in members):
        return True
    inner = [*members.values(), *(getattr(shape, n, None) for n in ("member", "value"))]
    return any(s is not None and _has_sensitive(s, seen) for s in inner)


def masked(shape: Any, value: Any) -> Any:
    """`value` with every sensitive member of `shape` replaced by MASK."""
    if shape is None or value is None:
        return value
    if shape.metadata.get("sensitive"):
        return MASK
    if shape.type_name == "structure" and isinstance(value, dict):
        return {
            k: MASK if k in ALSO_SENSITIVE and v else masked(shape.members.get(k), v)
            for k, v in value.items()
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [masked(shape.member, v) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: masked(shape.value, v) for k, v in value.items()}
    return value


@functools.cache
def _full_model() -> Any:
    # Loaded once, and only by call-operation requests: the full model costs ~100 ms.
    import botocore.session

    return botocore.session.get_session().get_service_model("ec2")


def _carries_sensitive(params: Any) -> bool:
    """Whether this request's `parameters` hold a member the model marks sensitive.

    Undecidable requests (an unknown operation, unreadable input) count as sensitive."""
    value = params.get("parameters")
    try:
        if isinstance(value, str):
            value = json.loads(value)
        input_shape = _full_model().operation_model(str(params.get("operation"))).input_shape
    except Exception:  # any doubt keeps the values masked
        return True
    if not value:
        return False
    if input_shape is None or not isinstance(value, dict):
        return True
    return bool(masked(input_shape, value) != value)


def storable(envelope: dict[str, Any]) -> dict[str, Any]:
    """A call-operation envelope as a job record may keep it: sensitive values masked."""
    data = envelope.get("data") or {}
    if "result" not in data or "operation" not in data:
        return envelope
    output = _full_model().operation_model(data["operation"]).output_shape
    return {**envelope, "data": {**data, "result": masked(output, data["result"])}}


class _OperationName(String):
    """An EC2 operation name as botocore spells it: DescribeVpcEndpoints."""

    def __init__(self) -> None:
        super().__init__(r"[A-Z][A-Za-z0-9]{2,99}", "DescribeVpcEndpoints")


PARAMS: tuple[Param, ...] = (
    Param("operation", _OperationName(), "EC2 operation, e.g. DescribeVpcEndpoints",
          required=True),
    Param("parameters", _Input(), "its input, in EC2's own PascalCase members",
          default={}, secret=True, secret_when=_carries_sensitive),
    Param("max-items", Integer(1), "stop after this many result items (paginated "
          "operations)"),
)

ACTIONS = (
    Action(
        name="call-operation",
        rerun=Rerun.MANUAL,
        doc="Call any EC2 operation with EC2's own input, checked against botocore's model "
            "first; read-only ones unless the connector allows more (allow-operations).",
        run=call_operation,
        params=PARAMS,
        example={"operation": "DescribeVpcEndpoints", "parameters": {"MaxResults": 5},
                 "max-items": 10},
    ),
)
