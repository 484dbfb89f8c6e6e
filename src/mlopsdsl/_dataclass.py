"""Dataclasses whose methods are written when first used, not when the class is made.

``dataclasses.dataclass`` compiles Python source for each class as its module is imported: an ``__init__``,
and ``__eq__``, ``__repr__``, ``__hash__`` and a frozen class's ``__setattr__``/``__delattr__``. That is
about 0.7 ms a class here, and a cold ``mlopsdsl run`` or ``compile`` imports some sixty dataclasses: a
third of the command before its first step. :func:`dataclass` makes the class with ``dataclasses`` itself
(the same fields, so ``dataclasses.fields``, ``replace``, ``asdict`` and pydantic treat it as any dataclass),
but compiles nothing then:

* ``__init__`` is compiled when the class is first called (or its ``__init__`` first looked up, as
  ``inspect.signature`` does), and it is the code ``dataclasses`` writes: positional then keyword-only
  fields, defaults, default factories, ``__post_init__``, ``object.__setattr__`` for a frozen class;
* equality, hashing, ordering, repr and a frozen class's ``__setattr__``/``__delattr__`` are closures over
  the class's field names, with the meaning of the generated ones, decided by the same rules (a method
  the class defines itself is kept; ``eq`` without ``frozen`` makes instances unhashable).

It takes the options this code base uses. What ``dataclasses`` would treat specially beyond them (a field
with ``init=False``, an ``InitVar``, a dataclass base class) is refused when the class is made, so nothing
is silently made differently. The compilers in this repository use it too.
"""

from __future__ import annotations

import dataclasses
import inspect
import operator
from _thread import get_ident
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["dataclass", "init_of"]

_C = TypeVar("_C", bound=type)
_MISSING: Any = dataclasses.MISSING


class _Factory:
    """Stands for "not given" where a field's default comes from a factory (shown as ``dataclasses``
    shows it in a signature)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


@overload
def dataclass(cls: _C, /) -> _C: ...


@overload
def dataclass(
    *,
    frozen: bool = False,
    kw_only: bool = False,
    slots: bool = False,
    eq: bool = True,
    order: bool = False,
    repr: bool = True,
) -> Callable[[_C], _C]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(
    cls: _C | None = None,
    /,
    *,
    frozen: bool = False,
    kw_only: bool = False,
    slots: bool = False,
    eq: bool = True,
    order: bool = False,
    repr: bool = True,
) -> Any:
    """``dataclasses.dataclass``, bare or with these options, its methods made when first used."""

    def make(cls: _C) -> _C:
        return _make(cls, frozen=frozen, kw_only=kw_only, slots=slots, eq=eq, order=order, show=repr)

    return make if cls is None else make(cls)


def _make(cls: _C, *, frozen: bool, kw_only: bool, slots: bool, eq: bool, order: bool, show: bool) -> _C:
    for base in cls.__mro__[1:]:
        if "__dataclass_fields__" in base.__dict__:
            raise TypeError(f"{cls.__qualname__}: a base class is a dataclass; use dataclasses.dataclass")
    if not cls.__doc__:  # as dataclasses would write it, when first read (dataclasses skips a class with one)
        cls.__doc__ = _LazyDoc()  # type: ignore[assignment]
    made: Any = dataclasses.dataclass(
        cls, init=False, repr=False, eq=False, order=False, frozen=False, kw_only=kw_only, slots=slots
    )
    fields = dataclasses.fields(made)
    _refuse_unsupported(made, fields)
    params = made.__dataclass_params__
    params.init, params.repr, params.eq, params.order, params.frozen = True, show, eq, order, frozen
    own = dict(made.__dict__)

    def put(name: str, method: Any) -> None:
        if name not in own:
            setattr(made, name, method)

    put("__init__", _LazyInit(made))
    compared = _getter(tuple(f.name for f in fields if f.compare))
    if show:
        put("__repr__", _repr_of(tuple(f.name for f in fields if f.repr)))
    if eq:
        put("__eq__", _eq_of(compared))
    if order:
        for name, op in (("__lt__", operator.lt), ("__le__", operator.le), ("__gt__", operator.gt),
                         ("__ge__", operator.ge)):  # fmt: skip
            if name in own:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
            setattr(made, name, _order_of(compared, op))
    class_hash = own.get("__hash__", _MISSING)
    explicit_hash = not (class_hash is _MISSING or (class_hash is None and "__eq__" in own))
    if eq and not explicit_hash:
        hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
        _assign(made, "__hash__", _hash_of(hashed) if frozen else None)
    if frozen:
        names = frozenset(f.name for f in fields)
        for name, method in (
            ("__setattr__", _setattr_of(made, names)),
            ("__delattr__", _delattr_of(made, names)),
        ):
            if name in own:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
            setattr(made, name, method)
        if slots:  # slots without a __dict__: copy and pickle restore the fields past __setattr__
            put("__getstate__", _getstate)
            put("__setstate__", _setstate)
    return made  # type: ignore[no-any-return]


def _refuse_unsupported(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> None:
    pseudo = set(cls.__dataclass_fields__) - {f.name for f in fields}  # type: ignore[attr-defined]
    for name in pseudo:
        kind = cls.__dataclass_fields__[name].type  # type: ignore[attr-defined]
        if isinstance(kind, dataclasses.InitVar) or kind is dataclasses.InitVar or "InitVar" in str(kind):
            raise TypeError(f"{cls.__qualname__}.{name}: InitVar fields need dataclasses.dataclass")
    seen_default = None
    for f in fields:
        if not f.init:
            raise TypeError(f"{cls.__qualname__}.{f.name}: fields with init=False need dataclasses.dataclass")
        if f.kw_only:
            continue
        if f.default is not _MISSING or f.default_factory is not _MISSING:
            seen_default = f.name
        elif seen_default is not None:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")


class _LazyDoc:
    """The docstring ``dataclasses`` gives a class without one (its name and signature), written when first
    read: the signature costs ~0.1 ms a class at import, and the first ``inspect.signature`` of a process
    compiles the tokenizer's pattern, ~3 ms more."""

    __slots__ = ()

    def __get__(self, instance: object, owner: type | None = None) -> str:
        cls = owner if owner is not None else type(instance)
        try:
            signature = str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):
            signature = ""
        return cls.__name__ + signature


class _LazyInit:
    """The class's ``__init__`` until first looked up: then the compiled one, which replaces it."""

    __slots__ = ("owner",)

    def __init__(self, owner: type) -> None:
        self.owner = owner

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        init = init_of(self.owner)
        return init if instance is None else init.__get__(instance, owner)


_INITS: dict[type, Callable[..., None]] = {}


def init_of(cls: type) -> Callable[..., None]:
    """The ``__init__`` :func:`dataclass` writes for ``cls``, compiled now if not yet; it becomes the class's
    own unless the class has put another ``__init__`` in its place (which may call this one)."""
    init = _INITS.get(cls)
    if init is None:
        init = _INITS[cls] = _write_init(cls)
        if isinstance(cls.__dict__.get("__init__"), _LazyInit):
            _assign(cls, "__init__", init)
    return init


def _assign(cls: type, name: str, value: Any) -> None:
    setattr(cls, name, value)


def _write_init(cls: type) -> Callable[..., None]:
    fields = dataclasses.fields(cls)
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    self_name = "__dataclass_self__" if any(f.name == "self" for f in fields) else "self"
    names: dict[str, Any] = {"__dataclass_set__": object.__setattr__, "__dataclass_factory__": _FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in fields:
        name = f.name
        value = name
        if f.default_factory is not _MISSING:
            names[f"__dataclass_factory_{name}__"] = f.default_factory
            parameter = f"{name}=__dataclass_factory__"
            value = f"__dataclass_factory_{name}__() if {name} is __dataclass_factory__ else {name}"
        elif f.default is not _MISSING:
            names[f"__dataclass_default_{name}__"] = f.default
            parameter = f"{name}=__dataclass_default_{name}__"
        else:
            parameter = name
        (keyword if f.kw_only else positional).append(parameter)
        if frozen:
            body.append(f"__dataclass_set__({self_name}, {name!r}, {value})")
        else:
            body.append(f"{self_name}.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append(f"{self_name}.__post_init__()")
    signature = ", ".join([self_name, *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}):\n" + "".join(f"    {line}\n" for line in body or ["pass"])
    made: dict[str, Any] = {}
    exec(source, names, made)
    init: Callable[..., None] = made["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{f.name: f.type for f in fields}, "return": None}
    return init


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of an instance's values of ``names`` (``attrgetter`` gives a bare value for one name)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda node: (one(node),)
    return lambda node: ()


def _eq_of(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, object], Any]:
    def __eq__(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    return __eq__


def _order_of(values: Callable[[Any], tuple[Any, ...]], op: Callable[[Any, Any], bool]) -> Callable[..., Any]:
    def compare(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return op(values(self), values(other))

    compare.__name__ = f"__{op.__name__}__"
    return compare


def _hash_of(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__


_REPRS: set[tuple[int, int]] = set()
"""(instance, thread) pairs whose repr is being written: a cycle shows as ``...``, as in ``dataclasses``."""


def _repr_of(names: tuple[str, ...]) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:
        key = (id(self), get_ident())
        if key in _REPRS:
            return "..."
        _REPRS.add(key)
        try:
            shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        finally:
            _REPRS.discard(key)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _setattr_of(owner: type[Any], names: frozenset[str]) -> Callable[[Any, str, Any], None]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is owner or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(owner, self).__setattr__(name, value)

    return __setattr__


def _delattr_of(owner: type[Any], names: frozenset[str]) -> Callable[[Any, str], None]:
    def __delattr__(self: Any, name: str) -> None:
        if type(self) is owner or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(owner, self).__delattr__(name)

    return __delattr__


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=False):
        object.__setattr__(self, f.name, value)
