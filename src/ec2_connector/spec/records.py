"""`record`: a dataclass whose methods are not compiled when its class is made.

`dataclasses.dataclass` writes `__init__`, `__repr__`, `__eq__` (and, frozen,
`__setattr__`, `__delattr__`, `__hash__`) as source text and compiles each with `exec`
when the class statement runs: 0.2-1.7 ms a class, ~7 ms of the records a one-shot
`ec2-connector call` imports (a twentieth of its own time). A `record` is made by
`dataclass` itself with those methods turned off (so `fields`, `replace`, `asdict` and
every type checker treat it as the dataclass it declares), then given generic methods
that read its fields: the same behaviour, errors included (tests/test_records.py checks
it against `dataclass` field for field), at no cost when the class is made and about a
microsecond more when an instance is.

A record made on every call (a request, its target) writes its `__init__` out, as
dataclass would have made it: the generic one costs ~1 us more an instance, and a short
call's overhead is benchmarked to 2 %. `record` checks that such an `__init__` takes
exactly the record's fields, in order. (A job's record, made and read thousands of
times a second by the store, stays a `dataclass`.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, FrozenInstanceError
from operator import attrgetter
from typing import TYPE_CHECKING, Any, TypeVar, dataclass_transform

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["record"]

T = TypeVar("T")
_REQUIRED: Any = object()  # a field without a default, not given
_FACTORY: Any = object()  # a field whose default_factory is still to be called


@dataclass_transform(field_specifiers=(dataclasses.field,))
def record(*, frozen: bool = False, kw_only: bool = False) -> Callable[[type[T]], type[T]]:
    """`@dataclass(frozen=..., kw_only=...)` without compiling its methods."""

    def make(cls: type[T]) -> type[T]:
        dataclasses.dataclass(cls, init=False, repr=False, eq=False, kw_only=kw_only)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        own = cls.__dict__
        methods: dict[str, Any] = {}
        if "__init__" in own:
            _check_init(cls, own["__init__"], fields)
        else:
            methods["__init__"] = _init(cls, fields)
        if "__repr__" not in own:
            methods["__repr__"] = _repr([f.name for f in fields if f.repr])
        if "__eq__" not in own:
            methods["__eq__"] = _eq(tuple(f.name for f in fields if f.compare))
            if own.get("__hash__") is None:  # as dataclass: hashable only when frozen
                hashed = tuple(f.name for f in fields
                               if (f.compare if f.hash is None else f.hash))
                methods["__hash__"] = _hash(hashed) if frozen else None
        if frozen:
            names = frozenset(f.name for f in fields)
            methods["__setattr__"] = _frozen_setattr(cls, names)
            methods["__delattr__"] = _frozen_delattr(cls, names)
        for name, method in methods.items():
            if callable(method):
                method.__qualname__ = f"{cls.__qualname__}.{name}"
            setattr(cls, name, method)
        return cls

    return make


def _check_init(cls: type, init: Any, fields: tuple[dataclasses.Field[Any], ...]) -> None:
    """A record's own `__init__` takes its fields (those dataclass's would), in order."""
    code = init.__code__
    taken = list(code.co_varnames[1:code.co_argcount + code.co_kwonlyargcount])
    wanted = [f.name for f in fields if f.init]
    if taken != wanted:
        raise TypeError(f"{cls.__qualname__}.__init__ takes {taken}: a record's own "
                        f"__init__ must take its fields, {wanted}")


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """A generic `__init__`: positional fields in order, then keywords; defaults and
    factories for the rest; `__post_init__` last, as dataclass's."""
    name = cls.__qualname__
    init = [f for f in fields if f.init]
    positional = tuple(f.name for f in init if not f.kw_only)
    optional = sum(1 for f in init if not f.kw_only and _has_default(f))
    accepted = frozenset(f.name for f in init)
    keyword_only = frozenset(f.name for f in init if f.kw_only)
    # Field order, so the instance's __dict__ is laid out as dataclass's; an init=False
    # field without a default is left unset, as there.
    template = {f.name: _initial(f) for f in fields if f.init or _has_default(f)}
    size = len(template)
    # Unknown keywords show as a longer dict, unless a field takes no argument (init=False).
    check_names = len(accepted) != size
    required = tuple(k for k, v in template.items() if v is _REQUIRED)
    factories = tuple((f.name, f.default_factory) for f in fields
                      if f.default_factory is not MISSING)
    post_init = hasattr(cls, "__post_init__")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        values = template.copy()
        if args:
            _positional(name, positional, optional, args, kwargs, values)
        if kwargs:
            values.update(kwargs)
            if len(values) != size or (check_names and not accepted.issuperset(kwargs)):
                _unexpected(name, kwargs, accepted)
        if factories:
            for field_name, factory in factories:
                if values[field_name] is _FACTORY:
                    values[field_name] = factory()
        for field_name in required:
            if values[field_name] is _REQUIRED:
                _missing(name, values, keyword_only)
        self.__dict__.update(values)
        if post_init:
            self.__post_init__()

    return __init__


def _unexpected(name: str, kwargs: dict[str, Any], accepted: frozenset[str]) -> None:
    unknown = next(k for k in kwargs if k not in accepted)
    raise TypeError(f"{name}.__init__() got an unexpected keyword argument '{unknown}'")


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING


def _initial(f: dataclasses.Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    return _FACTORY if f.default_factory is not MISSING else _REQUIRED


def _positional(name: str, positional: tuple[str, ...], optional: int, args: tuple[Any, ...],
                kwargs: dict[str, Any], values: dict[str, Any]) -> None:
    if len(args) > len(positional):
        most = len(positional) + 1  # as Python counts them: self too
        takes = f"from {most - optional} to {most}" if optional else str(most)
        raise TypeError(f"{name}.__init__() takes {takes} positional argument"
                        f"{'' if most == 1 and not optional else 's'} but "
                        f"{len(args) + 1} were given")
    for field_name, value in zip(positional, args, strict=False):
        if field_name in kwargs:
            raise TypeError(f"{name}.__init__() got multiple values for argument "
                            f"'{field_name}'")
        values[field_name] = value


def _missing(name: str, values: dict[str, Any], keyword_only: frozenset[str]) -> None:
    """Python's own error for missing arguments: positional ones first."""
    absent = [k for k, v in values.items() if v is _REQUIRED and k not in keyword_only]
    kind = "positional"
    if not absent:
        absent = [k for k, v in values.items() if v is _REQUIRED]
        kind = "keyword-only"
    quoted = [f"'{k}'" for k in absent]
    listed = quoted[0] if len(quoted) == 1 else (
        f"{', '.join(quoted[:-1])}{',' if len(quoted) > 2 else ''} and {quoted[-1]}")
    noun = "argument" if len(absent) == 1 else "arguments"
    raise TypeError(f"{name}.__init__() missing {len(absent)} required {kind} {noun}: "
                    f"{listed}")


def _repr(shown: list[str]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        inside = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown)
        return f"{self.__class__.__qualname__}({inside})"

    return __repr__


def _values(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The named attributes as one tuple (compared as dataclass's: identity, then ==)."""
    if not names:
        return lambda obj: ()
    get = attrgetter(*names)
    return (lambda obj: (get(obj),)) if len(names) == 1 else get


def _eq(compared: tuple[str, ...]) -> Callable[[Any, object], Any]:
    values = _values(compared)

    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    return __eq__


def _hash(hashed: tuple[str, ...]) -> Callable[[Any], int]:
    values = _values(hashed)

    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__


def _frozen_setattr(cls: type[Any], names: frozenset[str]) -> Callable[[Any, str, Any], None]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    return __setattr__


def _frozen_delattr(cls: type[Any], names: frozenset[str]) -> Callable[[Any, str], None]:
    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __delattr__
