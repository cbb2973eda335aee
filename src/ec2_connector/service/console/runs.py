"""Running an action from the console, as the API runs one.

The form's values are passed on as the CLI passes its `key=value` words: strings, which
the declared parameter types convert and check, so a bad value gets the same line as on
the command line. A request goes through the API's gate (gate.py: its principal's
rights, where its credentials would go) and leaves the same audit line. A read-only
action runs at once; a mutating one runs a dry run first and shows what it would touch,
then runs, as a job, only with the one-time confirmation that page carried, bound to
the session and to exactly those parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from ...actions import catalog
from ...call import Call
from ...errors import ConnectorError, InvalidRequest
from ...execution import execute_async
from ...jobs.record import JobStatus
from ...request import as_request
from ..access import Access
from ..gate import Rejected, Threads, admit, check_connector, submit
from ..principals import Principal, authorize
from ..targets import target_ids
from . import pages
from .html import Safe
from .sessions import Confirmation, Session, Sessions

# What a run ends in: the HTTP status, the page's title and body, or where to go instead.
Outcome = tuple[int, str, Safe, str | None]


class Runs:
    def __init__(self, call: Call, access: Access, sessions: Sessions,
                 threads: Threads) -> None:
        self.call, self.access, self.sessions, self.threads = call, access, sessions, threads

    def connectors(self, principal: Principal) -> list[str]:
        return [n for n in self.call.connectors.names() if principal.may_use(n)]

    def form(self, session: Session, described: Mapping[str, Any], values: Mapping[str, str],
             error: str | None = None) -> Safe:
        connectors = self.connectors(session.principal)
        # Said before it is filled in: the API's rule would refuse this principal anyway.
        denial = authorize(session.principal, connectors[0] if connectors else "",
                           {"action": described["name"]})
        return pages.run_form(described, connectors, session.csrf, values, error,
                              denial.message if denial else None)

    def may_resume(self, principal: Principal, job: Mapping[str, Any], *,
                   asked: bool = False) -> str | None:
        """Why `principal` may not resume this job (None: it may), by the API's rules;
        `asked`: a resume was asked for, so a refusal is counted and audited."""
        if job["status"] != JobStatus.INTERRUPTED.value:
            return f"job {job['job-id']} is {job['status']}: only an interrupted job resumes"
        body = {**(job.get("params") or {}), "action": job["action"]}
        if not asked:
            denial = authorize(principal, job["connector"], body)
            return None if denial is None else denial.message
        denial = self.access.authorize(principal, job["connector"], body)
        if denial is None:
            return None
        self.access.record(principal, as_request(job["connector"], body), body,
                           started=time.monotonic(), status=403, exitcode=2,
                           message=denial.message, rule=denial.rule)
        return denial.message

    def audit_resume(self, principal: Principal, job: Mapping[str, Any], new_id: str) -> None:
        body = {**(job.get("params") or {}), "action": job["action"]}
        self.access.record(principal, as_request(job["connector"], body), body,
                           started=time.monotonic(), status=202, exitcode=0,
                           message=f"resumed job {job['job-id']}", job_id=new_id)

    async def run(self, session: Session, described: Mapping[str, Any],
                  form: Mapping[str, str]) -> Outcome:
        name = str(described["name"])
        connector = form.get("connector", "")
        values = {k[2:]: v for k, v in form.items() if k.startswith("p:") and v != ""}
        body: dict[str, Any] = {"action": name, **values}

        def again(error: str, status: int = 400, shown: Safe | None = None) -> Outcome:
            form_again = self.form(session, described, {**values, "connector": connector}, error)
            page = pages.action(described, form_again, catalog.get(name).fields)
            return status, name, Safe((shown or "") + page), None

        try:
            if "confirm" in form:  # the connector and parameters are the confirmation's
                return await self.confirmed(session, name, form)
            check_connector(self.call, connector)
            if not described["mutating"]:
                response = await self.execute(session.principal, connector, body)
                if response["exitcode"] == 2:
                    return again(response["message"])
                return 200, f"{name}: result", pages.outcome(response), None
            return await self.dry_run(session, described, connector, body, again)
        except Rejected as exc:
            if exc.status == 403:
                return 403, "refused", pages.refused(exc.error.message,
                                                     f"/console/actions/{name}"), None
            return again(exc.error.message, exc.status)

    async def dry_run(self, session: Session, described: Mapping[str, Any], connector: str,
                      body: dict[str, Any], again: Callable[..., Outcome]) -> Outcome:
        action = catalog.get(str(described["name"]))
        has_dry_run = any(p["name"] == "dry-run" for p in described["parameters"])
        response = None
        if has_dry_run:
            response = await self.execute(session.principal, connector,
                                          {**body, "dry-run": True})
            if response["exitcode"] == 2:
                return again(response["message"])
            if response["exitcode"] != 0:
                return again(f"the dry run failed: {response['message']}", 200,
                             pages.outcome(response))
        else:
            self.gate(session.principal, connector, body)
            try:
                action.validate({k: v for k, v in body.items() if k != "action"})
            except InvalidRequest as exc:
                return again(exc.message)
        nonce = self.sessions.confirmation(session, connector, body)
        main = pages.confirm(action.name, connector, session.csrf, nonce,
                             target_ids(action, body), response)
        return 200, f"{action.name}: confirm", main, None

    async def confirmed(self, session: Session, name: str, form: Mapping[str, str]
                        ) -> Outcome:
        """Run, as a job, the request whose dry run this session was shown."""
        found = self.sessions.confirm(session, form["confirm"])
        if found is None or found.body.get("action") != name or _changed(form, found):
            return 403, "refused", pages.refused(
                "refused: this confirmation was used already, has expired, or was given for "
                "other parameters; run the dry run again", f"/console/actions/{name}"), None
        connector, body = found.connector, found.body
        principal, started = session.principal, time.monotonic()
        audited = partial(self.access.record, principal, as_request(connector, body), body,
                          started=started)
        admit(self.call, self.access, principal, connector, body, audited)
        try:
            accepted = await self.threads.run(
                partial(submit, self.call, connector, body, principal.name))
        except Rejected as exc:
            audited(status=exc.status, exitcode=2, message=exc.error.message)
            raise
        except ConnectorError as exc:  # the store or broker out of reach
            audited(status=500, exitcode=int(exc.exit_code), message=exc.message)
            return 503, "not submitted", pages.refused(exc.message), None
        job_id = str(accepted["job-id"])
        audited(status=202, exitcode=0, message="accepted as a job", job_id=job_id)
        return 303, "submitted", Safe(""), f"/console/jobs/{job_id}"

    def gate(self, principal: Principal, connector: str, body: dict[str, Any]) -> None:
        """The API's checks alone (a refusal is audited), for a step that sends nothing."""
        audited = partial(self.access.record, principal, as_request(connector, body), body,
                          started=time.monotonic())
        admit(self.call, self.access, principal, connector, body, audited)

    async def execute(self, principal: Principal, connector: str,
                      body: dict[str, Any]) -> dict[str, Any]:
        """Run now, as POST /v1/connectors/{name}/sync does: gate, execute, audit."""
        started = time.monotonic()
        wanted = as_request(connector, body)
        audited = partial(self.access.record, principal, wanted, body, started=started)
        admit(self.call, self.access, principal, connector, body, audited)
        response = (await execute_async(wanted, self.call.connectors,
                                        runtime=self.call.runtime)).to_dict()
        audited(status=200, exitcode=response["exitcode"], message=response["message"],
                response=response)
        return response


def _changed(form: Mapping[str, str], found: Confirmation) -> bool:
    """Does a form that names parameters name others than its confirmation was for?"""
    given = {k[2:]: v for k, v in form.items() if k.startswith("p:") and v != ""}
    if not given and "connector" not in form:
        return False  # the confirmation page's own form: the nonce alone
    return ({"action": found.body["action"], **given}, form.get("connector")) != (
        found.body, found.connector)
