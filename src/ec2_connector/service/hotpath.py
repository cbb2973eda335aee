"""The sync call's hot path: POST /v1/connectors/{name}/sync without FastAPI's per-request
machinery.

A sync call is the request a busy service serves most, and all of them share one
interpreter lock: FastAPI's routing, dependency solving (the bearer scheme, the query
check, the route's parameters), its exception and body-limit layers cost about as much
CPU per call as the HTTP protocol itself. `SyncRoute` sits inside `Guard` and
`Admission` (so every request is still logged, counted and bounded) and answers a plain
sync call itself, with the same steps in the same order as the route: the bearer token
(401), then `run_sync` (app.py), the route's own body; a refusal becomes the response
the app's exception handlers make.

The route stays declared in app.py: it is what the OpenAPI schema describes, and it
serves every request this path passes on: one with a query string (the route refuses
it, queries.py), under a root path, or while FastAPI's own telemetry is recording.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .gate import principal_for
from .principals import Principal, Principals

PREFIX, SUFFIX = "/v1/connectors/", "/sync"
Run = Callable[[Principal, str, Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]


class SyncRoute:
    """Answers POST /v1/connectors/{name}/sync with `run`; passes anything else on."""

    def __init__(self, app: ASGIApp, *, principals: Principals, run: Run,
                 handlers: Mapping[type[Exception], Handler]) -> None:
        self.app = app
        self.principals = principals
        self.run = run
        self.handlers = dict(handlers)
        self.caught = tuple(handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = connector_of(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            principal = principal_for(self.principals, bearer(request))
            response = await self.run(principal, name, request)
        except self.caught as exc:  # as the app's exception handlers answer it
            response = await self.handler(exc)(request, exc)
        await response(scope, receive, send)

    def handler(self, exc: Exception) -> Handler:
        """The handler for `exc`'s nearest class, as Starlette picks one."""
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        raise exc  # unreachable: only the handlers' classes are caught


def connector_of(scope: Scope) -> str | None:
    """The connector a plain sync call names, or None for any other request."""
    if (scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string")
            or scope.get("root_path") or scope.get("fastapi.telemetry") is not None):
        return None
    path: str = scope["path"]
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    name = path[len(PREFIX):-len(SUFFIX)]
    return name if name and "/" not in name else None  # the route's {name}: [^/]+


def bearer(request: Request) -> str:
    """The bearer token as FastAPI's HTTPBearer reads it ("" for none)."""
    authorization = request.headers.get("authorization")
    if not authorization:
        return ""
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return ""
    return credentials
