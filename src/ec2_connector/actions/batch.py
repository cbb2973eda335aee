"""State changes over many instances, reported per instance.

EC2 fails a whole StartInstances/StopInstances/... call when any id does not exist. The
connector then finds which ids do exist, repeats the call with those, and reports every
id: exitcode 8 when some failed and some succeeded, 6 when none existed.
"""

from __future__ import annotations

from typing import Any

from ..errors import NotFound, PartialFailure
from ..spec.action import Runner
from ..spec.fields import mapper
from ..spec.resources import resource
from ..transport.context import Context
from .shapes import STATE_CHANGE_FIELDS
from .waits import wait_for, wait_params

NOT_FOUND_CODE = str(resource("instance").not_found)
state_item = mapper(STATE_CHANGE_FIELDS)


def state_change(operation: str, result_key: str, target: str) -> Runner:
    """A runner for one of the instance state-change operations."""

    def run(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
        ids: list[str] = p["instance-id"]
        extra: dict[str, Any] = {}
        if p.get("force"):
            extra["Force"] = True
        if p.get("dry-run"):
            extra["DryRun"] = True
        try:
            result, missing = ctx.call(operation, InstanceIds=ids, **extra), []
        except NotFound:
            existing = _existing(ctx, ids)
            missing = [i for i in ids if i not in existing]
            if not existing:
                raise NotFound(
                    f"{NOT_FOUND_CODE}: none of the instances exist: {', '.join(ids)}",
                    code=NOT_FOUND_CODE,
                    data={result_key: [], "items": _items(ids, missing)},
                ) from None
            result = ctx.call(operation, InstanceIds=existing, **extra)
        data: dict[str, Any] = {
            result_key: _result(result, ids, missing),
            "items": _items(ids, missing),
        }
        do_wait, interval = wait_params(p)
        if do_wait:
            done = [i for i in ids if i not in missing]
            states = wait_for(ctx, "instance", done, target, interval)
            data["last-states"] = states
            _reached(data[result_key], states)
        if missing:
            raise PartialFailure(
                f"{len(ids) - len(missing)} of {len(ids)} instances succeeded; "
                f"not found: {', '.join(missing)}",
                code=NOT_FOUND_CODE,
                data=data,
            )
        return data

    return run


def _reached(items: list[Any], states: dict[str, str]) -> None:
    """After a wait, each item's `current-state` is the state reached; `previous-state`
    stays EC2's, the state before the call (Flint's meaning)."""
    for item in items:
        if isinstance(item, dict) and item.get("instance-id") in states:
            item["current-state"] = states[item["instance-id"]]


def _existing(ctx: Context, ids: list[str]) -> list[str]:
    # The filter form of DescribeInstances does not fail on unknown ids.
    result = ctx.call("DescribeInstances", Filters=[{"Name": "instance-id", "Values": ids}])
    found = {
        i["InstanceId"] for r in result.get("Reservations", []) for i in r.get("Instances", [])
    }
    return [i for i in ids if i in found]


def _result(result: dict[str, Any], ids: list[str], missing: list[str]) -> list[Any]:
    changes = result.get("StartingInstances") or result.get("StoppingInstances") or result.get(
        "TerminatingInstances"
    )
    if changes is None:  # RebootInstances answers with no per-instance data
        return [i for i in ids if i not in missing]
    return [state_item(c) for c in changes]


def _items(ids: list[str], missing: list[str]) -> list[dict[str, Any]]:
    items = []
    for i in ids:
        failed = i in missing
        items.append(
            {
                "instance-id": i,
                "ok": not failed,
                "error-code": NOT_FOUND_CODE if failed else None,
                "message": "the instance does not exist" if failed else "success",
            }
        )
    return items
