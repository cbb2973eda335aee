"""A listing's page parsed as it is read: each item converted, its elements dropped.

A 1,000-instance DescribeInstances page is ~4 MB of XML and its ElementTree several
times that, alive until the last element is read. When the runner collects a listing
(`sync()`, `on_item`, the CLI's `--output ndjson`), it names the list it reads
(`Reservations[].Instances[]`) with `items_of`, and the compiled parser feeds a big body
(from STREAM_FROM_BYTES) in chunks to an incremental parser instead: after each chunk,
every finished element of those lists is converted by the compiled function of its
structure and cut from the tree. What is held is then the page's records, not their
tree.

The answer is the one the whole tree gives, built by the same functions: an item is
converted as a list's function would convert it, then its parent with that list left
empty, and the records put back in its place. Whatever the functions refuse (a repeated
element, a value they cannot convert, broken XML) raises, and the parser hands the whole
body to botocore, as for a page parsed whole.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from xml.etree.ElementTree import Element, TreeBuilder, XMLParser, XMLPullParser

Fn = Callable[[Any], dict[str, Any]]
CHUNK = 64 * 1024  # ~15 instances: the tree never holds more than a chunk's worth
# Bodies from this size on are streamed; smaller ones are parsed whole. Measured per
# describe call (CPU): streaming cost 12 % more at 50 instances (200 KB), 10 % at 250
# (1 MB), 2 % at 500 (2 MB), and saved 5 % at 1,000 (4 MB), where it also keeps ~15 MiB
# of tree from being held at once; below this size the whole tree is at most ~12 MiB.
STREAM_FROM_BYTES = 2 * 1024 * 1024
# A listing path the stream can follow: members that are lists, each projected (`[]`).
_PATH = r"[A-Za-z0-9]+(\[\]\.[A-Za-z0-9]+)*(\[\])?"

_wanted = threading.local()


def path_of(items: str) -> tuple[str, ...] | None:
    """The members an action's `items` path walks (`Reservations[].Instances[]` ->
    `("Reservations", "Instances")`), or None for a path the stream cannot follow."""
    if re.fullmatch(_PATH, items) is None:
        return None
    return tuple(part.removesuffix("[]") for part in items.split("."))


@contextmanager
def items_of(path: tuple[str, ...] | None, chunk: int = CHUNK,
             from_bytes: int = STREAM_FROM_BYTES) -> Iterator[None]:
    """Pages of at least `from_bytes` parsed on this thread inside the block are streamed
    along `path` (if their output shape has it), fed `chunk` bytes at a time; None, or a
    smaller page: parsed whole, as always."""
    before = (getattr(_wanted, "path", None), getattr(_wanted, "chunk", CHUNK),
              getattr(_wanted, "from_bytes", STREAM_FROM_BYTES))
    _wanted.path, _wanted.chunk, _wanted.from_bytes = path, chunk, from_bytes
    try:
        yield
    finally:
        _wanted.path, _wanted.chunk, _wanted.from_bytes = before


# Level, Plan and _Open are plain records rather than dataclasses: this module is
# imported with the parser by every command, and making three dataclasses cost ~0.7 ms
# of a one-shot call's start-up, for streams that only `--output ndjson` asks for.
class Level(NamedTuple):
    """One list along the path: the member's key in the answer, its element's local
    name, and the shape name of its items."""

    member: str
    tag: str
    item: str


_plans: dict[tuple[int, tuple[str, ...]], tuple[Any, list[Level] | None]] = {}


class Plan(NamedTuple):
    """How to stream an answer: its lists, outermost first, and the bytes per feed."""

    levels: list[Level]
    chunk: int


def wanted(shape: Any, size: int) -> Plan | None:
    """How to stream `shape`'s answer of `size` bytes, if this thread asked for a stream,
    the body is big enough, and the shape has that path of non-flattened lists of
    structures."""
    path = getattr(_wanted, "path", None)
    if path is None or size < _wanted.from_bytes:
        return None
    key = (id(shape), path)
    known = _plans.get(key)
    if known is not None and known[0] is shape:
        levels = known[1]
    else:
        levels = _levels(shape, path)
        if len(_plans) < 1024:  # a handful of operations; bounded all the same
            _plans[key] = (shape, levels)
    return Plan(levels, _wanted.chunk) if levels else None


def _levels(shape: Any, path: tuple[str, ...]) -> list[Level] | None:
    levels = []
    for member in path:
        if shape.type_name != "structure" or member not in shape.members:
            return None
        listed = shape.members[member]
        if listed.type_name != "list" or flattened(listed) or \
                listed.member.type_name != "structure":
            return None
        levels.append(Level(member, member_key_name(listed, member), listed.member.name))
        shape = listed.member
    return levels


def flattened(shape: Any) -> bool:
    return shape.type_name in ("list", "map") and bool(shape.serialization.get("flattened"))


def member_key_name(shape: Any, member: str) -> str:
    """The element name botocore looks a member up by (`_member_key_name`)."""
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        name = shape.member.serialization.get("name")
        if name is not None:
            return str(name)
    return str(shape.serialization.get("name", member))


class _Open:
    """A list element being read, and the records of its finished items."""

    __slots__ = ("element", "records")

    def __init__(self) -> None:
        self.element: Element | None = None
        self.records: list[dict[str, Any]] = []


class _Stream:
    def __init__(self, levels: list[Level], functions: dict[str, Fn],
                 local: Callable[[str], str]) -> None:
        self.levels, self.local = levels, local
        self.convert = [functions[level.item] for level in levels]
        self.open = [_Open() for _ in levels]

    def advance(self, depth: int, parent: Element, final: bool) -> None:
        """Convert and cut the finished items of level `depth`'s list inside `parent`
        (all of them if `final`: the parent is finished), then read into the last."""
        state = self.open[depth]
        if state.element is None:
            tag = self.levels[depth].tag
            state.element = next((c for c in parent if self.local(c.tag) == tag), None)
            if state.element is None:
                return
        listed = state.element
        done = len(listed) if final else len(listed) - 1
        for index in range(done):
            state.records.append(self.finish(depth, listed[index]))
        del listed[:done]
        if not final and depth + 1 < len(self.levels) and len(listed):
            self.advance(depth + 1, listed[0], False)

    def finish(self, depth: int, item: Element) -> dict[str, Any]:
        """A finished item's record, with its own streamed list put back in place."""
        deeper = depth + 1 < len(self.levels)
        if deeper:
            self.advance(depth + 1, item, True)
        record = self.convert[depth](item)
        if deeper:
            self.put_back(depth + 1, record)
        return record

    def put_back(self, depth: int, record: dict[str, Any]) -> None:
        state = self.open[depth]
        if state.element is not None:
            member = self.levels[depth].member
            if record.get(member) != []:  # the emptied element gives []: else not ours
                raise ValueError("a streamed list is not where its records go")
            record[member] = state.records
        self.open[depth] = _Open()


def parse(body: bytes, encoding: str, plan: Plan, functions: dict[str, Fn], top: Fn,
          local: Callable[[str], str]) -> tuple[Element, dict[str, Any]]:
    """The body's root element (its streamed lists emptied) and the answer, as the root
    structure's function `top` gives it for the whole tree; raises where it would.
    `local`: an element tag's local name."""
    parser = XMLPullParser(events=("start",),
                           _parser=XMLParser(target=TreeBuilder(), encoding=encoding))
    stream = _Stream(plan.levels, functions, local)
    view = memoryview(body)
    root: Element | None = None
    for start in range(0, len(body), plan.chunk):
        parser.feed(view[start:start + plan.chunk])
        events: Iterator[Any] = parser.read_events()
        for _, element in events:  # drained: the queue must not grow with the body
            if root is None:
                root = element
        if root is not None:
            stream.advance(0, root, False)
    parser.close()
    if root is None:
        raise ValueError("no root element")
    stream.advance(0, root, True)
    parsed = top(root)
    stream.put_back(0, parsed)
    return root, parsed
