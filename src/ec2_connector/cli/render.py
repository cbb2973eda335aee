"""How the CLI shows a response: JSON, NDJSON, text, a table, a query's result, progress.

Only formatting lives here; which response to show and with which exit code is the
CLI's business. Nothing in this module imports boto3.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field
from json.encoder import encode_basestring_ascii as _encode_str
from typing import TYPE_CHECKING, Any, TextIO

from ..response import SUCCESS_MESSAGE
from ..spec.records import record

if TYPE_CHECKING:
    from .table import Column

# The table module (~1.5 ms: its regexes and dataclass) is imported by what draws tables,
# text or a query's result, not with every command: JSON, a one-shot call's output, needs
# none of it.


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """`json.dumps(value, indent=indent, default=str)`, the same text.

    default=str: a datetime or Enum that slipped into data must not cost the whole
    output. Indented, `json` encodes in Python, a generator per level: a response of 50
    instances took 1 ms (a one-shot call's whole rendering), `_indented` half that.
    """
    if indent is not None:
        try:
            return _indented(value, "\n", " " * indent)
        except (_Unplain, RecursionError):  # (a cycle: json's own error, below)
            pass  # json's own encoder, for all of it
    return json.dumps(value, indent=indent, default=str)


class _Unplain(Exception):
    """A value `_indented` leaves to json: not exactly a str, int, float, bool, None,
    list, tuple, or dict with str keys (a subclass, a datetime, a cycle)."""


def _indented(value: Any, newline: str, step: str) -> str:
    """json.dumps's indented text of plain values, by joins of the C string encoder's
    output. Raises _Unplain for anything else."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is dict:
        if not value:
            return "{}"
        inner = newline + step
        return "{" + inner + ("," + inner).join(
            [_key(k) + ": " + _indented(v, inner, step) for k, v in value.items()]
        ) + newline + "}"
    if kind is list or kind is tuple:
        if not value:
            return "[]"
        inner = newline + step
        return "[" + inner + ("," + inner).join(
            [_indented(v, inner, step) for v in value]) + newline + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    raise _Unplain


def _key(key: Any) -> str:
    if type(key) is not str:
        raise _Unplain
    return _encode_str(key)


def ndjson_lines(envelope: Mapping[str, Any], result_key: str | None) -> Iterator[str]:
    """One line per item of the result list, then the envelope without that list."""
    data = dict(envelope.get("data") or {})
    if result_key and isinstance(data.get(result_key), list):
        for item in data.pop(result_key):
            yield to_json(item, indent=None)
    yield to_json({**envelope, "data": data}, indent=None)


@record(frozen=True)
class View:
    """How to show a response: which list is the result, its columns, a query, the terminal."""

    result: str | None = None  # the data key of the result list (or value)
    columns: tuple[str, ...] = ()  # column specs: the action's curated ones or --columns
    query: Any = None  # a compiled JMESPath expression over data (table.compile_query)
    width: int | None = None  # the terminal's width: columns that do not fit are left out
    colour: bool = False
    verbose: bool = False  # transport details (headers, meta) too
    chosen: tuple[str, ...] = ()  # --columns: curated labels, or keys and paths
    notes: list[str] = field(default_factory=list)  # for stderr: a chosen column found nothing

    def columns_of(self, items: list[Any]) -> list[Column]:
        """--columns if given (a curated label means that column), else the curated ones."""
        from .table import Column, columns_for, rows_of

        if not self.chosen:
            return columns_for(items, self.columns)
        curated = {c.label: c for c in columns_for(items, self.columns)}
        columns = [curated.get(name) or Column.parse(name) for name in self.chosen]
        rows = rows_of(items, columns)
        for n, column in enumerate(columns):
            if rows and all(row[n] is None for row in rows):
                keys = [*curated, *(items[0] if isinstance(items[0], dict) else ())]
                import difflib

                close = difflib.get_close_matches(column.label, keys, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                self.notes.append(f"column '{column.label}' is empty in every row ({hint}"
                                  f"labels: {', '.join(curated) or '-'}; or any result field)")
        return columns


def render(envelope: Mapping[str, Any], output: str, view: View) -> Iterator[str]:
    """The lines to print for `envelope` in `output`, one of `FORMATS`.

    table.QueryFailed when the query cannot apply to the data (before any line).
    """
    shown = envelope if view.verbose else _without_transport(envelope)
    data = shown.get("data") or {}
    whole, queried = FORMATS[output]
    if view.query is not None:
        from .table import search_result

        items = data.get(view.result) if view.result else None
        yield from queried(search_result(view.query, data), view, items)
    else:
        yield from whole(shown, view)


def _without_transport(envelope: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (envelope.get("meta") or {}).items() if k != "headers"}
    return {**envelope, "meta": meta}


def _json_queried(found: Any, view: View, items: Any) -> Iterator[str]:
    yield to_json(found)


def _ndjson_queried(found: Any, view: View, items: Any) -> Iterator[str]:
    for item in found if isinstance(found, list) else [found]:
        yield to_json(item, indent=None)


def _text_queried(found: Any, view: View, items: Any) -> Iterator[str]:
    yield from _text_of(found)


def _table_queried(found: Any, view: View, items: Any) -> Iterator[str]:
    from .table import cell, columns_for, render_table

    if _is_records(found):
        # The result's own items (filtered, sorted, sliced) keep its curated columns; objects
        # the query made (`[].{name: tags.Name}`) are shown by their own keys.
        own = isinstance(items, list) and {id(i) for i in found} <= {id(i) for i in items}
        columns = view.columns_of(found) if own or view.chosen else columns_for(found, None)
        yield from render_table(found, columns, width=view.width, colour=view.colour)
    elif isinstance(found, Mapping):
        yield from (f"{key}: {cell(value, limit=None)}" for key, value in found.items())
    else:
        yield from (cell(item, limit=None) for item in _listed(found))


def _listed(found: Any) -> list[Any]:
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


def _text_of(found: Any) -> Iterator[str]:
    from .table import text_value

    # As the AWS CLI's text output: one line per list element, values tab-separated.
    for item in _listed(found):
        if isinstance(item, Mapping):
            yield "\t".join(text_value(v) for v in item.values())
        elif isinstance(item, list):
            yield "\t".join(text_value(v) for v in item)
        else:
            yield text_value(item)


def text_lines(data: Mapping[str, Any], view: View) -> Iterator[str]:
    """`--output text`: one tab-separated row per result item, no header."""
    from .table import rows_of, text_rows, text_value

    data = dict(data)
    items = data.pop(view.result, None) if view.result else None
    if isinstance(items, list):
        items = after_wait(items, data)
        yield from text_rows(rows_of(items, view.columns_of(items)))
    elif items is not None:
        yield from _text_of(items)
    else:
        for key, value in data.items():
            yield f"{key}\t{text_value(value)}"


def table_lines(envelope: Mapping[str, Any], view: View) -> Iterator[str]:
    """For a terminal: the result list as a table, other data as `key: value` lines.

    A failure's message is already on stderr: only data it carries is shown here.
    """
    from .table import columns_for, render_table

    ok = envelope.get("exitcode") == 0
    data = dict(envelope.get("data") or {})
    items = data.pop(view.result, None) if view.result else None
    report = fan_out_report(data)
    if isinstance(items, list):
        items = after_wait(items, data)
        if items:
            columns = view.columns_of(items)
            if report and not view.chosen:
                columns = [*_where_columns(items, columns), *columns]
            yield from render_table(items, columns, width=view.width, colour=view.colour)
        elif ok:
            yield "(none)"
    elif items is not None:
        data = {view.result: items, **data}
    single: dict[str, Any] = {}  # a record's fields, or other values: aligned together
    for key, value in data.items():
        if report and value is report:
            yield fan_out_summary(report)
        if not _is_records(value):
            single[key] = value
        elif not ok:  # per-item outcomes: worth a table when some failed
            yield from aligned(single)
            single.clear()
            yield f"{key}:"
            yield from render_table(value, columns_for(value, None), width=view.width,
                                    colour=view.colour)
    yield from aligned(single)
    message = str(envelope.get("message", ""))
    # "success" says something only when nothing else is shown ("(none)" already does).
    if ok and (message != SUCCESS_MESSAGE or not (isinstance(items, list) or data)):
        yield message
    if view.verbose:
        yield from _meta_lines(envelope.get("meta") or {})


def fan_out_report(data: Mapping[str, Any]) -> list[Any] | None:
    """A fan-out's `regions`: one record per call (region, connector, ok, count...)."""
    report = data.get("regions")
    if isinstance(report, list) and _is_records(report) and all(
            {"region", "ok", "exitcode"} <= set(r) for r in report):
        return report
    return None


def _where_columns(items: list[Any], columns: list[Column]) -> list[Column]:
    from .table import Column

    # Each item of a fan-out carries where it came from; the table says so first.
    shown = {c.path for c in columns}
    return [Column(key, key) for key in ("connector", "region")
            if key not in shown and any(isinstance(i, Mapping) and key in i for i in items)]


def fan_out_summary(report: list[Any]) -> str:
    """`2 of 3 regions answered, 5 items` (calls, with the connectors, when several)."""
    answered = [r for r in report if r.get("ok")]
    connectors = {r["connector"] for r in report if "connector" in r}
    if connectors:
        regions = len({r.get("region") for r in report})
        line = (f"{len(answered)} of {len(report)} calls answered ({regions} "
                f"region{'s' * (regions != 1)}, {len(connectors)} connectors)")
    else:
        line = f"{len(answered)} of {len(report)} region{'s' * (len(report) != 1)} answered"
    counts = [r.get("count") for r in answered]
    if counts and all(isinstance(c, int) for c in counts):
        line += f", {sum(counts)} item{'s' * (sum(counts) != 1)}"
    return line


def aligned(values: Mapping[str, Any]) -> list[str]:
    """`key: value` lines with the values in one column: text as it is, an object as an
    indented block of its own, other values as JSON, none as `-`; a value of several
    lines (key material) continues under its first."""
    width = max((len(str(key)) for key in values), default=0) + 2
    lines = []
    for key, value in values.items():
        if isinstance(value, Mapping) and value:  # a record in the record: its own block
            lines.append(f"{key}:")
            lines.extend("  " + line for line in aligned(value))
            continue
        text = value if isinstance(value, str) else "-" if value is None else json.dumps(
            value, separators=(", ", ": "), default=str)
        first, *rest = text.splitlines() or [""]
        lines.append(f"{str(key) + ':':<{width}}{first}".rstrip())
        lines.extend(" " * width + more for more in rest)
    return lines


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _meta_lines(meta: Mapping[str, Any]) -> Iterator[str]:
    from .table import cell

    yield "meta:"
    for key, value in meta.items():
        if isinstance(value, Mapping):
            yield f"  {key}:"
            yield from (f"    {k}: {v}" for k, v in value.items())
        else:
            yield f"  {key}: {cell(value, limit=None)}"


def after_wait(items: list[Any], data: dict[str, Any]) -> list[Any]:
    """The result items with the state a wait reached, not the one the call answered.

    A state change answers `stopping`; after `wait` the data's `last-states` holds what
    each instance reached. That is the state to show: it replaces the item's, and the
    `last-states` line is then not shown again.
    """
    states = data.get("last-states")
    if not isinstance(states, Mapping) or not _is_records(items):
        return items
    keys = [k for k in _STATE_KEYS if k in items[0]]
    if not keys or not all(item.get("instance-id") in states for item in items):
        return items
    data.pop("last-states")
    return [{**item, keys[0]: states[item["instance-id"]]} for item in items]


_STATE_KEYS = ("current-state", "instance-state-name")

class LineSink:
    """Prints each streamed result item as one JSON line, as soon as it arrives.

    Items come from the call's I/O thread. Once closed it prints nothing more: a call
    abandoned at its deadline must not add lines after the final envelope.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._open = True
        self.reader_gone = False  # the pipe closed (`| head`): the rest is dropped

    def __call__(self, item: Mapping[str, Any]) -> None:
        with self._lock:
            if self._open:
                try:
                    self._stream.write(to_json(item, indent=None) + "\n")
                    self._stream.flush()
                except BrokenPipeError:
                    # Raising would fail the call on its I/O thread; the command leaves
                    # quietly instead once the call is over.
                    self._open, self.reader_gone = False, True

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
        return f"described {event.get('items') or 0} so far..."  # None: nothing found yet
    return None


Whole = Callable[[Mapping[str, Any], View], Iterable[str]]
Queried = Callable[[Any, View, Any], Iterable[str]]
# The output formats, chosen here only: name -> (the lines of a whole envelope, the lines
# of what --query found). A new format is one entry (and its name in options.OUTPUTS).
FORMATS: dict[str, tuple[Whole, Queried]] = {
    "json": (lambda shown, view: [to_json(shown)], _json_queried),
    "table": (table_lines, _table_queried),
    "text": (lambda shown, view: text_lines(shown.get("data") or {}, view), _text_queried),
    "ndjson": (lambda shown, view: ndjson_lines(shown, view.result), _ndjson_queried),
}
