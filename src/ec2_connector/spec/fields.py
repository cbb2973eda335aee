"""Result fields: our hyphenated keys, each read from EC2's output by a JMESPath path.

A field is a path string (`"State.Name"`, `"SecurityGroups[].GroupId"`) or a `Field`
with a conversion of the value found, or `each=` fields for the items of a list.
JMESPath is the language botocore's own waiters use over the same output; paths that are
plain dotted names (most of them) are read by a direct dict walk, with the same result,
because a big listing evaluates every field of every item.

Two rules hold for every field, so declarations do not repeat them: a timestamp becomes
its ISO 8601 text, and a path that projects a list (`[]`) gives `[]` when the member is
absent, as EC2 omits empty lists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

Getter = Callable[[Any], Any]


class Field(NamedTuple):
    """A field with a conversion of the value found, or nested fields for each list item.
    (Field, `spec.action.In` and `spec.params.Group` are named tuples: as dataclasses they
    cost every command ~1 ms at import.)"""

    path: str
    convert: Callable[[Any], Any] | None = None
    each: Fields | None = None


Fields = Mapping[str, str | Field]


@functools.cache
def getter(path: str) -> Getter:
    """A function reading `path` from a document (a dict walk when the path allows)."""
    if _is_dotted(path):
        names = path.split(".")
        if len(names) == 1:
            name = names[0]
            return lambda doc: doc.get(name) if isinstance(doc, dict) else None
        return lambda doc: _walk(doc, names)
    import jmespath

    compiled = jmespath.compile(path)
    projects = any(mark in path for mark in ("[]", "[*", "[?"))
    return lambda doc: _or_empty(compiled.search(doc), projects)


def mapper(fields: Fields) -> Callable[[Any], dict[str, Any]]:
    """A function from one EC2 item to our dict of `fields` (compiled on first use, so
    importing the declarations costs nothing)."""
    compiled: list[tuple[str, Getter]] | None = None

    def apply(item: Any) -> dict[str, Any]:
        nonlocal compiled
        plan = compiled
        if plan is None:  # two threads may both compile: the same plan, harmlessly
            plan = compiled = [(key, _field_getter(spec)) for key, spec in fields.items()]
        return {key: get(item) for key, get in plan}

    return apply


def _field_getter(spec: str | Field) -> Getter:
    if isinstance(spec, str):
        return _plain_getter(spec)
    get = getter(spec.path)
    if spec.each is not None:
        each = mapper(spec.each)
        return lambda doc: [each(x) for x in get(doc) or []]
    convert = spec.convert
    if convert is None:
        return _plain_getter(spec.path)
    return lambda doc: convert(get(doc))


def _plain_getter(path: str) -> Getter:
    # The hot path of a big listing: one closure per field, no further calls.
    if not _is_dotted(path):
        get = getter(path)
        return lambda doc: _plain(get(doc))
    names = path.split(".")
    if len(names) == 1:
        name = names[0]

        def one(doc: Any) -> Any:
            value = doc.get(name)
            return value.isoformat() if isinstance(value, datetime) else value

        return one
    outer, last = names[:-1], names[-1]

    def nested(doc: Any) -> Any:
        for name in outer:
            doc = doc.get(name)
            if not isinstance(doc, dict):
                return None
        value = doc.get(last)
        return value.isoformat() if isinstance(value, datetime) else value

    return nested


def _is_dotted(path: str) -> bool:
    return all(part.isidentifier() for part in path.split("."))


def _walk(doc: Any, names: list[str]) -> Any:
    for name in names:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(name)
    return doc


def _or_empty(value: Any, projects: bool) -> Any:
    return [] if value is None and projects else value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list) and value and isinstance(value[0], datetime):
        return [v.isoformat() for v in value]
    return value


def tags_dict(tags: Any) -> dict[str, str]:
    """EC2's `[{"Key": k, "Value": v}]` as `{k: v}`."""
    return {t["Key"]: t.get("Value", "") for t in tags or []}


TAGS = Field("Tags", tags_dict)
