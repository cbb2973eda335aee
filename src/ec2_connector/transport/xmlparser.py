"""EC2 responses parsed by functions compiled from botocore's model, with botocore's output.

botocore's `EC2QueryParser` walks the ElementTree of a response against the output shape
in pure Python, node by node, asking the model at every step (its serialization dicts,
its member names, a regex per tag). Most of a big DescribeInstances page's time goes
there and to dateutil. Here, each output shape gets Python source generated once from the
model (one function per structure, list and map it reaches), compiled and cached
process-wide by that source (and on disk, for the next process), and walked over the same
C ElementTree tree.

The result is botocore's, `==` and `repr` alike: the same dict keys in the same order,
the same scalar conversions, and timestamps in botocore's own form (dateutil's zone).
Only the success path is replaced: errors, metadata and headers stay botocore's, except
that a server error whose body is not EC2's XML is a generic error (`EC2Parser`).
Anything the compiled functions do not model the way botocore does (a repeated element
where one is expected, a value a conversion rejects, a shape with traits EC2 never uses)
sends the whole body to botocore's parser, which gives its own answer or its own error.

The cyclic GC is paused while a big body is parsed (gcpause.py): a big tree is millions
of young container objects, and each collection would walk them again as they are built.
"""

from __future__ import annotations

import base64
import hashlib
import marshal
import re
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from importlib.util import MAGIC_NUMBER
from types import CodeType
from typing import Any
from xml.etree.ElementTree import XMLParser

from botocore import parsers
from botocore.model import Shape
from dateutil.tz import tzlocal, tzutc

from . import xmlstream
from .gcpause import PAUSE_GC_FROM_BYTES, pause_gc, resume_gc
from .xmlstream import flattened as _flattened
from .xmlstream import member_key_name as _member_key_name

PROTOCOL = "ec2"
Fn = Callable[[Any], dict[str, Any]]

_TZUTC = tzutc()
# EC2's own timestamp form: dateutil reads it as this datetime, in the zone `_utc_zone`
# names.
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
_SCALARS = {
    "string": "({v}.text or '')",
    "character": "({v}.text or '')",
    "boolean": "({v}.text == 'true')",
    "integer": "_int({v}.text)",
    "long": "_int({v}.text)",
    "float": "_float({v}.text)",
    "double": "_float({v}.text)",
    "timestamp": "_ts({v}.text or '')",
    "blob": "_blob({v}.text or '')",
}
# Traits botocore's XML parser treats specially that no EC2 output shape has: such a
# shape is left to botocore whole.
_UNSUPPORTED = ("xmlAttribute", "location", "eventheader", "eventstream", "resultWrapper")


class Unsupported(Exception):
    """A shape or body the compiled functions do not model: botocore parses it."""


def fast_timestamp(value: str) -> datetime:
    """botocore's default timestamp parsing, with EC2's ISO 8601 form read directly.

    `2024-01-15T08:30:00.000Z` gives the datetime dateutil gives; any other form, or a
    local zone whose answer is not known here, goes to botocore's parser itself.
    """
    zone = _utc_zone()
    if zone is not None:
        known = _seen.get(value)
        if known is not None:
            return known
        if _ISO.fullmatch(value) is not None:
            try:
                parsed = datetime.fromisoformat(value[:-1]).replace(tzinfo=zone)
            except ValueError:
                pass  # hour 24, February 30th: botocore's words for it
            else:
                if len(_seen) >= SEEN_LIMIT:
                    _seen.clear()
                _seen[value] = parsed
                return parsed
    return parsers.DEFAULT_TIMESTAMP_PARSER(value)


_zone: tuple[Any, Any] = (None, None)
# Timestamps already read in the current zone: a launch or attach time comes back in
# every describe of its instance (a datetime is immutable, so one serves them all).
_seen: dict[str, datetime] = {}
SEEN_LIMIT = 4096


def _utc_zone() -> Any:
    """The tzinfo dateutil gives a `Z` time in this process's local zone, or None.

    dateutil reads `Z` as the zone named UTC, and a zone named like one of the local
    zone's names as `tzlocal()`: on a host whose zone is UTC that is what botocore
    returns; elsewhere `tzutc()`. A zone with UTC as only one of its names is left to it.
    """
    global _zone
    key = (time.tzname, time.timezone, time.daylight)
    if _zone[0] != key:
        if "UTC" not in time.tzname:
            zone = _TZUTC
        elif time.tzname == ("UTC", "UTC") and time.timezone == 0 and not time.daylight:
            zone = tzlocal()
        else:
            zone = None
        _seen.clear()
        _zone = (key, zone)
    return _zone[1]


class _Tags:
    """Element tag -> local name (botocore strips the namespace with a regex per node)."""

    LIMIT = 4096  # a garbage body cannot grow it without bound

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def local(self, tag: str) -> str:
        name = self.names.get(tag)
        if name is None:
            name = re.sub("{.*}", "", tag)
            if len(self.names) < self.LIMIT:
                self.names[tag] = name
        return name


_TAGS = _Tags()


def _learn(tags: dict[str, int], names: dict[str, int], tag: str) -> int:
    """The member slot of an element tag not seen before in this structure (-1: none)."""
    index = names.get(_TAGS.local(tag), -1)
    if len(tags) < _Tags.LIMIT:
        tags[tag] = index
    return index


class _Generator:
    """Python source for the functions parsing one output shape and what it reaches."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, str] = {}  # shape name -> function name

    def function(self, shape: Shape) -> str:
        name = self.names.get(shape.name)
        if name is not None:
            return name
        name = self.names[shape.name] = f"_p{len(self.names)}"
        kind = shape.type_name
        if kind == "structure":
            self._structure(name, shape)
        elif kind == "list":
            self._list(name, shape)
        elif kind == "map":
            self._map(name, shape)
        else:
            raise Unsupported(f"no function for a {kind}")
        return name

    def value(self, shape: Shape, var: str) -> str:
        """An expression converting the element `var` as botocore converts it."""
        _check(shape)
        scalar = _SCALARS.get(shape.type_name)
        if scalar is not None:
            return scalar.format(v=var)
        return f"{self.function(shape)}({var})"

    def _structure(self, name: str, shape: Any) -> None:
        if shape.metadata.get("exception") or shape.is_tagged_union or \
                shape.is_document_type:
            raise Unsupported("exception, union or document shape")
        members = list(shape.members.items())
        slots: dict[str, int] = {}
        flat: list[int] = []
        for index, (member, member_shape) in enumerate(members):
            _check(member_shape)
            key = _member_key_name(member_shape, member)
            if key in slots:
                raise Unsupported("two members under one element name")
            slots[key] = index
            if _flattened(member_shape):
                flat.append(index)
        # Looked up by the element's tag as it comes (namespace and all), learnt on
        # first sight from its local name: one dict look-up per element.
        # The source holds everything the function depends on (it is the cache's key).
        body = [f"{name}_names = {slots!r}",
                f"{name}_tags = dict({name}_names)",
                f"{name}_flat = frozenset({flat!r})",
                f"def {name}(node):",
                f"    s = [None] * {len(members)}",
                f"    get = {name}_tags.get",
                "    for c in node:",
                "        i = get(c.tag)",
                "        if i is None:",
                f"            i = _learn({name}_tags, {name}_names, c.tag)",
                "        if i < 0:",
                "            continue",
                "        if s[i] is None:"]
        if flat:
            body += [f"            s[i] = [c] if i in {name}_flat else c",
                     f"        elif i in {name}_flat:",
                     "            s[i].append(c)"]
        else:
            body += ["            s[i] = c"]
        body += ["        else:",
                 "            raise _Unsupported('a repeated element')",
                 "    r = {}"]
        for index, (member, member_shape) in enumerate(members):
            body.append(f"    c = s[{index}]")
            body.append("    if c is not None:")
            # A flattened member's slot holds its repeated elements, walked as a
            # wrapper element's children are.
            body.append(f"        r[{member!r}] = {self.value(member_shape, 'c')}")
        body.append("    return r")
        self.lines += body

    def _list(self, name: str, shape: Any) -> None:
        # botocore parses every child of a list's element, whatever its tag.
        item = self.value(shape.member, "x")
        self.lines += [f"def {name}(node):",
                       f"    return [{item} for x in node]"]

    def _map(self, name: str, shape: Any) -> None:
        key_name = shape.key.serialization.get("name") or "key"
        value_name = shape.value.serialization.get("name") or "value"
        key, value = self.value(shape.key, "p"), self.value(shape.value, "p")
        self.lines += [f"def {name}(node):",
                       "    r = {}",
                       "    for e in node:",
                       "        k = v = _missing",
                       "        for p in e:",
                       "            t = _local(p.tag)",
                       f"            if t == {key_name!r}:",
                       f"                k = {key}",
                       f"            elif t == {value_name!r}:",
                       f"                v = {value}",
                       "            else:",
                       "                raise _Unsupported('an unknown tag in a map')",
                       "        if k is _missing or v is _missing:",
                       "            raise _Unsupported('a map entry without its key or value')",
                       "        r[k] = v",
                       "    return r"]


def _check(shape: Any) -> None:
    for trait in _UNSUPPORTED:
        if trait in shape.serialization:
            raise Unsupported(f"the {trait} trait")


_compiled: dict[tuple[str, Any, Any], dict[str, Fn]] = {}  # by function name
_compile_lock = threading.Lock()


def compile_shape(shape: Shape, timestamp: Any, blob: Any) -> Fn:
    """The function parsing a response's root element into `shape`'s dict.

    Cached process-wide by the generated source (a trimmed model and the full one give
    the same source for the same shape) and the scalar parsers it calls.
    """
    return compile_functions(shape, timestamp, blob)[shape.name]


def compile_functions(shape: Shape, timestamp: Any, blob: Any) -> dict[str, Fn]:
    """The functions for `shape` and every structure, list and map it reaches, by shape
    name (a streamed page converts its items with their own structure's function)."""
    generator = _Generator()
    generator.function(shape)
    source = "\n".join(generator.lines)
    key = (source, timestamp, blob)
    found = _compiled.get(key)
    if found is None:
        with _compile_lock:
            found = _compiled.get(key)
            if found is None:
                namespace: dict[str, Any] = {
                    "_local": _TAGS.local, "_learn": _learn, "_int": int, "_float": float,
                    "_ts": timestamp, "_blob": blob, "_Unsupported": Unsupported,
                    "_missing": object(),
                }
                exec(code_for(source, shape.name), namespace)
                found = _compiled[key] = {fn: namespace[fn]
                                          for fn in generator.names.values()}
    # Shapes of other names can give the same source: its functions, by this one's names.
    return {name: found[fn] for name, fn in generator.names.items()}


_by_shape: weakref.WeakKeyDictionary[Shape, dict[tuple[Any, Any], dict[str, Fn] | None]] = \
    weakref.WeakKeyDictionary()


def code_for(source: str, name: str) -> CodeType:
    """`source` compiled, or read back as an earlier process compiled it.

    Compiling DescribeInstances' functions takes ~20-40 ms, as much as a one-shot
    command's parse saves; reading the code back takes under 1 ms. Cached next to the
    trimmed model, by the source and the interpreter's bytecode version; any failure
    just compiles again.
    """
    from . import model

    digest = hashlib.sha256(MAGIC_NUMBER + source.encode()).hexdigest()
    path = model.cache_dir().parent / "parsers" / f"{digest}.code"
    try:
        code = marshal.loads(path.read_bytes())
        if isinstance(code, CodeType):
            return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = compile(source, f"<ec2 parser {name}>", "exec")
    with suppress(OSError):
        model.write_atomically(path, marshal.dumps(code))
    return code


class EC2Parser(parsers.EC2QueryParser):
    """botocore's EC2 parser, taking a server error that is not EC2's XML as generic.

    botocore does so only for a 5xx body starting `<html>`: a proxy's or load balancer's
    page starting `<!doctype html>`, or plain text, failed as unparseable XML, an error
    its retries never see. As a generic error (its code the HTTP status) it is retried
    like any transient 5xx, and reported with its status if it lasts.
    """

    def _is_generic_error_response(self, response: dict[str, Any]) -> bool:
        if response["status_code"] < 500:
            return False
        start = (response.get("body") or b"").lstrip()[:9].lower()
        return not start.startswith(b"<") or start.startswith((b"<html", b"<!doctype"))

    def _do_error_parse(self, response: dict[str, Any], shape: Shape | None) -> Any:
        try:
            return super()._do_error_parse(response, shape)  # type: ignore[misc]
        except parsers.ResponseParserError:
            if response["status_code"] < 500:
                raise
            return self._do_generic_error_parse(response)  # type: ignore[attr-defined]


class CompiledEC2Parser(EC2Parser):
    """botocore's EC2 parser with the success path compiled from the model."""

    def __init__(self, timestamp_parser: Any = None, blob_parser: Any = None) -> None:
        super().__init__(timestamp_parser, blob_parser)
        # What botocore's own parser would call, given the same arguments.
        configured = getattr(self, "_timestamp_parser", None)
        self._fast_ts = fast_timestamp if configured is parsers.DEFAULT_TIMESTAMP_PARSER \
            else configured
        blob = getattr(self, "_blob_parser", None)
        default = getattr(blob, "__func__", None) is getattr(
            parsers.ResponseParser, "_default_blob_parser", None)
        self._blob = base64.b64decode if default else blob  # what the default one calls
        # The last shape's function: a client's parser (one per factory) mostly sees the
        # same few shapes, and this skips the weak-keyed look-up of `functions`.
        self._last: tuple[Shape | None, Fn | None] = (None, None)

    def _do_parse(self, response: dict[str, Any], shape: Shape | None) -> dict[str, Any]:
        body = response["body"]
        # A small answer makes too few objects for a GC pass to matter: no pause.
        paused = len(body) >= PAUSE_GC_FROM_BYTES
        if paused:
            pause_gc()  # not the context manager: this is on every call's path
        try:
            fn = self.compiled(shape) if shape is not None else None
            if fn is not None:
                try:
                    return self.parse_with(fn, body, shape)
                except Exception:
                    pass  # botocore gives its own answer, or its own error
            return super()._do_parse(response, shape)  # type: ignore[misc,no-any-return]
        finally:
            if paused:
                resume_gc()

    def compiled(self, shape: Shape) -> Fn | None:
        """The compiled function for `shape`, built on first use; None: botocore's."""
        last, fn = self._last
        if last is shape:
            return fn
        functions = self.functions(shape)
        fn = functions[shape.name] if functions is not None else None
        self._last = (shape, fn)  # one tuple, swapped whole: safe with threads
        return fn

    def functions(self, shape: Shape) -> dict[str, Fn] | None:
        """`shape`'s compiled functions by shape name, built on first use; None: none."""
        # botocore makes a parser per response: the functions are kept per shape object
        # (one per client's model) for as long as that model lives.
        known = _by_shape.get(shape)
        key = (self._fast_ts, self._blob)
        if known is not None and key in known:
            return known[key]
        try:
            found: dict[str, Fn] | None = compile_functions(shape, self._fast_ts, self._blob)
        except Unsupported:
            found = None
        _by_shape.setdefault(shape, {})[key] = found
        return found

    def parse_with(self, fn: Fn, body: bytes, shape: Shape | None = None) -> dict[str, Any]:
        """A success body parsed by `fn`, with the request id botocore adds; raises on
        anything `fn` does not model as botocore does. Streamed (xmlstream.py) when the
        thread asked for its listing's items that way, `shape` has them and the body is
        big enough to gain from it."""
        plan = xmlstream.wanted(shape, len(body)) if shape is not None else None
        functions = self.functions(shape) if plan is not None and shape is not None else None
        if plan is not None and functions is not None:
            root, parsed = xmlstream.parse(body, self.DEFAULT_ENCODING, plan, functions, fn,
                                           _TAGS.local)
        else:
            # botocore's XMLParser(target=TreeBuilder(), ...): the C TreeBuilder is the
            # default target, without a Python-level one to make.
            parser = XMLParser(encoding=self.DEFAULT_ENCODING)
            parser.feed(body)
            root = parser.close()
            parsed = fn(root)
        request_id = None
        for child in root:
            if _TAGS.local(child.tag) == "requestId":
                if request_id is not None:
                    raise Unsupported("two request ids")
                request_id = child
        if request_id is not None:
            parsed["ResponseMetadata"] = {"RequestId": request_id.text}
        return parsed


class EC2ParserFactory(parsers.ResponseParserFactory):
    """botocore's factory, giving our parser for the EC2 protocol.

    botocore asks its factory for a new parser for every response; a parser keeps no
    state of its own between parses (botocore's neither), so the EC2 one is made once
    per factory and its defaults, and shared by the client's threads.
    """

    parser_class: type[EC2Parser] = EC2Parser

    def __init__(self) -> None:
        super().__init__()
        self._ec2: EC2Parser | None = None

    def set_parser_defaults(self, **kwargs: Any) -> None:
        super().set_parser_defaults(**kwargs)
        self._ec2 = None  # made again, with them

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == PROTOCOL:
            parser = self._ec2
            if parser is None:
                parser = self._ec2 = self.parser_class(**getattr(self, "_defaults", {}))
            return parser
        return super().create_parser(protocol_name)


class CompiledParserFactory(EC2ParserFactory):
    """The factory giving the compiled parser for the EC2 protocol."""

    parser_class = CompiledEC2Parser


def install(session: Any, compiled: bool = True, **defaults: Any) -> None:
    """Make every client `session` creates from now on parse EC2 responses with our
    parser: compiled, or botocore's success path (`compiled=False`)."""
    factory = CompiledParserFactory() if compiled else EC2ParserFactory()
    if defaults:
        factory.set_parser_defaults(**defaults)
    session.register_component("response_parser_factory", factory)
