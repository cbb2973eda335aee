"""The HTTP service: the same `Call` over HTTP, for scripts in any language.

    POST /v1/connectors/{name}/sync    200 + envelope, whatever the call's exitcode
    POST /v1/connectors/{name}/async   202 + {"job-id", "status"}
    GET  /v1/jobs, /v1/jobs/{id}       the jobs and, when done, their envelopes
    POST /v1/jobs/{id}/cancel          cancel a job (an operator's own, an admin's any)
    GET  /v1/actions[/{name}]          the catalog
    GET  /healthz (200, no auth), /openapi.json (the schema), /metrics (metrics.py)
    /console                           the web console (console/), signed in by a token

Who may do what is access.py's: each token is a principal with a role and limits
(principals.py); a request it may not make is a 403 naming the rule, and every request
that reaches validation leaves one line in the audit trail (audit.py).

A request refused before anything ran gets a 4xx and the same envelope shape with
exitcode 2; a bug of ours a 500 envelope. Calls run on the connector's I/O threads and
the job store's work on worker threads, never on the event loop, so slow EC2 calls do
not hold each other up. Only this module, the console (console/, at /console) and the
`serve` command import FastAPI (the `service` extra).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response as HTTPResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..actions import catalog
from ..call import Call
from ..errors import ConnectorError, InvalidRequest, NotFound, StoreError, translate
from ..execution import execute_async
from ..request import as_request
from ..response import error_envelope
from ..settings import TOKEN_ENV, Settings
from ..spec.params import canonical
from ..transport import startup
from .access import Access, one_job, visible_jobs
from .admission import Admission, bounded_protocol, is_loopback
from .console import console_routes
from .gate import Rejected, Threads, admit, cancel, check_connector, principal_for, submit
from .hotpath import SyncRoute
from .metrics import CONTENT_TYPE, ServiceMetrics
from .openapi import openapi, request_body
from .principals import Principal, Principals
from .queries import declared_only

MAX_BODY = 1024 * 1024
log = logging.getLogger("ec2_connector.service")


class Envelope(BaseModel):
    """Every answer of a call, and of a refusal: the connector's response envelope."""

    exitcode: int = Field(description="0 success; 2 invalid request; see the README's table")
    message: str
    data: dict[str, Any] = Field(description="the action's result parameters")
    meta: dict[str, Any] = Field(description="request id, attempts, duration, region...")


class JobAccepted(BaseModel):
    """The answer to an async call: the job's id, to poll at GET /v1/jobs/{id}."""

    model_config = ConfigDict(populate_by_name=True)
    job_id: str = Field(alias="job-id")
    status: str


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HTTPResponse:
    return HTTPResponse(json.dumps(body, default=str), status, headers, "application/json")


REJECTIONS: dict[int | str, dict[str, Any]] = {
    code: {"model": Envelope, "description": text}
    for code, text in (
        (400, "malformed JSON, or a body that is not a JSON object"),
        (401, "missing or wrong bearer token"),
        (403, "the token's principal may not make this request (its role or limits)"),
        (404, "unknown connector"),
        (413, "body over 1 MiB"),
    )
}


def create_app(call: Call | None = None, token: str | None = None, *,
               settle: bool = False) -> FastAPI:
    """The service's ASGI app. Without `call`, one is built from $EC2_CONNECTOR_CONFIG;
    without `token`, $EC2_CONNECTOR_TOKEN is required when set (no auth when unset).
    `settle`: the app is its process's whole work (`serve`), so when the server has
    started, the process's collector settles (transport/startup.settle)."""
    owned = call is None
    service_call = call if call is not None else Call()
    service_call.connectors.names()  # a broken config file fails at start, not per request
    # An empty token is no token: it must never be a password that an empty header matches.
    expected = (token if token is not None else service_call.settings.token) or None
    access = Access.for_call(service_call, expected)
    threads = Threads()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settle:
            startup.settle()
        yield
        access.close()
        if owned:
            await anyio.to_thread.run_sync(service_call.close)

    app = FastAPI(
        title="ec2-connector", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,
        description="Flint's AWS-EC2 connector over HTTP: the response envelope of a call, "
        "sync or as a job. Auth: Authorization: Bearer <a principal's token, or "
        "$EC2_CONNECTOR_TOKEN>.",
    )
    # Innermost: a plain sync call is answered here, inside the limit and the access log.
    app.add_middleware(SyncRoute, principals=access.principals,
                       run=partial(run_sync, service_call, access), handlers=HANDLERS)
    app.add_middleware(Admission, limit=service_call.settings.max_requests)
    app.add_middleware(Guard, metrics=access.metrics)  # outermost: every request is logged
    for cls, handler in HANDLERS.items():
        app.add_exception_handler(cls, handler)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(v1_routes(service_call, threads, access))
    app.include_router(console_routes(service_call, threads, access))
    app.openapi = partial(openapi, app)  # type: ignore[method-assign]
    settings = service_call.settings
    open_to = Depends(authenticate(access, anyone=True))
    guarded = Depends(authenticate(access))

    @app.get("/openapi.json", include_in_schema=False,
             dependencies=[open_to if settings.public_openapi else guarded])
    async def schema() -> HTTPResponse:
        return json_response(app.openapi())

    @app.get("/metrics", include_in_schema=False,
             dependencies=[open_to if settings.public_metrics else guarded])
    async def metrics() -> HTTPResponse:
        if access.metrics is None:  # counting is off ($EC2_CONNECTOR_METRICS)
            raise Rejected(404, "no such route: the service's metrics are off")
        text = await threads.run(access.metrics.exposition)
        return HTTPResponse(text, 200, media_type=CONTENT_TYPE)

    return app


BEARER = HTTPBearer(auto_error=False, description=f"the token in ${TOKEN_ENV}")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


def authenticate(access: Access, anyone: bool = False) -> Callable[..., Awaitable[Principal]]:
    """The dependency naming the request's principal; 401 for a missing or wrong token
    (`anyone`: a route a setting opened answers without one)."""
    principals = access.principals

    # async, though it never awaits: FastAPI runs a plain function dependency on a worker
    # thread, which would cost every request two thread switches for a few digests.
    async def check(request: Request, credentials: Credentials = None) -> Principal:
        given = credentials.credentials if credentials is not None else ""
        principal = principal_for(principals, given, anyone)
        request.state.principal = principal  # for the route: principal_of(request)
        return principal

    return check


def principal_of(request: Request) -> Principal:
    principal = request.state.principal
    assert isinstance(principal, Principal)  # set by every route's `authenticate`
    return principal


def v1_routes(call: Call, threads: Threads, access: Access) -> APIRouter:
    checks = [Depends(authenticate(access)), Depends(declared_only)]  # the token first
    router = APIRouter(prefix="/v1", dependencies=checks, responses={401: REJECTIONS[401]})

    @router.post("/connectors/{name}/sync", tags=["calls"], response_model=Envelope,
                 responses=REJECTIONS, openapi_extra=request_body())
    async def sync_call(name: str, request: Request) -> HTTPResponse:
        """Run an action now; 200 with its envelope, whatever its exitcode."""
        return await run_sync(call, access, principal_of(request), name, request)

    @router.post("/connectors/{name}/async", tags=["calls"], status_code=202,
                 response_model=JobAccepted, responses=REJECTIONS, openapi_extra=request_body())
    async def async_call(name: str, request: Request) -> HTTPResponse:
        """Submit an action as a job; poll GET /v1/jobs/{id} for its envelope."""
        started, principal = time.monotonic(), principal_of(request)
        check_connector(call, name)
        body = await read_object(request)
        notify = [body.pop(k) for k in list(body) if canonical(str(k)) == "notify-url"]
        audited = partial(access.record, principal, as_request(name, body), body,
                          started=started)
        admit(call, access, principal, name, body, audited)
        try:
            why = access.callback_refusal(principal, notify[0]) if notify else None
            if why is not None:
                raise Rejected(400, why)
            accepted = await threads.run(partial(submit, call, name, body, principal.name))
        except Rejected as exc:
            audited(status=exc.status, exitcode=2, message=exc.error.message)
            raise
        except ConnectorError as exc:  # the store or broker out of reach: Guard answers
            audited(status=500, exitcode=int(exc.exit_code), message=exc.message)
            raise
        job_id = str(accepted["job-id"])
        if notify:
            access.notify(principal, job_id, notify[0])
        audited(status=202, exitcode=0, message="accepted as a job", job_id=job_id)
        return json_response(accepted, 202)

    @router.get("/jobs", tags=["jobs"])
    async def list_jobs(request: Request, limit: int = 50, status: str = "") -> HTTPResponse:
        """The latest jobs, newest first (in `status` if given): the caller's (an admin's: all)."""
        jobs = partial(visible_jobs, call, principal_of(request), max(1, min(limit, 1000)))
        try:
            return json_response(await threads.run(partial(jobs, status or None)))
        except InvalidRequest as exc:  # a status no job has
            raise Rejected(400, exc.message) from None

    @router.get("/jobs/{job_id}", tags=["jobs"],
                responses={404: REJECTIONS[404], 400: {
                    "model": Envelope, "description": "a prefix more than one job id shares"},
                    503: {"model": Envelope, "description": "the job store lost its data"}})
    async def get_job(job_id: str, request: Request) -> HTTPResponse:
        """One job, by its id or a unique prefix of it; `response` holds its envelope once
        it is done. Another principal's job is not found (404), so ids do not leak."""
        try:
            job = partial(one_job, call, principal_of(request), job_id)
            return json_response(await threads.run(job))
        except NotFound as exc:
            raise Rejected(404, exc.message) from None
        except StoreError as exc:  # the store lost its data: not a 404, not a bug
            return json_response(error_envelope(exc), 503)
        except InvalidRequest as exc:  # a prefix two jobs share
            raise Rejected(400, exc.message) from None

    @router.post("/jobs/{job_id}/cancel", tags=["jobs"], responses={
        404: REJECTIONS[404], 403: REJECTIONS[403],
        400: {"model": Envelope, "description": "a prefix more than one job id shares"},
        409: {"model": Envelope, "description": "the job already ended: nothing changed"}})
    async def cancel_job(job_id: str, request: Request) -> HTTPResponse:
        """Cancel a job: queued or interrupted, it is `cancelled` at once (nothing more is
        sent, it never runs again); running, it stops before its next change to EC2 and
        ends `cancelled`. The job as it is now. A principal cancels its own jobs if its
        role runs mutating actions (an admin any job); another's job is not found (404)."""
        try:
            return json_response(await threads.run(
                partial(cancel, call, access, principal_of(request), job_id)))
        except StoreError as exc:
            return json_response(error_envelope(exc), 503)

    @router.get("/actions", tags=["catalog"])
    async def actions() -> HTTPResponse:
        """Every action: its parameters, types, defaults and docs."""
        return json_response(call.actions())

    @router.get("/actions/{name}", tags=["catalog"], responses={404: REJECTIONS[404]})
    async def action(name: str) -> HTTPResponse:
        try:
            return json_response(catalog.get(name).describe())
        except InvalidRequest as exc:
            raise Rejected(404, exc.message) from None

    return router


async def run_sync(call: Call, access: Access, principal: Principal, name: str,
                   request: Request) -> HTTPResponse:
    """The sync call's work once its principal is known (the route's, and SyncRoute's)."""
    started = time.monotonic()
    check_connector(call, name)
    body = await read_object(request)
    wanted = as_request(name, body)
    audited = partial(access.record, principal, wanted, body, started=started)
    admit(call, access, principal, name, body, audited)
    # Validated here, run on the connector's I/O threads and awaited up to its deadline:
    # no worker thread of ours sits blocked for the length of the call.
    response = (await execute_async(wanted, call.connectors, runtime=call.runtime)).to_dict()
    audited(status=200, exitcode=response["exitcode"], message=response["message"],
            response=response)
    return json_response(response)


async def read_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, read at most MAX_BODY bytes far."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise Rejected(413, f"request body over {MAX_BODY} bytes")
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:  # a chunked body has no Content-Length to check first
                raise Rejected(413, f"request body over {MAX_BODY} bytes")
    except ClientDisconnect:  # gone, or closed by the read bound (admission.py)
        raise Rejected(400, "the request body did not arrive whole") from None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise Rejected(400, f"the body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        kind = "an array" if isinstance(body, list) else "a string or a scalar"
        raise Rejected(400, f"the body must be a JSON object (action and parameters), not {kind}")
    return body


async def _on_rejected(request: Request, exc: Exception) -> HTTPResponse:
    assert isinstance(exc, Rejected)
    return json_response(error_envelope(exc.error), exc.status, exc.headers)


async def _on_http_error(request: Request, exc: Exception) -> HTTPResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = {404: "no such route", 405: "method not allowed"}.get(exc.status_code)
    error = InvalidRequest(message or str(exc.detail))
    headers = dict(exc.headers) if exc.headers else None
    return json_response(error_envelope(error), exc.status_code, headers)


async def _on_validation_error(request: Request, exc: Exception) -> HTTPResponse:
    assert isinstance(exc, RequestValidationError)
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
    return json_response(error_envelope(InvalidRequest(f"invalid request: {fields}")), 400)


HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[HTTPResponse]]] = {
    Rejected: _on_rejected, StarletteHTTPException: _on_http_error,
    RequestValidationError: _on_validation_error,
}


class Guard:
    """The outermost layer: one access line per request, and a 500 envelope for a bug.

    The access line holds the method, the path (never the query string or a header) and
    the status. A bug is logged by its type only (its text could quote a request value);
    the traceback goes to the debug level.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log.error("unexpected %s on %s %s", type(exc).__name__, scope["method"], scope["path"])
            log.debug("traceback", exc_info=True)
            if status == 0:  # nothing sent yet: the client still gets an envelope
                status = 500
                await _send_raw(send, 500, error_envelope(translate(exc)))
        finally:
            if self.metrics is not None:
                self.metrics.responses.labels(str(status)).inc()
            client = (scope.get("client") or ("-",))[0]
            took = (time.monotonic() - started) * 1000
            log.info('%s "%s %s" %s %.0fms', client, scope["method"], scope["path"], status, took)


async def _send_raw(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body, default=str).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus ours; its own access log is off (see Guard)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ec2_connector"] = {"handlers": ["default"], "level": "INFO",
                                          "propagate": False}
    return config


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for this service: its HTTP protocol bounds how long a request may
    take to arrive (admission.py)."""
    return {"http": bounded_protocol(settings.request_read_s)}


def serve(host: str, port: int, *, config: str | None = None, token: str | None = None) -> int:
    """The `serve` command: run the service until Ctrl-C or SIGTERM."""
    import uvicorn

    token = token if token is not None else Settings.from_env().token or None
    with Call(config=config) as call:
        principals = Principals.from_document(call.connectors.document(), token)
        if not principals.required and not is_loopback(host):
            raise InvalidRequest(
                f"refusing to listen on {host} without a token: set {TOKEN_ENV} or create "
                "principals ('ec2-connector token create'), or listen on 127.0.0.1")
        app = create_app(call, token, settle=True)
        uvicorn.run(app, host=host, port=port, access_log=False, log_config=log_config(),
                    server_header=False, **server_options(call.settings))
    return 0
