"""Honest waits: poll until every instance reaches its target state, inside the deadline.

A wait that runs out of time is a failure (exitcode 3) carrying the last state seen for
each instance; it never reports success with a warning. One DescribeInstances call
covers all the ids per poll. Instances that reach a state from which the target can no
longer be reached end the wait at once.
"""

from __future__ import annotations

from typing import Any

from .context import Context
from .errors import NotFound, ServiceError, TimedOut

# Target state -> states from which it can no longer be reached.
DEAD_ENDS: dict[str, frozenset[str]] = {
    "running": frozenset({"shutting-down", "terminated"}),
    "stopped": frozenset({"shutting-down", "terminated"}),
    "terminated": frozenset(),
}


def wait_for(ctx: Context, ids: list[str], target: str, interval_ms: int) -> dict[str, str]:
    """Block until each id is in `target`; return the states seen last."""
    states: dict[str, str] = {}
    polls = 0
    while True:
        states = _poll(ctx, ids, states)
        polls += 1
        ctx.partial["last-states"] = dict(states)
        pending = [i for i in ids if states.get(i) != target]
        ctx.report({"event": "wait", "target": target, "states": dict(states),
                    "done": len(ids) - len(pending), "total": len(ids), "polls": polls})
        if not pending:
            return states
        stuck = [i for i in pending if states.get(i) in DEAD_ENDS[target]]
        if stuck:
            shown = ", ".join(f"{i}={states[i]}" for i in stuck)
            raise ServiceError(
                f"instances can no longer reach '{target}': {shown}",
                code="WaitFailed", data={"last-states": dict(states)},
            )
        try:
            ctx.sleep(interval_ms / 1000.0)
        except TimedOut:
            raise TimedOut(
                f"waiting for '{target}': {describe_states(states, pending)}",
                data={"last-states": dict(states)},
            ) from None


def _poll(ctx: Context, ids: list[str], previous: dict[str, str]) -> dict[str, str]:
    try:
        result = ctx.call("DescribeInstances", InstanceIds=ids)
    except NotFound:
        # Right after a launch EC2 may not know the new ids yet: eventual consistency,
        # not absence. Report them as not yet visible and poll again.
        return {i: previous.get(i, "pending") for i in ids}
    states = dict(previous)
    for reservation in result.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            states[instance["InstanceId"]] = instance["State"]["Name"]
    return states


def describe_states(states: dict[str, str], ids: list[str]) -> str:
    return ", ".join(f"{i}={states.get(i, 'unknown')}" for i in ids)


def wait_params(params: dict[str, Any]) -> tuple[bool, int]:
    return bool(params.get("wait")), int(params.get("wait-interval") or 2000)
