"""Query strings: a route takes the parameters it declares and refuses any other.

FastAPI ignores a query parameter a route does not declare, so `?stauts=running` would
list every job and look like an answer. Every /v1 route runs this check instead: the
parameters its declaration (and its dependencies') names, read from the route itself,
so a route that gains one needs no change here.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

_KNOWN: dict[int, frozenset[str]] = {}


async def declared_only(request: Request) -> None:
    """A 400 naming each query parameter the matched route does not declare.

    Async though it awaits nothing: FastAPI runs a plain function dependency on a worker
    thread, a thread hop (and a pool that grows) for every request, for a set difference.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _KNOWN.get(id(route))
    if known is None:
        known = _KNOWN[id(route)] = frozenset(_query_names(route.dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        names = ", ".join(f"'{name}'" for name in unknown)
        takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
        raise HTTPException(400, f"unknown query parameter {names} for {route.path}; {takes}")


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for inner in dependant.dependencies:
        names |= _query_names(inner)
    return names
