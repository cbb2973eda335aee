"""`record` behaves as `dataclass`: each pair below declares the same class both ways,
and every construction, error, repr, comparison, hash, freeze and dataclasses function
gives the same answer (errors: the same type and message)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from ec2_connector.spec.records import record


def shapes(decorate: Any) -> dict[str, type]:
    """The declarations to compare, made with `decorate(frozen=..., kw_only=...)`."""

    @decorate()
    class Plain:
        """A mutable record with a factory and a default."""

        name: str
        items: list[int] = field(default_factory=list)
        count: int = 0

    @decorate(frozen=True)
    class Frozen:
        """A frozen record with a secret kept out of its repr and out of comparison."""

        name: str
        secret: str | None = field(default=None, repr=False)
        note: str = field(default="", compare=False)
        size: int = 1

    @decorate(frozen=True, kw_only=True)
    class KeywordOnly:
        """Keyword-only, a post-init, and a field its init does not take."""

        name: str
        tags: tuple[str, ...] = ()
        options: dict[str, Any] = field(default_factory=dict, hash=False)
        derived: str = field(init=False, default="")

        def __post_init__(self) -> None:
            object.__setattr__(self, "derived", self.name.upper())

    @decorate()
    class Empty:
        """No fields at all."""

    @decorate(frozen=True)
    class Required:
        """Only required fields, one of them keyword-only."""

        a: int
        b: int
        c: int
        d: int = field(kw_only=True)

    return {"Plain": Plain, "Frozen": Frozen, "KeywordOnly": KeywordOnly, "Empty": Empty,
            "Required": Required}


OURS = shapes(record)
THEIRS = shapes(dataclass)
CALLS: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "Plain": [(("a",), {}), (("a", [1]), {}), (("a", [1], 3), {}), ((), {"name": "a"}),
              ((), {"name": "a", "count": 2}), ((), {}), (("a", [1], 3, 4), {}),
              (("a",), {"name": "b"}), ((), {"name": "a", "other": 1}),
              (("a",), {"items": None})],
    "Frozen": [(("a",), {}), (("a", "s", "n", 2), {}), ((), {"secret": "s"}),
               (("a",), {"size": 3, "note": "x"}), (("a", "s", "n", 2, 9), {})],
    "KeywordOnly": [((), {"name": "a"}), ((), {"name": "a", "tags": ("t",)}), (("a",), {}),
                    ((), {}), ((), {"name": "a", "derived": "x"}),
                    ((), {"name": "a", "options": {"k": 1}})],
    "Empty": [((), {}), ((1,), {}), ((), {"x": 1})],
    "Required": [((1, 2, 3), {"d": 4}), ((1,), {}), ((1, 2, 3), {}), ((), {"d": 1}),
                 ((1, 2), {"d": 4})],
}


def outcome(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        made = cls(*args, **copy.deepcopy(kwargs))
    except Exception as exc:  # the error is what is compared
        return ("error", type(exc), str(exc))
    return ("made", repr(made), vars(made), list(vars(made)))


@pytest.mark.parametrize(("shape", "args", "kwargs"),
                         [(s, a, k) for s, calls in CALLS.items() for a, k in calls])
def test_construction_repr_and_errors_match_dataclass(shape: str, args: tuple[Any, ...],
                                                      kwargs: dict[str, Any]) -> None:
    assert outcome(OURS[shape], args, kwargs) == outcome(THEIRS[shape], args, kwargs)


@pytest.mark.parametrize("shape", ["Plain", "Frozen", "KeywordOnly", "Required"])
def test_equality_hash_and_freezing_match_dataclass(shape: str) -> None:
    args, kwargs = CALLS[shape][0]
    for cls in (OURS[shape], THEIRS[shape]):
        one, two = cls(*args, **kwargs), cls(*args, **kwargs)
        assert one == two and (one != two) is False
        assert one != object() and (one == 1) is False
    ours, theirs = OURS[shape](*args, **kwargs), THEIRS[shape](*args, **kwargs)
    assert ours != theirs  # another class: not equal, as between two dataclasses
    assert (OURS[shape].__hash__ is None) == (THEIRS[shape].__hash__ is None)
    if OURS[shape].__hash__ is not None:
        assert hash(ours) == hash(OURS[shape](*args, **kwargs))
    frozen = THEIRS[shape].__dataclass_params__.frozen  # type: ignore[attr-defined]
    for obj in (ours, theirs):
        first = dataclasses.fields(obj)[0].name
        if frozen:
            with pytest.raises(FrozenInstanceError, match=f"cannot assign to field '{first}'"):
                setattr(obj, first, "x")
            with pytest.raises(FrozenInstanceError, match=f"cannot delete field '{first}'"):
                delattr(obj, first)
        else:
            setattr(obj, first, "x")
            assert getattr(obj, first) == "x"


def test_a_field_left_out_of_comparison_is_left_out() -> None:
    one, two = OURS["Frozen"]("a", note="x"), OURS["Frozen"]("a", note="y")
    assert one == two and hash(one) == hash(two)
    assert OURS["Frozen"]("a", size=2) != one
    assert OURS["Frozen"]("a", secret="s") != one  # compared, only not shown
    assert "hunter2" not in repr(OURS["Frozen"]("a", secret="hunter2"))


def test_factories_make_a_fresh_value_each_time() -> None:
    one, two = OURS["Plain"]("a"), OURS["Plain"]("b")
    one.items.append(1)
    assert two.items == [] and one.items == [1]


def test_dataclasses_functions_work_on_a_record() -> None:
    made = OURS["KeywordOnly"](name="a", tags=("t",))
    assert dataclasses.is_dataclass(made)
    assert [f.name for f in dataclasses.fields(made)] == ["name", "tags", "options", "derived"]
    changed = dataclasses.replace(made, name="b")
    assert (changed.name, changed.tags, changed.derived) == ("b", ("t",), "B")
    assert dataclasses.asdict(made) == {"name": "a", "tags": ("t",), "options": {},
                                        "derived": "A"}
    assert OURS["Required"].__match_args__ == THEIRS["Required"].__match_args__


@record(frozen=True)
class Point:
    """At module level, where pickle finds it."""

    x: int
    label: str = field(default="", repr=False)


def test_a_record_pickles_and_copies() -> None:
    made = Point(1, "a")
    assert pickle.loads(pickle.dumps(made)) == made
    assert copy.copy(made) == made and copy.deepcopy(made) == made


def test_a_method_of_the_class_is_kept() -> None:
    @record(frozen=True)
    class Shown:
        """Its own repr."""

        name: str

        def __repr__(self) -> str:
            return "<shown>"

    assert repr(Shown("a")) == "<shown>"
    assert Shown("a") == Shown("a")


def test_an_own_init_must_take_the_fields_in_order() -> None:
    with pytest.raises(TypeError, match=r"Drifted.__init__ takes \['a'\]: a record's own "
                                        r"__init__ must take its fields, \['a', 'b'\]"):
        @record()
        class Drifted:
            """A field added, the __init__ not told."""

            a: int
            b: int = 0

            def __init__(self, a: int) -> None:
                self.a = a

    @record()
    class Kept:
        """Its own __init__, taking its fields."""

        a: int
        b: int = 0

        def __init__(self, a: int, b: int = 0) -> None:
            self.a, self.b = a, b

    assert Kept(1) == Kept(1, 0)
    assert repr(Kept(2, 3)).endswith(".Kept(a=2, b=3)")
