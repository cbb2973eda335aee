"""The console's routes under /console: sign-in, jobs, actions, me, and its two assets.

Every page but sign-in needs a session (else a GET is sent to sign-in, anything else is
a 401); every POST must carry the session's CSRF token (else 403, nothing changed).
Who may do what is decided by access.py, as for the API: the console only asks.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import Response as HTTPResponse

from ...actions import catalog
from ...call import Call
from ...errors import ConnectorError, ExitCode, InvalidRequest, NotFound
from ...jobs.record import iso
from .. import audit
from ..access import Access, cancel_denial, one_job, visible_jobs
from ..gate import Rejected, Threads, cancel
from . import pages, results
from .html import page
from .runs import Runs
from .sessions import COOKIE, SIGN_IN_COOKIE, Session, Sessions, SignInLimiter, cookie

MAX_FORM = 256 * 1024
# The console loads nothing but its own files, and nothing may frame it.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}


class Stop(Exception):
    """Ends a route early with this response (a redirect to sign-in, a refusal)."""

    def __init__(self, response: HTTPResponse) -> None:
        self.response = response


Route = Callable[["Console", Request], Awaitable[HTTPResponse]]


def stops(route: Route) -> Route:
    @wraps(route)
    async def run(self: Console, request: Request) -> HTTPResponse:
        try:
            return await route(self, request)
        except Stop as stop:
            return stop.response
    return run


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(body, status, {**HEADERS, **(headers or {})}, "text/html; charset=utf-8")


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return HTTPResponse(json.dumps(body), status, HEADERS, "application/json")


def redirect(to: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    return HTTPResponse(b"", 303, {**HEADERS, "Location": to, **(headers or {})})


class Console:
    """The console of one service: its sessions, over the service's Call and Access."""

    def __init__(self, call: Call, threads: Threads, access: Access) -> None:
        self.call, self.threads, self.access = call, threads, access
        self.sessions = Sessions(call.settings.console_session_s)
        self.limiter = SignInLimiter()
        self.runs = Runs(call, access, self.sessions, threads)

    # ------------------------------------------------------------------ sessions

    def session(self, request: Request, *, page_wanted: bool = True) -> Session:
        found = self.sessions.get(request.cookies.get(COOKIE))
        if found is not None:
            return found
        if page_wanted and request.method == "GET":
            back = quote(request.url.path)
            raise Stop(redirect(f"/console/sign-in?next={back}"))
        raise Stop(_json({"message": "not signed in"}, 401))

    async def posted(self, request: Request) -> tuple[Session, dict[str, str]]:
        """The session and form of a POST, once its CSRF token is checked."""
        session = self.session(request, page_wanted=False)
        form = await read_form(request)
        if not session.csrf_ok(form.get("csrf")):
            raise Stop(self.page(session, "refused", pages.refused(
                "refused: the form's CSRF token is missing or wrong; reload the page and "
                "send it again"), status=403))
        return session, form

    def page(self, session: Session | None, title: str, main: Any, *, here: str = "",
             status: int = 200) -> HTTPResponse:
        who = f"{session.principal.name} ({session.principal.role})" if session else None
        return html(page(title, main, who=who, csrf=session.csrf if session else None,
                         here=here), status)

    @stops
    async def sign_in_form(self, request: Request) -> HTTPResponse:
        nonce = secrets.token_urlsafe(24)
        headers = {"Set-Cookie": cookie(SIGN_IN_COOKIE, nonce, secure=_https(request),
                                        max_age=3600)}
        after = _local(request.query_params.get("next"))
        return html(page("sign in", pages.sign_in(nonce, after=after)), headers=headers)

    @stops
    async def sign_in(self, request: Request) -> HTTPResponse:
        form = await read_form(request)
        nonce = request.cookies.get(SIGN_IN_COOKIE) or ""
        if not nonce or not secrets.compare_digest(form.get("csrf", ""), nonce):
            return html(page("sign in", pages.refused(
                "refused: the sign-in form's CSRF token is missing or wrong; "
                "reload the page")), 403)
        address = request.client.host if request.client else "unknown"
        wait = math.ceil(self.limiter.wait_s(address))
        if wait:
            message = f"too many wrong tokens from this address: try again in {wait} s"
            await self._audit_sign_in(None, address, 429, message)
            return html(page("sign in", pages.refused(f"refused: {message}")), 429,
                        {"Retry-After": str(wait)})
        principal = self.access.principals.authenticate(form.get("token", ""))
        if principal is None:
            self.limiter.failed(address)
            await self._audit_sign_in(None, address, 401, "wrong token")
            fresh = secrets.token_urlsafe(24)
            after = _local(request.query_params.get("next"))
            return html(page("sign in", pages.sign_in(fresh, "wrong token", after)), 401, {
                "Set-Cookie": cookie(SIGN_IN_COOKIE, fresh, secure=_https(request),
                                     max_age=3600)})
        await self._audit_sign_in(principal.name, address, 303, "signed in")
        session = self.sessions.open(principal)
        return redirect(_local(request.query_params.get("next")), {"Set-Cookie": cookie(
            COOKIE, session.id, secure=_https(request), max_age=int(self.sessions.lifetime_s))})

    async def _audit_sign_in(self, principal: str | None, address: str, status: int,
                             message: str) -> None:
        """A sign-in, as an audit line (never the token given): who, from where, how."""
        if not self.access.trail.enabled:
            return
        line = audit.entry(
            principal=principal or "", connector="", action="console-sign-in", regions=[],
            targets=[], status=status,
            exitcode=ExitCode.SUCCESS if principal else ExitCode.AUTH, message=message,
            secrets=[])
        line["client"] = address
        await self.threads.run(partial(self.access.trail.write, line))

    @stops
    async def sign_out(self, request: Request) -> HTTPResponse:
        session, _ = await self.posted(request)
        self.sessions.close(session.id)
        return redirect("/console/sign-in", {"Set-Cookie": cookie(
            COOKIE, "", secure=_https(request), max_age=0)})

    # ------------------------------------------------------------------ jobs

    async def _jobs(self, session: Session, request: Request, *, as_json: bool = False
                    ) -> list[dict[str, Any]]:
        status = request.query_params.get("status") or None
        action = request.query_params.get("action", "")
        query = request.query_params.get("q", "")
        try:
            jobs = await self.threads.run(partial(
                visible_jobs, self.call, session.principal, 100, status))
        except InvalidRequest as exc:  # a status no job has
            raise Stop(_json({"message": exc.message}, 400) if as_json else self.page(
                session, "jobs", pages.refused(exc.message), status=400)) from None
        return [results.row(j) for j in jobs if results.matches(j, action, query)][:100]

    @stops
    async def jobs(self, request: Request) -> HTTPResponse:
        session = self.session(request)
        rows = await self._jobs(session, request)
        q = request.query_params
        main = results.jobs_page(rows, catalog.names(), q.get("status", ""),
                                 q.get("action", ""), q.get("q", ""))
        return self.page(session, "jobs", main, here="jobs")

    @stops
    async def jobs_json(self, request: Request) -> HTTPResponse:
        session = self.session(request, page_wanted=False)
        return _json(await self._jobs(session, request, as_json=True))

    async def _job(self, session: Session, job_id: str, *, as_json: bool = False
                   ) -> dict[str, Any]:
        try:
            return await self.threads.run(partial(one_job, self.call, session.principal, job_id))
        except (NotFound, InvalidRequest) as exc:
            if as_json:
                raise Stop(_json({"message": exc.message}, 404)) from None
            raise Stop(self.page(session, "no such job", pages.refused(exc.message),
                                 status=404)) from None

    @stops
    async def job(self, request: Request) -> HTTPResponse:
        session = self.session(request)
        job = await self._job(session, request.path_params["job_id"])
        lines = await self.threads.run(partial(self.access.trail.of_job, job["job-id"]))
        may_resume = self.runs.may_resume(session.principal, job) is None
        may_cancel = cancel_denial(session.principal, job) is None
        main = results.job_page(job, lines, session.csrf, may_resume, may_cancel)
        return self.page(session, f"job {job['job-id']}", main, here="jobs")

    @stops
    async def job_json(self, request: Request) -> HTTPResponse:
        session = self.session(request, page_wanted=False)
        job = await self._job(session, request.path_params["job_id"], as_json=True)
        return _json(results.row(job))

    @stops
    async def resume(self, request: Request) -> HTTPResponse:
        session, _ = await self.posted(request)
        job = await self._job(session, request.path_params["job_id"])
        why = self.runs.may_resume(session.principal, job, asked=True)
        if why is not None:
            return self.page(session, "refused", pages.refused(why), status=403)
        try:
            new = await self.threads.run(partial(self.call.jobs.resume, job["job-id"]))
        except ConnectorError as exc:
            return self.page(session, "not resumed", pages.refused(exc.message), status=400)
        self.runs.audit_resume(session.principal, job, new.id)
        return redirect(f"/console/jobs/{new.id}")

    @stops
    async def cancel(self, request: Request) -> HTTPResponse:
        session, _ = await self.posted(request)
        job_id = request.path_params["job_id"]
        try:
            job = await self.threads.run(partial(cancel, self.call, self.access,
                                                 session.principal, job_id))
        except Rejected as exc:
            title = {403: "refused", 404: "no such job"}.get(exc.status, "not cancelled")
            return self.page(session, title, pages.refused(exc.error.message),
                             status=exc.status)
        except ConnectorError as exc:  # the store out of reach
            return self.page(session, "not cancelled", pages.refused(exc.message), status=503)
        return redirect(f"/console/jobs/{job['job-id']}")

    # ------------------------------------------------------------------ actions, me

    @stops
    async def actions(self, request: Request) -> HTTPResponse:
        session = self.session(request)
        described = [catalog.get(n).describe() for n in catalog.names()]
        return self.page(session, "actions", pages.catalog(described), here="actions")

    @stops
    async def action(self, request: Request) -> HTTPResponse:
        session = self.session(request)
        described = self._described(session, request.path_params["name"])
        form = self.runs.form(session, described, {})
        fields = catalog.get(described["name"]).fields
        return self.page(session, described["name"], pages.action(described, form, fields),
                         here="actions")

    def _described(self, session: Session, name: str) -> dict[str, Any]:
        try:
            return catalog.get(name).describe()
        except InvalidRequest as exc:
            raise Stop(self.page(session, "no such action", pages.refused(exc.message),
                                 status=404)) from None

    @stops
    async def run(self, request: Request) -> HTTPResponse:
        session, form = await self.posted(request)
        described = self._described(session, request.path_params["name"])
        status, title, main, to = await self.runs.run(session, described, form)
        if to is not None:
            return redirect(to)
        return self.page(session, title, main, here="actions", status=status)

    @stops
    async def me(self, request: Request) -> HTTPResponse:
        session = self.session(request)
        return self.page(session, "me", pages.me(session.principal, str(iso(session.expires))),
                         here="me")

    async def asset(self, request: Request) -> HTTPResponse:
        name = request.path_params["name"]
        if name not in ASSETS:
            return HTTPResponse(b"", 404, HEADERS)
        data = resources.files(__package__).joinpath("static", name).read_bytes()
        return HTTPResponse(data, 200, {**HEADERS, "Cache-Control": "max-age=300"},
                            ASSETS[name])

    async def home(self, request: Request) -> HTTPResponse:
        return redirect("/console/jobs")


def console_routes(call: Call, threads: Threads, access: Access) -> APIRouter:
    """The console's router, mounted by the service's app (app.py)."""
    console = Console(call, threads, access)
    router = APIRouter(prefix="/console", include_in_schema=False)
    for path, route, methods in [
        ("", console.home, ["GET"]), ("/", console.home, ["GET"]),
        ("/sign-in", console.sign_in_form, ["GET"]), ("/sign-in", console.sign_in, ["POST"]),
        ("/sign-out", console.sign_out, ["POST"]),
        ("/jobs", console.jobs, ["GET"]), ("/jobs.json", console.jobs_json, ["GET"]),
        ("/jobs/{job_id}.json", console.job_json, ["GET"]),
        ("/jobs/{job_id}", console.job, ["GET"]),
        ("/jobs/{job_id}/resume", console.resume, ["POST"]),
        ("/jobs/{job_id}/cancel", console.cancel, ["POST"]),
        ("/actions", console.actions, ["GET"]), ("/actions/{name}", console.action, ["GET"]),
        ("/actions/{name}/run", console.run, ["POST"]),
        ("/me", console.me, ["GET"]), ("/static/{name}", console.asset, ["GET"]),
    ]:
        router.add_api_route(path, route, methods=methods)
    return router


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form, at most MAX_FORM bytes; each name's first value."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            raise Stop(html(page("refused", pages.refused("form over 256 KiB")), 413))
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _local(target: str | None) -> str:
    """Where to go after sign-in: a console path of ours, never another site."""
    if target and target.startswith("/console/") and not target.startswith("/console//"):
        return target
    return "/console/jobs"

