"""Tables for people: columns picked by name or path, cells made short, states in colour.

A column is written `label=path` or just `path`: the path is an item's key, a dotted
path into it (`tags.Name`), or a JMESPath expression (`length("ip-permissions")`); the
label is the header and the name `--columns` accepts. The curated columns of a result
are declared with the action's resource; this module only renders them. Nothing here
imports boto3 (jmespath, a dependency of botocore, only for expressions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CELL = 40
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_LABELLED = re.compile(r"([a-z][a-z0-9-]*)=(.+)", re.DOTALL)
_ISO_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d(?:\.\d+)?)?(?:Z|[+-]00:00)?")

# The colour of a state: green settled and well, yellow on its way, red stopped or failed.
_GREEN = frozenset({"running", "available", "succeeded", "completed", "active", "in-use",
                    "attached", "ok", "true"})
_YELLOW = frozenset({"pending", "stopping", "shutting-down", "queued", "starting",
                     "rebooting", "creating", "deleting", "attaching", "detaching"})
_RED = frozenset({"stopped", "terminated", "failed", "timed-out", "interrupted", "error",
                  "deleted", "false"})
_SGR = {"green": "32", "yellow": "33", "red": "31", "dim": "2"}


@dataclass(frozen=True)
class Column:
    """One table column: its header/label and how to read its value from an item."""

    label: str
    path: str

    @classmethod
    def parse(cls, spec: str) -> Column:
        spec = spec.strip()
        match = _LABELLED.fullmatch(spec)
        if match and not spec.startswith(match.group(1) + "=="):
            return cls(match.group(1), match.group(2).strip())
        label = spec.rsplit(".", 1)[-1] if _PLAIN_PATH.fullmatch(spec) else spec
        return cls(label, spec)

    def reader(self) -> Callable[[Any], Any]:
        return path_reader(self.path)


def path_reader(path: str) -> Callable[[Any], Any]:
    """A function reading `path` from an item: a key, a dotted path, or JMESPath."""
    if _PLAIN_PATH.fullmatch(path):
        names = path.split(".")

        def walk(item: Any) -> Any:
            if isinstance(item, Mapping) and path in item:
                return item[path]
            for name in names:
                if not isinstance(item, Mapping):
                    return None
                item = item.get(name)
            return item

        return walk
    compiled = compile_query(path)

    def evaluate(item: Any) -> Any:
        # A function given the wrong type (length of a missing key) is an empty cell, as a
        # missing key is: one odd item must not cost the whole table.
        try:
            return search(compiled, item)
        except QueryFailed:
            return None

    return evaluate


def compile_query(expression: str) -> Any:
    """A compiled JMESPath expression; hyphenated names (`instance-id`) need no quotes.

    JMESPath has no subtraction, so an unquoted name with a hyphen can only mean the
    key of that name: it is quoted for the user. ValueError when still not valid.
    """
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(quote_hyphenated(expression))
    except JMESPathError as exc:
        reason = " ".join(str(exc).split()) or "not a JMESPath expression"
        raise ValueError(reason) from None


class QueryFailed(ValueError):
    """A valid expression that cannot apply to this value (a function given a null)."""


def first_name(compiled: Any) -> str | None:
    """The key a query starts from (`instance-info` of `instance-info[0].tags`), if any."""
    node = compiled.parsed
    while node["type"] in ("subexpression", "index_expression", "projection", "flatten",
                           "filter_projection", "pipe") and node.get("children"):
        node = node["children"][0]
    return str(node["value"]) if node["type"] == "field" else None


def search_result(compiled: Any, value: Any) -> Any:
    """`search` for a --query over a whole result: QueryFailed naming the keys when the
    query starts from one the result does not have (a misspelt key would otherwise print
    null and succeed)."""
    name = first_name(compiled)
    if name is not None and isinstance(value, Mapping) and value and name not in value:
        raise QueryFailed(f"the result has no key '{name}'; its keys: "
                          f"{', '.join(map(str, value))}")
    return search(compiled, value)


def search(compiled: Any, value: Any) -> Any:
    """`compiled` (from compile_query) over `value`; QueryFailed with JMESPath's reason."""
    from jmespath.exceptions import JMESPathError

    try:
        return compiled.search(value)
    except JMESPathError as exc:
        raise QueryFailed(" ".join(str(exc).split()) or "the expression does not apply") \
            from None


def quote_hyphenated(expression: str) -> str:
    out: list[str] = []
    position = 0
    for match in re.finditer(r"`(?:\\.|[^`])*`|'(?:\\.|[^'])*'|\"(?:\\.|[^\"])*\""
                             r"|[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)+", expression):
        out.append(expression[position:match.start()])
        token = match.group(0)
        out.append(token if token[0] in "`'\"" else f'"{token}"')
        position = match.end()
    out.append(expression[position:])
    return "".join(out)


def columns_for(rows: Sequence[Any], specs: Sequence[str] | None) -> list[Column]:
    """The declared or chosen columns; else every key filled in some row, in order."""
    if specs:
        return [Column.parse(s) for s in specs]
    seen: dict[str, bool] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            return [Column("value", "@")]
        for key, value in row.items():
            # A column empty in every row says nothing: leave it out of the table.
            seen[key] = seen.get(key, False) or value not in (None, "", [], {})
    present = [k for k, filled in seen.items() if filled] or list(seen)
    return [Column(k, k) for k in present]


def rows_of(items: Sequence[Any], columns: Sequence[Column]) -> list[list[Any]]:
    """The raw value of every column for every item (a scalar item fills column one)."""
    readers = [c.reader() for c in columns]
    rows = []
    for item in items:
        if isinstance(item, Mapping):
            rows.append([read(item) for read in readers])
        else:
            rows.append([item, *([None] * (len(columns) - 1))])
    return rows


def render_table(
    items: Sequence[Any],
    columns: Sequence[Column],
    *,
    width: int | None = None,
    colour: bool = False,
    limit: int | None = MAX_CELL,
) -> list[str]:
    """Aligned text lines: a header, one line per item; trailing columns that do not fit
    in `width` are left out, with a last line naming them."""
    cells = [[cell(v, limit=limit) for v in row] for row in rows_of(items, columns)]
    sizes = [max(len(c.label), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    shown = len(columns) if width is None else fitting(sizes, width)
    header = [c.label.upper() for c in columns[:shown]]
    out = [_line(header, sizes[:shown], "dim" if colour else None)]
    out.extend(_line(row[:shown], sizes[:shown], colour=colour) for row in cells)
    if shown < len(columns):
        hidden = ", ".join(c.label for c in columns[shown:])
        out.append(f"({hidden}: not shown at this width; choose with --columns)")
    return out


def fitting(sizes: Sequence[int], width: int) -> int:
    """How many leading columns fit in `width` (always at least one)."""
    used, count = 0, 0
    for size in sizes:
        if count and used + size > width:
            break
        used += size + 2
        count += 1
    return count


def _line(values: Sequence[str], sizes: Sequence[int], tint: str | None = None,
          colour: bool = False) -> str:
    """One aligned line: every cell in `tint`, or (with `colour`) each state in its own."""
    parts = []
    for value, size in zip(values, sizes, strict=True):
        padded = value.ljust(size)
        shade = tint or (state_colour(value) if colour else None)
        parts.append(paint(padded, shade) if shade else padded)
    return "  ".join(parts).rstrip()


def state_colour(value: str) -> str | None:
    word = value.strip().lower()
    if word in _GREEN:
        return "green"
    if word in _YELLOW:
        return "yellow"
    if word in _RED:
        return "red"
    return None


def paint(text: str, colour: str) -> str:
    return f"\x1b[{_SGR[colour]}m{text}\x1b[0m"


def cell(value: Any, *, limit: int | None = MAX_CELL) -> str:
    """One value as table text: tags as k=v, lists joined, times to the minute, long cut."""
    text = _plain(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        match = _ISO_TIME.fullmatch(value)
        return f"{match.group(1)} {match.group(2)}" if match else value
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(_compact(v) for v in value) or "-"
    return str(value)


def _compact(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return "" if value is None else str(value)


def text_value(value: Any) -> str:
    """One value in `--output text`: as the AWS CLI prints it (None, True, JSON for nests)."""
    if value is None:
        return "None"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def text_rows(rows: Iterable[Sequence[Any]]) -> list[str]:
    return ["\t".join(text_value(v) for v in row) for row in rows]
