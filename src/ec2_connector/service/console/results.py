"""Jobs and responses as HTML: the live jobs list, a job's page, an envelope's results
(a table per list of items: per instance, per region for a fan-out)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ...jobs.record import JobStatus
from .html import Safe, alert, h, hidden, pairs, table

STATUSES = [s.value for s in JobStatus]
COLUMNS = ["job", "status", "action", "connector", "submitted by", "age", "message"]


def age(created: str | None, now: float | None = None) -> str:
    """How long ago, for people: 5 s, 3 min, 2 h, 4 d."""
    if not created:
        return ""
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return ""
    seconds = max(0, int((now or time.time()) - then))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def row(job: Mapping[str, Any]) -> dict[str, Any]:
    """One job as the list shows it (the JSON the page's script draws rows from)."""
    return {"id": job["job-id"], "status": job["status"], "action": job["action"],
            "connector": job["connector"], "submitted-by": job.get("submitted-by") or "",
            "age": age(job.get("created-at")), "message": job.get("message") or ""}


def matches(job: Mapping[str, Any], action: str, query: str) -> bool:
    if action and job["action"] != action:
        return False
    words = " ".join(str(job.get(k) or "") for k in
                     ("job-id", "action", "connector", "submitted-by", "message", "status"))
    return query.lower() in words.lower()


def jobs_page(rows: list[dict[str, Any]], actions: Iterable[str], status: str, action: str,
              query: str) -> Safe:
    """The filter form and the live list; console.js redraws the body every ~1.5 s."""
    status_options = [h("option", {"value": ""}, "any")] + [
        h("option", {"value": s, "selected": s == status}, s) for s in STATUSES]
    action_options = [h("option", {"value": ""}, "any")] + [
        h("option", {"value": a, "selected": a == action}, a) for a in actions]
    filters = h("form", {"method": "get", "action": "/console/jobs", "class": "filters",
                         "role": "search"},
                h("div", {"class": "field"}, h("label", {"for": "status"}, "status"),
                  h("select", {"id": "status", "name": "status"}, status_options)),
                h("div", {"class": "field"}, h("label", {"for": "action"}, "action"),
                  h("select", {"id": "action", "name": "action"}, action_options)),
                h("div", {"class": "field"}, h("label", {"for": "q"}, "search"),
                  h("input", {"id": "q", "name": "q", "type": "search", "value": query})),
                h("button", {"type": "submit"}, "filter"))
    # The rows redraw themselves (console.js); what changed (a new job, a status) is said
    # in the live region, once, rather than the whole table on every poll.
    listing = table(COLUMNS, [_cells(r) for r in rows], caption="jobs, newest first",
                    id="jobs", tbody={"id": "job-rows", "data-live": "/console/jobs.json"})
    news = h("p", {"id": "jobs-news", "class": "news", "role": "status",
                   "aria-live": "polite"})
    empty = h("p", {"id": "no-jobs", "hidden": bool(rows)}, "no jobs")
    return Safe(filters + news + listing + empty)


def _cells(r: Mapping[str, Any]) -> list[Any]:
    return [h("a", {"href": f"/console/jobs/{r['id']}"}, r["id"]),
            h("span", {"class": f"status s-{r['status']}"}, r["status"]),
            r["action"], r["connector"], r["submitted-by"], r["age"], r["message"]]


def job_page(job: Mapping[str, Any], audit_lines: list[dict[str, Any]] | None,
             csrf: str, may_resume: bool, may_cancel: bool = False) -> Safe:
    facts = [("status", h("span", {"id": "job-status", "class": f"status s-{job['status']}",
                                   "data-live": f"/console/jobs/{job['job-id']}.json",
                                   "data-done": "yes" if _done(job) else "no",
                                   "aria-live": "polite"}, job["status"])),
             ("action", job["action"]), ("connector", job["connector"]),
             ("target", job.get("target")), ("submitted by", job.get("submitted-by")),
             ("parameters", job.get("params")), ("message", job.get("message"))]
    parts = [pairs(facts), h("h2", None, "timings"), timings(job)]
    if job.get("response"):
        parts += [h("h2", None, "results"), envelope(job["response"])]
    if job.get("callback"):
        parts += [h("h2", None, "callback"), pairs(job["callback"].items())]
    if may_resume and job["status"] == JobStatus.INTERRUPTED.value:
        parts.append(h("form", {"method": "post",
                                "action": f"/console/jobs/{job['job-id']}/resume"},
                       hidden("csrf", csrf), h("button", {"type": "submit"}, "resume")))
    if may_cancel and _cancellable(job):
        parts.append(h("form", {"method": "post",
                                "action": f"/console/jobs/{job['job-id']}/cancel"},
                       hidden("csrf", csrf), h("button", {"type": "submit"}, "cancel")))
    if audit_lines is not None:
        parts += [h("h2", None, "audit"), table(
            ["time", "principal", "action", "status", "exitcode", "message"],
            [[a.get(k) for k in ("time", "principal", "action", "status", "exitcode",
                                 "message")] for a in audit_lines],
            caption="its lines in the audit trail") if audit_lines else h(
                "p", None, "no audit lines for this job")]
    return Safe("".join(parts))


def _cancellable(job: Mapping[str, Any]) -> bool:
    """Live or interrupted, and not already asked to stop."""
    status = JobStatus(job["status"])
    live = not status.done or status is JobStatus.INTERRUPTED
    return live and not job.get("cancel-requested-at")


def _done(job: Mapping[str, Any]) -> bool:
    return JobStatus(job["status"]).done


def _seconds(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    took = (datetime.fromisoformat(end.replace("Z", "+00:00"))
            - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
    return f"{took:.3f} s"


def timings(job: Mapping[str, Any]) -> Safe:
    created, started, finished = (job.get(k) for k in ("created-at", "started-at",
                                                        "finished-at"))
    return pairs([("created", created), ("started", started), ("finished", finished),
                  ("waited in the queue", _seconds(created, started)),
                  ("ran for", _seconds(started, finished))])


def envelope(response: Mapping[str, Any]) -> Safe:
    """An envelope: its exit code and message, a table per list of items, the rest."""
    data = response.get("data") or {}
    ok = response.get("exitcode") == 0
    head = h("p", {"class": "ok" if ok else "error", "role": None if ok else "alert"},
             f"exitcode {response.get('exitcode')}: {response.get('message')}")
    tables, rest = [], []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append(items(key, value))
        else:
            rest.append((key, value))
    meta = response.get("meta") or {}
    shown = [(k, meta[k]) for k in ("duration-ms", "attempts", "region", "request-id")
             if k in meta]
    return Safe(head + "".join(tables) + (pairs(rest) if rest else "")
                + (h("details", None, h("summary", None, "meta"), pairs(shown))
                   if shown else ""))


def items(key: str, values: list[dict[str, Any]]) -> Safe:
    """A list of dicts as a table: per instance, per region (`regions`), per item."""
    columns: list[str] = []
    for value in values:
        columns += [k for k in value if k not in columns]
    caption = {"regions": "per region", "items": "per item"}.get(key, key)
    return table(columns, [[v.get(c) for c in columns] for v in values], caption=caption,
                 **{"class": f"items items-{key}"})


def problem(message: str) -> Safe:
    return alert(message)
