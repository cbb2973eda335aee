"""Honest waits: poll until every resource reaches its target state, inside the deadline.

What a state means comes from botocore's waiter model (`waiters-2.json`, the acceptors of
e.g. `InstanceRunning`): the success state, the failure states, and the error codes that
mean "retry" or "done". The loop is ours, and departs from botocore's on purpose:

- Time: it polls every `wait-interval` until the call's deadline, not botocore's fixed
  delay and attempt count. Running out of time is a failure (exitcode 3) carrying the
  last state seen for each id; it never reports success with a warning.
- Per id: each id's state is tracked and reported (`last-states`), where botocore's
  `pathAll`/`pathAny` look at the whole answer. One describe call covers all ids per poll.
- Eventual consistency: the resource's not-found code right after a change means "not
  visible yet" for every target, also where the waiter lists no retry for it.
- `IGNORED_FAILURES`: failure states botocore lists that our own change still leads out of.

A failure state (an id that can no longer reach the target) ends the wait at once.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from ..errors import ConnectorError, ServiceError, TimedOut
from ..spec.fields import getter
from ..spec.resources import Resource, resource
from ..transport.context import Context

# Terminating a pending or stopping instance is accepted and still ends in terminated;
# botocore's waiter, written for instances in any state, fails on them.
IGNORED_FAILURES: dict[str, frozenset[str]] = {
    "InstanceTerminated": frozenset({"pending", "stopping"}),
}


class WaitPlan(NamedTuple):
    """A waiter's acceptors read for per-id polling. (A named tuple: made at import, a
    dataclass costs a one-shot command ~0.5 ms more, for a wait it may never do.)"""

    waiter: str
    operation: str
    items: str
    state: str
    success: str
    failures: frozenset[str]
    retry_codes: frozenset[str]
    done_codes: frozenset[str]


@functools.cache
def plan_for(resource_name: str, target: str, operations: tuple[str, ...]) -> WaitPlan:
    """The plan reaching `target` for `resource_name`, from its botocore waiter
    (`operations`: those the client layer's trimmed model holds)."""
    from ..transport import model

    res = resource(resource_name)
    name = res.waiters[target]
    config = model.waiter(name, operations)
    acceptors = config["acceptors"]
    success = next(a for a in acceptors if a["state"] == "success" and a["matcher"] == "pathAll")
    # "Reservations[].Instances[].State.Name" -> items "Reservations[].Instances[]",
    # each item's state "State.Name".
    items, state = success["argument"].rsplit("[].", 1)
    ignored = IGNORED_FAILURES.get(name, frozenset())
    return WaitPlan(
        waiter=name,
        operation=config["operation"],
        items=items + "[]",
        state=state,
        success=str(success["expected"]),
        failures=frozenset(
            str(a["expected"]) for a in acceptors
            if a["state"] == "failure" and a["matcher"] == "pathAny"
        ) - ignored,
        retry_codes=frozenset(
            a["expected"] for a in acceptors if a["state"] == "retry" and a["matcher"] == "error"
        ) | ({res.not_found} if res.not_found else set()),
        done_codes=frozenset(
            a["expected"] for a in acceptors
            if a["state"] == "success" and a["matcher"] == "error"
        ),
    )


def wait_for(
    ctx: Context, resource_name: str, ids: list[str], target: str, interval_ms: int
) -> dict[str, str]:
    """Block until each id is in `target`; return the states seen last."""
    res = resource(resource_name)
    plan = plan_for(resource_name, target, ctx.clients.operations)
    states: dict[str, str] = {}
    polls = 0
    while True:
        states = _poll(ctx, res, plan, ids, states)
        polls += 1
        ctx.partial["last-states"] = dict(states)
        pending = [i for i in ids if states.get(i) != plan.success]
        ctx.report({"event": "wait", "target": target, "states": dict(states),
                    "done": len(ids) - len(pending), "total": len(ids), "polls": polls})
        if not pending:
            return states
        stuck = [i for i in pending if states.get(i) in plan.failures]
        if stuck:
            shown = ", ".join(f"{i}={states[i]}" for i in stuck)
            raise ServiceError(
                f"{res.name}s can no longer reach '{target}': {shown}",
                code="WaitFailed", data={"last-states": dict(states)},
            )
        try:
            ctx.sleep(interval_ms / 1000.0)
        except TimedOut:
            raise TimedOut(
                f"waiting for '{target}': {describe_states(states, pending)}",
                data={"last-states": dict(states)},
            ) from None


def _poll(
    ctx: Context, res: Resource, plan: WaitPlan, ids: list[str], previous: dict[str, str]
) -> dict[str, str]:
    try:
        result = ctx.call(plan.operation, **{res.selectors[0]: ids})
    except ConnectorError as exc:
        if exc.code in plan.done_codes:
            return {i: plan.success for i in ids}
        if exc.code in plan.retry_codes:
            # Right after a change EC2 may not know the ids yet: eventual consistency,
            # not absence. Report them as not yet visible and poll again.
            return {i: previous.get(i, "pending") for i in ids}
        raise
    states = dict(previous)
    state_of = getter(plan.state)
    for item in getter(plan.items)(result) or []:
        states[item[res.id_member]] = str(state_of(item))
    return states


def describe_states(states: dict[str, str], ids: list[str]) -> str:
    return ", ".join(f"{i}={states.get(i, 'unknown')}" for i in ids)


def wait_params(params: dict[str, Any]) -> tuple[bool, int]:
    return bool(params.get("wait")), int(params.get("wait-interval") or 2000)
