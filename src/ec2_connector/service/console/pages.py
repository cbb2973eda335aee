"""The console's pages around the catalog: sign-in, the actions, a run form made from an
action's declaration, a run's outcome, the principal's own page, and refusals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from ...spec.action import CONNECTION_NAMES
from ..principals import Principal
from .html import Safe, alert, h, hidden, pairs, table
from .results import envelope

# Parameters the run form leaves out: where the call goes and with which credentials is
# the connector's config (the service refuses the rest without the caller's own keys);
# the dry run is the console's own step.
NOT_IN_FORM = CONNECTION_NAMES | {"dry-run", "include-raw-body", "client-token"}


def sign_in(nonce: str, error: str | None = None, after: str | None = None) -> Safe:
    target = "/console/sign-in" + (f"?next={quote(after)}" if after else "")
    return h("form", {"method": "post", "action": target, "class": "card"},
             alert(error) if error else None,
             hidden("csrf", nonce),
             h("label", {"for": "token"}, "token"),
             h("input", {"id": "token", "name": "token", "type": "password",
                         "autocomplete": "current-password", "required": True,
                         "autofocus": True}),
             h("p", {"class": "hint"}, "a principal's token ('ec2-connector token create')"),
             h("button", {"type": "submit"}, "sign in"))


def catalog(actions: Iterable[Mapping[str, Any]]) -> Safe:
    rows = [(h("a", {"href": f"/console/actions/{a['name']}"}, a["name"]),
             "changes things" if a["mutating"] else "read-only", a["resource"] or "", a["doc"])
            for a in actions]
    return table(["action", "kind", "resource", "what it does"], rows,
                 caption="every action, from its declaration")


def action(described: Mapping[str, Any], form: Safe,
           fields: Mapping[str, Any] | None = None) -> Safe:
    """An action's page: its declaration (parameters, result fields) and its run form."""
    params = [(h("code", None, p["name"]), _type_of(p), "yes" if p["required"] else "",
               p.get("default", ""), p["doc"]) for p in described["parameters"]]
    # Each result field: our key and the JMESPath over EC2's output it is read from.
    result = table(["result field", "read from EC2's output at"], [
        (h("code", None, key), h("code", None, getattr(spec, "path", spec)))
        for key, spec in (fields or {}).items()], caption="result fields") if fields else ""
    facts = [("kind", "changes things (a dry run comes first)" if described["mutating"]
              else "read-only"),
             ("result", described["result"]), ("result columns", described["columns"]),
             ("EC2 operations", described["operations"]), ("example", described["example"]),
             ("AWS CLI", described["aws-cli"])]
    return Safe(h("p", None, described["doc"]) + pairs(facts)
                + table(["parameter", "type", "required", "default", "what it is"], params,
                        caption="parameters") + result + form)


def _type_of(param: Mapping[str, Any]) -> str:
    if param.get("choices"):
        return f"{param['type']}: {' | '.join(param['choices'])}"
    return str(param["type"])


def run_form(described: Mapping[str, Any], connectors: list[str], csrf: str,
             values: Mapping[str, str], error: str | None = None,
             refusal: str | None = None) -> Safe:
    """The run form, one field per declared parameter the console passes on."""
    fields = [_connector_field(connectors, values.get("connector", ""))]
    fields += [_field(p, values.get(p["name"], "")) for p in described["parameters"]
               if p["name"] not in NOT_IN_FORM]
    label = "dry run" if described["mutating"] else "run"
    return h("form", {"method": "post", "action": f"/console/actions/{described['name']}/run",
                      "class": "card run", "aria-labelledby": "run-title"},
             h("h2", {"id": "run-title"}, "run it"),
             h("p", {"class": "note"}, f"it would be refused: {refusal}") if refusal else None,
             alert(error) if error else None,
             hidden("csrf", csrf), fields,
             h("button", {"type": "submit", "id": "run"}, label))


def _connector_field(connectors: list[str], chosen: str) -> Safe:
    options = [h("option", {"value": c, "selected": c == chosen}, c) for c in connectors]
    return h("div", {"class": "field"}, h("label", {"for": "f-connector"}, "connector"),
             h("select", {"id": "f-connector", "name": "connector"}, options))


def _field(param: Mapping[str, Any], value: str) -> Safe:
    name, kind = param["name"], param["type"]
    ident, hint_id = f"f-{name}", f"h-{name}"
    hint = h("span", {"class": "hint", "id": hint_id}, param["doc"],
             " (comma-separated)" if kind == "list" else "",
             " (JSON or key=value)" if kind == "object" else "")
    common = {"id": ident, "name": f"p:{name}", "aria-describedby": hint_id,
              "required": param["required"]}
    if param.get("secret"):
        value = ""  # a secret is typed again, never sent back in a page
    if kind == "boolean":
        box = h("input", {**common, "type": "checkbox", "value": "true",
                          "checked": value == "true", "required": False})
        return h("div", {"class": "field check"}, box, h("label", {"for": ident}, name), hint)
    if param.get("choices"):
        options = [h("option", {"value": ""}, "")] + [
            h("option", {"value": c, "selected": c == value}, c) for c in param["choices"]]
        control = h("select", common, options)
    elif kind in ("text", "any", "object"):
        control = h("textarea", {**common, "rows": 2}, value)
    else:
        control = h("input", {**common, "type": "password" if param.get("secret") else "text",
                              "value": value, "autocomplete": "off"})
    star = h("span", {"aria-hidden": "true"}, " *") if param["required"] else None
    return h("div", {"class": "field"}, h("label", {"for": ident}, name, star), control, hint)


def confirm(name: str, connector: str, csrf: str, nonce: str, targets: list[str],
            dry_run: Mapping[str, Any] | None) -> Safe:
    """The dry run's outcome and what a real run would touch, then one button to run it."""
    shown = targets or ["(none named: see the dry run's answer)"]
    return Safe(
        h("h2", None, "dry run") + (envelope(dry_run) if dry_run else h(
            "p", None, "this action has no dry run in EC2; nothing was sent"))
        + h("h2", None, "it would touch")
        + h("ul", {"class": "targets"}, [h("li", None, h("code", None, t)) for t in shown])
        + h("form", {"method": "post", "action": f"/console/actions/{name}/run",
                     "class": "card"},
            hidden("csrf", csrf), hidden("confirm", nonce),
            h("p", None, f"run {name} on connector {connector} for real?"),
            h("button", {"type": "submit", "id": "confirm", "class": "danger"},
              f"yes, run {name}"), " ",
            h("a", {"href": f"/console/actions/{name}"}, "cancel")))


def outcome(response: Mapping[str, Any]) -> Safe:
    return envelope(response)


def me(principal: Principal, expires: str) -> Safe:
    rows = [("name", principal.name), ("role", principal.role),
            ("connectors", ", ".join(principal.connectors) if principal.connectors is not None
             else "every connector"),
            ("actions", ", ".join(principal.actions)),
            ("most targets per request", principal.max_targets or "no limit"),
            ("call-operation may change things", "yes" if principal.call_operation_mutate
             else "no"),
            ("sees", "every principal's jobs" if principal.sees_every_job else "its own jobs"),
            ("session ends", expires)]
    return pairs(rows)


def refused(message: str, back: str | None = None) -> Safe:
    return Safe(alert(message) + (h("p", None, h("a", {"href": back}, "back")) if back else ""))

