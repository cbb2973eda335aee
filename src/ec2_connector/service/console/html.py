"""HTML built from Python values: every string is escaped unless it is `Safe`, which
only this module's builders make, so a tag value like `<script>` is shown, never run.

    h("a", {"href": "/console/jobs"}, "jobs")   ->  Safe('<a href="/console/jobs">jobs</a>')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

_VOID = frozenset({"input", "meta", "link", "br", "hr", "img"})


class Safe(str):
    """Text that is already HTML: made by the builders here from escaped parts."""


def render(child: Any) -> Safe:
    """A child as HTML: Safe as it is, None as nothing, a list joined, anything else escaped."""
    if child is None or child is False:
        return Safe("")
    if isinstance(child, Safe):
        return child
    if isinstance(child, str | int | float):
        return Safe(escape(str(child), quote=True))
    return Safe("".join(render(c) for c in child))


def h(tag: str, attrs: Mapping[str, Any] | None = None, *children: Any) -> Safe:
    """One element; an attribute that is None or False is left out, True is bare."""
    parts = [tag]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(name if value is True else f'{name}="{escape(str(value), quote=True)}"')
    opening = f"<{' '.join(parts)}>"
    if tag in _VOID:
        return Safe(opening)
    return Safe(f"{opening}{render(children)}</{tag}>")


def table(columns: list[str], rows: Iterable[Iterable[Any]], *, caption: str | None = None,
          **attrs: Any) -> Safe:
    """A table with a header row; each cell is escaped (a dict or list as compact JSON)."""
    head = h("thead", None, h("tr", None, [h("th", {"scope": "col"}, c) for c in columns]))
    # Each cell names its column: at a phone's width a row is drawn as a card (CSS).
    body = h("tbody", attrs.pop("tbody", None), [
        h("tr", None, [h("td", {"data-label": c}, cell(v)) for c, v in zip(columns, row,
                                                                          strict=False)])
        for row in rows])
    return h("div", {"class": "scroll"},
             h("table", attrs, h("caption", None, caption) if caption else None, head, body))


def cell(value: Any) -> Any:
    if isinstance(value, Safe):
        return value
    if isinstance(value, dict | list):
        return h("code", None, json.dumps(value, default=str, separators=(", ", ": ")))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # as in the envelope's JSON
    return str(value)


def pairs(rows: Iterable[tuple[str, Any]]) -> Safe:
    """A definition list: a name and its value per row."""
    return h("dl", {"class": "pairs"},
             [[h("dt", None, k), h("dd", None, cell(v))] for k, v in rows])


def page(title: str, main: Any, *, who: str | None = None, csrf: str | None = None,
         here: str = "") -> Safe:
    """The whole document: skip link, navigation (when signed in), the main region."""
    nav = None
    if who is not None:
        links = [("jobs", "/console/jobs"), ("actions", "/console/actions"),
                 ("me", "/console/me")]
        nav = h("nav", {"aria-label": "console"}, h("ul", None, [
            h("li", None, h("a", {"href": href, "aria-current": "page" if here == name
                                  else None}, name)) for name, href in links]),
            h("form", {"method": "post", "action": "/console/sign-out", "class": "out"},
              h("input", {"type": "hidden", "name": "csrf", "value": csrf}),
              h("span", None, who, " "), h("button", {"type": "submit"}, "sign out")))
    head = h("head", None,
             h("meta", {"charset": "utf-8"}),
             h("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
             h("title", None, f"{title} · ec2-connector"),
             h("link", {"rel": "stylesheet", "href": "/console/static/console.css"}),
             h("script", {"src": "/console/static/console.js", "defer": True}))
    body = h("body", None,
             h("a", {"class": "skip", "href": "#main"}, "skip to content"),
             h("header", None, h("span", {"class": "brand"}, "ec2-connector"), nav),
             h("main", {"id": "main", "tabindex": "-1"}, h("h1", None, title), main))
    return Safe("<!doctype html>\n" + h("html", {"lang": "en"}, head, body))


def hidden(name: str, value: Any) -> Safe:
    return h("input", {"type": "hidden", "name": name, "value": value})


def alert(message: str) -> Safe:
    """One error line, read out by a screen reader when it appears."""
    return h("p", {"class": "error", "role": "alert"}, message)
