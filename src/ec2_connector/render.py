"""How the CLI shows a response: JSON, a table of the result list, NDJSON, a progress line.

Only formatting lives here; which response to show and with which exit code is the
CLI's business. Nothing in this module imports boto3.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

# Ids first: they are what a reader looks for in a row, wherever the mapping puts them.
LEADING_COLUMNS = ("instance-id", "group-id", "resource-id", "job-id")
MAX_CELL = 40


def to_json(value: Any, *, indent: int | None = 2) -> str:
    # default=str: a datetime or Enum that slipped into data must not cost the whole output.
    return json.dumps(value, indent=indent, default=str)


def ndjson_lines(envelope: Mapping[str, Any], result_key: str | None) -> Iterator[str]:
    """One line per item of the result list, then the envelope without that list."""
    data = dict(envelope.get("data") or {})
    if result_key and isinstance(data.get(result_key), list):
        for item in data.pop(result_key):
            yield to_json(item, indent=None)
    yield to_json({**envelope, "data": data}, indent=None)


def table_text(
    envelope: Mapping[str, Any], result_key: str | None, width: int | None = None
) -> str:
    """A readable view: the result list as a table, other data as `key: value` lines."""
    data = dict(envelope.get("data") or {})
    lines: list[str] = []
    items = data.pop(result_key, None) if result_key else None
    if isinstance(items, list):
        lines.extend(table(items, width=width) if items else ["(no items)"])
    elif items is not None:
        data = {result_key: items, **data}  # a scalar result: shown with the other data
    lines.extend(f"{key}: {cell(value, limit=None)}" for key, value in data.items())
    count = f" ({len(items)} items)" if isinstance(items, list) else ""
    lines.append(f"exitcode {envelope.get('exitcode')}: {envelope.get('message')}{count}")
    return "\n".join(lines)


def table(rows: list[Any], *, width: int | None = None, limit: int | None = MAX_CELL) -> list[str]:
    """Rows of dicts (or of scalars) as aligned text columns; `width` trims columns to fit."""
    dict_rows = [r if isinstance(r, Mapping) else {"value": r} for r in rows]
    columns = _columns(dict_rows)
    cells = [[cell(row.get(c), limit=limit) for c in columns] for row in dict_rows]
    sizes = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    shown = len(columns)
    if width is not None:
        shown = _fitting(sizes, width)
    header = [c.upper() for c in columns[:shown]]
    out = [_line(header, sizes[:shown])]
    out.extend(_line(r[:shown], sizes[:shown]) for r in cells)
    if shown < len(columns):
        out.append(f"(+{len(columns) - shown} more columns: use --output json to see them)")
    return out


def _columns(rows: list[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, bool] = {}
    for row in rows:
        for key, value in row.items():
            # A column empty in every row says nothing: leave it out of the table.
            seen[key] = seen.get(key, False) or value not in (None, "", [], {})
    present = [k for k, filled in seen.items() if filled] or list(seen)
    first = [k for k in LEADING_COLUMNS if k in present]
    return first + [k for k in present if k not in first]


def _fitting(sizes: list[int], width: int) -> int:
    used, count = 0, 0
    for size in sizes:
        if count and used + size > width:
            break
        used += size + 2
        count += 1
    return count


def _line(values: list[str], sizes: list[int]) -> str:
    return "  ".join(v.ljust(s) for v, s in zip(values, sizes, strict=True)).rstrip()


def cell(value: Any, *, limit: int | None = MAX_CELL) -> str:
    """One value as table text: nested values as compact JSON, long ones cut."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def actions_text(entries: list[dict[str, Any]]) -> str:
    """The catalog as a list: one action per line with its one-line doc."""
    size = max(len(e["name"]) for e in entries)
    return "\n".join(f"{e['name'].ljust(size)}  {e['doc']}" for e in entries)


def action_text(entry: Mapping[str, Any]) -> str:
    """One action: its doc, result key, parameters and cross-parameter rules."""
    lines = [f"{entry['name']}: {entry['doc']}"]
    if entry.get("result"):
        lines.append(f"result: {entry['result']}")
    rows = [
        {
            "parameter": p["name"] + ("*" if p.get("required") else ""),
            "type": p["type"],
            "default": p.get("default"),
            "aliases": ", ".join(p.get("aliases", [])) or None,
            "doc": p["doc"],
        }
        for p in entry["parameters"]
    ]
    lines.append("")
    lines.extend(table(rows, limit=None))
    for rule in entry.get("rules", []):
        kind = "exactly one of" if "one-of" in rule else "at least one of"
        names = rule.get("one-of") or rule.get("any-of") or []
        optional = "" if rule.get("required") else " (or none)"
        lines.append(f"rule: {kind} {', '.join(names)}{optional}")
    lines.append("* required")
    return "\n".join(lines)


class LineSink:
    """Prints each streamed result item as one JSON line, as soon as it arrives.

    Items come from the call's I/O thread. Once closed it prints nothing more: a call
    abandoned at its deadline must not add lines after the final envelope.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._open = True

    def __call__(self, item: Mapping[str, Any]) -> None:
        with self._lock:
            if self._open:
                self._stream.write(to_json(item, indent=None) + "\n")
                self._stream.flush()

    def close(self) -> None:
        with self._lock:
            self._open = False


class ProgressLine:
    """A one-line progress display on a terminal, redrawn in place for each event.

    Events come from the call's I/O thread, hence the lock; `close()` erases the line
    so the final output starts on a clean line.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._drawn = False

    def __call__(self, event: Mapping[str, Any]) -> None:
        text = progress_text(event)
        if text is None:
            return
        with self._lock:
            self._stream.write("\r\x1b[K" + text)
            self._stream.flush()
            self._drawn = True

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
                self._drawn = False


def progress_text(event: Mapping[str, Any]) -> str | None:
    kind = event.get("event")
    if kind == "wait":
        states = event.get("states") or {}
        counts: dict[str, int] = {}
        for state in states.values():
            counts[state] = counts.get(state, 0) + 1
        shown = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        return (
            f"waiting for {event.get('target')}: {event.get('done')}/{event.get('total')} "
            f"[{shown}] (poll {event.get('polls')})"
        )
    if kind == "page":
        return f"described {event.get('items')} so far..."
    return None
