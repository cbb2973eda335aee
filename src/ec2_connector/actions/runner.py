"""The one runner of declared actions: parameters to input, EC2's output to our result.

It adds `DryRun` to mutating operations, pages where botocore's paginator model has the
operation (sending its limit key, `MaxResults`, only where the input shape has it and no
ids are named: EC2 refuses a page size next to an id list), streams items to the caller's
`on_item`, and maps the result through the declared fields.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import MalformedResponse
from ..spec.fields import getter, mapper

if TYPE_CHECKING:
    from ..spec.action import Action, Runner
    from ..transport.context import Context

PAGE_SIZE = 1000


_RUNNERS: dict[str, tuple[Action, Runner]] = {}


def runner_of(action: Action) -> Runner:
    """What runs `action`: its own `run=`, else the generic runner of its declaration
    (compiled on first use, once per action)."""
    if action.run is not None:
        return action.run
    found = _RUNNERS.get(action.name)
    if found is None or found[0] is not action:  # a test may declare its own of a name
        found = _RUNNERS[action.name] = (action, _Plan(action).run)
    return found[1]


class _Plan:
    """An action's compiled declaration; compiled on first use, not at import."""

    def __init__(self, action: Action) -> None:
        self.action = action

    @functools.cached_property
    def map_item(self) -> Callable[[Any], dict[str, Any]]:
        return mapper(self.action.fields)

    @functools.cached_property
    def find(self) -> Callable[[Any], Any]:
        path = self.action.items or self.action.item
        return getter(path) if path else (lambda doc: doc)

    def run(self, ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
        action = self.action
        assert action.operation is not None, f"{action.name} declares no operation"
        # `build` may read the region the call goes to (a copy's source defaults to it).
        args = input_args(action, {**p, "region": ctx.target.region})
        data: dict[str, Any]
        if action.items:
            data = {action.result or "items": self.collect(ctx, action.operation, args, p)}
        else:
            output = self.send(ctx, args, p)
            found = self.find(output)
            if found is None:  # an answer of another shape: nothing to map, nothing to claim
                raise MalformedResponse(
                    f"the endpoint's answer to {action.operation} holds no {action.item}")
            mapped = self.map_item(found)
            data = {action.result: mapped} if action.item and action.result else mapped
        for name in action.echo:
            data[name] = p.get(name)
        if action.derive is not None:
            data.update(action.derive(p))
        if action.secret_results and ctx.raw_body is not None:
            ctx.raw_body = None  # the body holds the secret in EC2's own words
            ctx.notes["raw-body"] = "withheld: the response holds a secret result"
        if action.until and p.get("wait"):
            self.wait(ctx, p, data)
        return data

    def send(self, ctx: Context, args: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        """The action's one request; a create that reruns safely looks for its token first."""
        from ..spec.action import Rerun

        action = self.action
        assert action.operation is not None
        if action.rerun is Rerun.FOUND_BY_TOKEN:
            from .tokens import create_once

            return create_once(ctx, action, args, p)
        return ctx.call(action.operation, **args)

    def wait(self, ctx: Context, p: dict[str, Any], data: dict[str, Any]) -> None:
        """Wait for the resource the call made or changed, then describe it afresh."""
        from ..spec.resources import resource
        from .waits import wait_for, wait_params

        action = self.action
        assert action.resource is not None and action.until is not None
        res = resource(action.resource)
        held = data[action.result] if action.item and action.result else data
        found = held.get(res.id_column)
        ids = [str(i) for i in found] if isinstance(found, list) else [str(found)]
        ctx.partial[res.id_column] = found
        _, interval = wait_params(p)
        states = wait_for(ctx, res.name, ids, action.until, interval)
        if action.item and action.result and action.until != "deleted":
            output = ctx.call(res.describe, **{res.selectors[0]: ids})
            fresh = getter(res.items)(output) or []
            if fresh:
                data[action.result] = self.map_item(fresh[0])
        data["last-states"] = states
        reached = states.get(ids[0]) if len(ids) == 1 else None
        if reached and action.until != "deleted":
            # The state reached, not the one the call answered with ("pending").
            data["current-state"] = reached
            if "state" in data:
                data["state"] = reached

    def collect(
        self, ctx: Context, operation: str, args: dict[str, Any], p: dict[str, Any]
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        # A big page is parsed as it is read (xmlstream.py): the tree of a 1,000-instance
        # page is never held whole, nor the page before while the next is read.
        try:
            for page in pages(ctx, operation, args, self.selectors(), stream=self.stream_path):
                ctx.collect(items, (self.map_item(x) for x in self.find(page) or []))
                ctx.report({"event": "page", "items": len(items) or ctx.notes.get(
                    "streamed-items")})
                del page  # not held while the next one is fetched and parsed
        except MalformedResponse as exc:
            if p.get("filters"):
                names = ", ".join(f"'{n}'" for n in p["filters"])
                raise MalformedResponse(
                    f"the endpoint failed on the filters {names} (it may not support them): "
                    f"{exc.message}",
                ) from exc
            raise
        return items

    @functools.cached_property
    def stream_path(self) -> tuple[str, ...] | None:
        from ..transport.xmlstream import path_of

        return path_of(self.action.items) if self.action.items else None

    def selectors(self) -> tuple[str, ...]:
        if self.action.resource is None:
            return ()
        from ..spec.resources import resource

        return resource(self.action.resource).selectors


def input_args(action: Action, p: dict[str, Any]) -> dict[str, Any]:
    """The operation's input for validated parameters `p`, as the declaration maps them."""
    from ..spec.action import In

    args: dict[str, Any] = {}
    for name, spec in action.inputs.items():
        value = p.get(name)
        if value is None or value == {}:  # an empty mapping asks for nothing
            continue
        if isinstance(spec, In):
            member, value = spec.member, spec.convert(value) if spec.convert else value
        else:
            member = spec
        _put(args, member, value)
    if action.build is not None:
        args.update(action.build(p))
    if action.mutating and action.dry_run and p.get("dry-run"):
        args["DryRun"] = True
    return args


def _put(args: dict[str, Any], member: str, value: Any) -> None:
    *outer, last = member.split(".")
    for name in outer:
        args = args.setdefault(name, {})
    args[last] = value


def pages(
    ctx: Context, operation: str, args: dict[str, Any], selectors: tuple[str, ...] = (),
    *, sized: bool = True, stream: tuple[str, ...] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every page of `operation`, each fetched inside the deadline; one call when botocore
    has no paginator for it. `sized`: ask for big pages (unless `selectors` are given).
    `stream`: the listing's path, for pages parsed as they are read (xmlstream.py)."""
    from ..transport import model
    from ..transport.xmlstream import items_of

    config = model.paginator(operation, ctx.clients.operations)
    if config is None:
        with items_of(stream):
            page = ctx.call(operation, **args)
        yield page
        return
    limit = config.get("limit_key")
    if sized and limit and limit not in args and not any(args.get(s) for s in selectors):
        size = page_size(ctx, operation, limit)
        if size:
            args = {**args, limit: size}
    token_in, token_out = config["input_token"], config["output_token"]
    token: Any = None
    while True:
        with items_of(stream):
            page = ctx.call(operation, **args, **({token_in: token} if token else {}))
        token = page.get(token_out)
        yield page
        del page  # the caller is done with it: not held while the next one is read
        if not token:
            return


def page_size(ctx: Context, operation: str, limit: str) -> int | None:
    """The page size to ask for: ours, within the input shape's bounds; None when the
    shape has no such member."""
    shape = ctx.client().meta.service_model.operation_model(operation).input_shape
    member = shape.members.get(limit) if shape is not None else None
    if member is None:
        return None
    maximum = member.metadata.get("max")
    return min(PAGE_SIZE, int(maximum)) if maximum else PAGE_SIZE
