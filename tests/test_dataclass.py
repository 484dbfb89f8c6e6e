"""``mlopsdsl._dataclass.dataclass`` against ``dataclasses.dataclass``: the same class, methods made later.

Each shape is written once and made by both decorators; every observable behaviour is compared.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import sys
import types
from typing import Any, ClassVar

import pytest

from mlopsdsl import _dataclass
from mlopsdsl._dataclass import dataclass as lazy

_SHAPES: dict[str, tuple[dict[str, Any], str]] = {
    "plain": ({}, "a: int\nb: str = 'x'\nc: list = dataclasses.field(default_factory=list)\n"),
    "frozen": ({"frozen": True}, "a: int\nb: tuple = ()\n"),
    "kw_only slots": (
        {"frozen": True, "kw_only": True, "slots": True},
        "a: int\nb: dict = dataclasses.field(default_factory=dict)\nc: 'str | None' = None\n",
    ),
    "order": ({"frozen": True, "order": True}, "file: str\nline: int = 0\n"),
    "no eq": ({"eq": False}, "a: int = 1\n"),
    "no repr field": ({}, "a: int\nsecret: str = dataclasses.field(default='s', repr=False)\n"),
    "not compared": ({"frozen": True}, "a: int\nnote: str = dataclasses.field(default='', compare=False)\n"),
    "field named self": ({}, "self: int\nother: int = 2\n"),
    "no fields": ({"frozen": True}, ""),
    "one field": ({"frozen": True, "slots": True}, "only: int\n"),
    "classvar": ({"frozen": True}, "a: int\nk: ClassVar[int] = 3\n"),
    "post_init": (
        {},
        "a: int\nb: int = 0\ndef __post_init__(self):\n    self.b = self.a * 2\n",
    ),
    "own eq": (
        {"frozen": True},
        "a: int\ndef __eq__(self, other):\n    return isinstance(other, type(self))\n",
    ),
    "own repr": ({}, "a: int\ndef __repr__(self):\n    return 'mine'\n"),
    "own hash": ({"frozen": True}, "a: int\ndef __hash__(self):\n    return 7\n"),
}


def _make(decorator: Any, name: str) -> type:
    options, body = _SHAPES[name]
    namespace: dict[str, Any] = {"dataclasses": dataclasses, "ClassVar": ClassVar}
    indented = "".join(f"    {line}\n" for line in body.splitlines()) or "    pass\n"
    module = sys.modules.setdefault("shapes", types.ModuleType("shapes"))
    exec(f"class Shape:\n{indented}", namespace)
    cls = namespace["Shape"]
    cls.__module__ = "shapes"
    made: type = decorator(**options)(cls)
    module.Shape = made  # type: ignore[attr-defined]
    return made


def _arguments(cls: type) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    fields = dataclasses.fields(cls)
    required = {
        f.name: 1
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    given = {f.name: (2 if "int" in str(f.type) else ("y" if "str" in str(f.type) else None)) for f in fields}
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), required),
        ((), {k: v for k, v in given.items() if v is not None} | required),
    ]
    positional = [f.name for f in fields if not f.kw_only]
    if positional:
        calls.append(
            (
                (1,) * len([n for n in positional if n in required]),
                {k: v for k, v in required.items() if k not in positional},
            )
        )
    return calls


def _observe(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    one = cls(*args, **kwargs)
    two = cls(*args, **kwargs)
    seen["values"] = [getattr(one, f.name) for f in dataclasses.fields(cls)]
    seen["repr"] = repr(one)
    seen["eq"] = (one == two, one != two, one == object())
    try:
        by_value = type(one).__hash__ is not object.__hash__
        seen["hash"] = hash(one) == hash(two), hash(one) if by_value else None
    except TypeError as error:
        seen["hash"] = str(error)
    try:
        seen["lt"] = (one < two, one <= two, one > two, one >= two)
    except TypeError as error:
        seen["lt"] = type(error).__name__
    names = [f.name for f in dataclasses.fields(cls)]
    if names:
        try:
            setattr(one, names[0], 5)
            seen["set"] = getattr(one, names[0])
        except dataclasses.FrozenInstanceError as error:
            seen["set"] = str(error)
        try:
            delattr(two, names[-1])
            seen["del"] = "deleted"
        except (dataclasses.FrozenInstanceError, AttributeError) as error:
            seen["del"] = f"{type(error).__name__}: {error}"
    fresh = cls(*args, **kwargs)
    other = 12345
    seen["eq each field"] = [dataclasses.replace(fresh, **{name: other}) == fresh for name in names]
    if "__slots__" not in cls.__dict__:  # (a slotted frozen class's subclass trips a bug of 3.11's own)
        extended = type("Sub", (cls,), {})(*args, **kwargs)
        try:
            extended.extra = 1
            seen["subclass set"] = extended.extra
        except dataclasses.FrozenInstanceError as error:
            seen["subclass set"] = str(error)
    seen["copy"] = repr(copy.copy(fresh)), repr(copy.deepcopy(fresh))
    seen["pickle"] = repr(pickle.loads(pickle.dumps(fresh)))
    seen["replace"] = repr(dataclasses.replace(fresh))
    seen["asdict"] = dataclasses.asdict(fresh)
    return seen


@pytest.mark.parametrize("name", sorted(_SHAPES))
def test_a_class_behaves_as_the_standard_library_makes_it(name: str) -> None:
    stdlib = _make(dataclasses.dataclass, name)
    expected_signature = str(inspect.signature(stdlib))
    expected = {str(call): _observe(stdlib, *call) for call in _arguments(stdlib)}
    ours = _make(lazy, name)
    assert str(inspect.signature(ours)) == expected_signature
    assert ours.__doc__ == stdlib.__doc__.replace(stdlib.__name__, ours.__name__, 1)  # type: ignore[union-attr]
    assert {str(call): _observe(ours, *call) for call in _arguments(ours)} == expected
    assert [(f.name, f.type, f.kw_only) for f in dataclasses.fields(ours)] == [
        (f.name, f.type, f.kw_only) for f in dataclasses.fields(stdlib)
    ]
    assert ours.__match_args__ == stdlib.__match_args__  # type: ignore[attr-defined]
    for flag in ("init", "repr", "eq", "order", "frozen"):
        assert getattr(ours.__dataclass_params__, flag) == getattr(stdlib.__dataclass_params__, flag)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(_SHAPES))
def test_bad_calls_fail_as_the_standard_library_fails(name: str) -> None:
    def failure(cls: type, *args: Any, **kwargs: Any) -> str:
        with pytest.raises(TypeError) as caught:
            cls(*args, **kwargs)
        return str(caught.value).replace(cls.__init__.__qualname__, "__init__")

    stdlib, ours = _make(dataclasses.dataclass, name), _make(lazy, name)
    for args, kwargs in [((1, 2, 3, 4), {}), ((), {"nope": 1})]:
        assert failure(ours, *args, **kwargs) == failure(stdlib, *args, **kwargs)


def test_nothing_is_compiled_until_the_class_is_used() -> None:
    made = _make(lazy, "kw_only slots")
    assert made not in _dataclass._INITS
    assert isinstance(made.__dict__["__init__"], _dataclass._LazyInit)
    made(a=1)
    assert made.__dict__["__init__"] is _dataclass._INITS[made]


def test_cyclic_values_repr_as_the_standard_library_does() -> None:
    for decorator in (dataclasses.dataclass, lazy):
        made = _make(decorator, "plain")
        node = made(1)
        node.c.append(node)
        assert repr(node) == "Shape(a=1, b='x', c=[...])"


def test_what_it_does_not_make_is_refused() -> None:
    @dataclasses.dataclass
    class Base:
        a: int = 0

    with pytest.raises(TypeError, match="base class is a dataclass"):

        @lazy
        class Child(Base):
            b: int = 1

    with pytest.raises(TypeError, match="init=False"):

        @lazy
        class Hidden:
            a: int = dataclasses.field(default=0, init=False)

    with pytest.raises(TypeError, match="InitVar"):

        @lazy
        class Passed:
            a: dataclasses.InitVar[int]

    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

        @lazy
        class Ordered:
            a: int = 0
            b: int

    with pytest.raises(TypeError, match="cannot overwrite attribute __setattr__"):

        @lazy(frozen=True)
        class Settable:
            a: int

            def __setattr__(self, name: str, value: Any) -> None:
                pass


def test_pydantic_reads_a_lazy_class_as_a_dataclass() -> None:
    from pydantic import TypeAdapter, ValidationError

    from mlopsdsl import ir

    adapter = TypeAdapter(ir.SourceLocation)
    assert adapter.validate_python({"file": "a.py", "line": 3}) == ir.SourceLocation(file="a.py", line=3)
    with pytest.raises(ValidationError):
        adapter.validate_python({"file": "a.py", "line": 3, "column": 1})


def test_option_classes_show_their_fields_as_their_signature() -> None:
    """Their ``__init__`` checks the call first, and still shows the dataclass's signature (``help()``,
    notebooks), without compiling it at import."""
    import mlopsdsl as ml

    for option in (ml.Retry, ml.Resources, ml.Pod, ml.Secret, ml.Toleration, ml.Volume):
        expected = [f.name for f in dataclasses.fields(option)]
        assert list(inspect.signature(option).parameters) == expected
