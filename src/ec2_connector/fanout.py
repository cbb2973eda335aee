"""One read-only request over many regions and connectors at once.

`region: "*"` (every region enabled for the account: DescribeRegions, keeping those whose
opt-in status is `opt-in-not-required` or `opted-in`, since endpoints such as moto list
regions AWS would not serve), or a list of regions, and `connectors: [...]` (several
accounts), run the request once per connector and region, in parallel (at most
`max-parallel` at a time; by default 16, or the most regions of one connector if more,
so that every region is one wave), all under the request's one deadline. A connector's
list of enabled regions is kept for `EC2_CONNECTOR_REGIONS_TTL_S` (an hour), and asked
for again after a region answers that it does not know the account (a region disabled
since: `AuthFailure`, `OptInRequired`, ...). Each item is
tagged with its `region` (and `connector` when there are several), streamed items too;
`regions` reports each call (region, connector, ok, count, exitcode, message). Some
failing and some not is exitcode 8; all failing is the first failure's exitcode.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import single
from .errors import ConnectorError, ExitCode, InvalidRequest
from .request import Prepared, Request, as_request, prepare_one, timeout_of
from .response import SUCCESS_MESSAGE, Response
from .spec.action import CONNECTION_NAMES, Action
from .spec.netparams import region_type
from .spec.params import Integer, String, StringList, canonical, text_of
from .transport.deadline import Deadline

if TYPE_CHECKING:
    from .config import Connectors, Target
    from .runtime import Runtime
    from .transport.context import ItemSink, Progress

DEFAULT_MAX_PARALLEL = 16
ENABLED = frozenset({"opt-in-not-required", "opted-in"})
# What a region answers an account it is not enabled for (or no longer is).
REGION_REFUSED = ("AuthFailure", "OptInRequired", "UnrecognizedClientException",
                  "InvalidClientTokenId")
FAN_OUT_NAMES = ("region", "connectors", "max-parallel")
_REGIONS = StringList(region_type())
_CONNECTORS = StringList(String())
_PARALLEL = Integer(1, 64)
_SEPARATOR = re.compile(r"[,\s]")


def wanted(request: Request) -> bool:
    """Does this request ask for more than one region or connector?"""
    # Every call asks, so no dict is built for it.
    for key, value in request.params.items():
        if isinstance(key, str):
            name = canonical(key)
            if name == "connectors" or (name == "region" and _many(value)):
                return True
    return False


def _many(region: Any) -> bool:
    if isinstance(region, str):  # "*", or a list as text: "a,b", "a b", '["a", "b"]'
        text = region.strip()
        return text == "*" or text.startswith("[") or _SEPARATOR.search(text) is not None
    return isinstance(region, list | tuple)


def execute(
    request: Request,
    connectors: Connectors,
    *,
    runtime: Runtime | None = None,
    progress: Progress | None = None,
    on_item: ItemSink | None = None,
) -> Response:
    """Run the request over its regions and connectors; never raises for a failure."""
    from .runtime import shared

    runtime = runtime or shared()
    params = _named(request.params)
    deadline = Deadline(timeout_of(request) or runtime.settings.timeout_ms)
    meta: dict[str, Any] = {"connector": text_of(request.connector), "action": request.action}
    try:
        return _Plan(request, params, connectors, deadline, runtime).run(progress, on_item, meta)
    except ConnectorError as exc:
        meta.update({"duration-ms": deadline.elapsed_ms(), "attempts": 0})
        return Response.from_error(exc, meta)


def _named(params: Mapping[Any, Any]) -> dict[str, Any]:
    # Keys that are not text are left to the validation of the single call.
    return {canonical(k): v for k, v in params.items() if isinstance(k, str)}


class _Plan:
    """The calls of one fanned-out request, validated before any is sent."""

    def __init__(self, request: Request, params: dict[str, Any], connectors: Connectors,
                 deadline: Deadline, runtime: Runtime | None) -> None:
        self.request, self.connectors, self.deadline = request, connectors, deadline
        self.runtime = runtime
        names = params.get("connectors")  # given empty ([], ""), it is refused: exitcode 2
        self.names = _CONNECTORS.convert(names, "connectors") if names is not None else [
            request.connector]
        for name in self.names:
            connectors.get(name)  # an unknown name is exitcode 2
        given = params.get("max-parallel")
        self.max_parallel = None if given is None else _PARALLEL.convert(given, "max-parallel")
        region = params.get("region")
        self.every_region = isinstance(region, str) and region.strip() == "*"
        self.regions = None if self.every_region or region is None else _REGIONS.convert(
            region, "region")
        self.base = {k: v for k, v in params.items() if k not in FAN_OUT_NAMES}
        first = Request(self.names[0], request.action, dict(self.base), request.timeout_ms)
        self.first = _read_only(first, connectors, deadline)
        self.action = self.first.action
        self._targets: dict[str, Target] | None = None

    def targets(self) -> dict[str, Target]:
        """Where each connector's calls go (the region aside), as jobs record it."""
        from .config import Target as Target_

        if self._targets is None:
            base = {k: v for k, v in self.first.params.items() if k != "region"}
            self._targets = {name: Target_.resolve(self.connectors.get(name), base)
                             for name in self.names}
        return self._targets

    def run(self, progress: Progress | None, on_item: ItemSink | None,
            meta: dict[str, Any]) -> Response:
        regions = {name: self._regions_of(name) for name in self.names}
        pairs = [(name, region) for name in self.names for region in regions[name]]
        if self.runtime is not None:
            self.runtime.clients.reserve(len(pairs))
        tagger = _Tagger(on_item, several=len(self.names) > 1)
        wave = self.max_parallel or max(DEFAULT_MAX_PARALLEL, *map(len, regions.values()))
        workers = max(1, min(wave, len(pairs)))
        from concurrent.futures import ThreadPoolExecutor  # not for a call to one target

        with ThreadPoolExecutor(workers, thread_name_prefix="ec2-connector-fan-out") as pool:
            calls = [pool.submit(self._one, name, region, progress, tagger)
                     for name, region in pairs]
            responses = [call.result() for call in calls]
        if self.every_region:
            self._forget_refused(pairs, responses)
        return _merged(self.action, pairs, responses, tagger.several, meta, self.deadline)

    def _forget_refused(self, pairs: list[tuple[str, str]], responses: list[Response]) -> None:
        refused = {name for (name, _), response in zip(pairs, responses, strict=True)
                   if response.message.startswith(REGION_REFUSED)}
        runtime = self._runtime()
        for name in refused:
            runtime.clients.forget_regions(self.targets()[name])

    def _runtime(self) -> Runtime:
        from .runtime import shared

        return self.runtime or shared()

    def _regions_of(self, name: str) -> list[str]:
        if self.regions is not None:
            return self.regions
        if not self.every_region:
            return [str(self.base.get("region") or "")] if self.base.get("region") else [""]
        target, runtime = self.targets()[name], self._runtime()
        kept = runtime.clients.regions(target)
        if kept is not None:
            return list(kept)
        connection = {k: v for k, v in self.base.items() if k in CONNECTION_NAMES}
        found = self._call(name, {**connection, "action": "get-regions"}, None, None)
        if not found.ok:
            raise _failure_of(found, f"listing the regions of connector '{name}'")
        enabled = sorted(r["region-name"] for r in found.get("region") or []
                         if r.get("opt-in-status") in ENABLED)
        runtime.clients.keep_regions(target, enabled, runtime.settings.regions_ttl_s)
        return enabled

    def _one(self, name: str, region: str, progress: Progress | None,
             tagger: _Tagger) -> Response:
        params = {**self.base, "action": self.request.action}
        if region:
            params["region"] = region
        return self._call(name, params, progress, tagger.sink(name, region))

    def _call(self, name: str, params: dict[str, Any], progress: Progress | None,
              on_item: ItemSink | None) -> Response:
        left_ms = max(1, int(self.deadline.remaining() * 1000))
        request = as_request(name, {**params, "timeout": left_ms}, left_ms)
        return single.execute(request, self.connectors, runtime=self.runtime,
                              progress=progress, on_item=on_item)


def plan(request: Request, connectors: Connectors, deadline: Deadline,
         runtime: Runtime | None = None) -> _Plan:
    """A fanned-out request validated whole, nothing sent: InvalidRequest if bad."""
    return _Plan(request, _named(request.params), connectors, deadline, runtime)


def _read_only(request: Request, connectors: Connectors, deadline: Deadline) -> Prepared:
    from .actions.passthrough import call_operation, read_only
    prepared = prepare_one(request, connectors, deadline)
    action = prepared.action
    passthrough = action.run is call_operation
    if (passthrough and not read_only(prepared.params["operation"])) or (
            not passthrough and action.mutating):
        raise InvalidRequest(
            f"'{action.name}' changes things: only read-only actions run over several "
            "regions or connectors at once")
    return prepared


class _Tagger:
    """The caller's item sink, fed from every call's thread, each item tagged."""

    def __init__(self, on_item: ItemSink | None, several: bool) -> None:
        self.on_item, self.several = on_item, several
        self.lock = threading.Lock()

    def sink(self, name: str, region: str) -> ItemSink | None:
        if self.on_item is None:
            return None
        tags = self.tags(name, region)
        on_item = self.on_item

        def tagged(item: dict[str, Any]) -> None:
            with self.lock:
                on_item({**item, **tags})

        return tagged

    def tags(self, name: str, region: str) -> dict[str, str]:
        return {"region": region, **({"connector": name} if self.several else {})}


def _merged(action: Action, pairs: list[tuple[str, str]], responses: list[Response],
            several: bool, meta: dict[str, Any], deadline: Deadline) -> Response:
    key = action.result if action.items else None
    items: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    report: list[dict[str, Any]] = []
    for (name, region), response in zip(pairs, responses, strict=True):
        tags = {"region": region or response.meta.get("region"),
                **({"connector": name} if several else {})}
        found = (response.get(key) or []) if key else []
        items += [{**item, **tags} for item in found]
        if not key and response.ok:
            results.append({**tags, **response.data})
        count = response.meta.get("streamed-items", len(found)) if key else None
        report.append({**tags, "ok": response.ok, "count": count,
                       "exitcode": response.exitcode, "message": response.message})
    data: dict[str, Any] = {key: items} if key else {"results": results}
    data["regions"] = report
    failed = [r for r in report if not r["ok"]]
    meta.update({"duration-ms": deadline.elapsed_ms(), "calls": len(pairs),
                 "attempts": sum(int(r.meta.get("attempts") or 0) for r in responses)})
    if not failed:
        return Response(ExitCode.SUCCESS, SUCCESS_MESSAGE, data, meta)
    shown = "; ".join(f"{_where(r)}: {r['message']}" for r in failed[:3])
    if len(failed) < len(report):
        message = f"{len(failed)} of {len(report)} calls failed: {shown}"
        return Response(ExitCode.PARTIAL, message, data, meta)
    return Response(int(failed[0]["exitcode"]), f"every call failed: {shown}", data, meta)


def _where(report: dict[str, Any]) -> str:
    """Which call a failure is: its region, and its connector when there are several."""
    region = report["region"]
    if "connector" not in report:
        return str(region)
    return f"{report['connector']} in {region}" if region else str(report["connector"])


def _failure_of(response: Response, doing: str) -> ConnectorError:
    error = ConnectorError(f"{doing}: {response.message}")
    error.exit_code = ExitCode(response.exitcode)
    return error
