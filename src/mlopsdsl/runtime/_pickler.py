"""The pickler of by-value payloads: cloudpickle, made to write the same bytes for the same code.

A compiled document embeds each step's payload, so CI can publish only on change only if the same source
pickles to the same bytes in every process, folder and checkout. Plain cloudpickle does not: it writes
what the process holds, and the process holds more than the code. Each source of difference found, and
what is written instead (same bytes, same behaviour where the payload loads):

* **Sets** iterate in an order seeded per process (``PYTHONHASHSEED``) for strings and bytes: a set
  constant, a ``frozenset`` that ``x in {"a", "b"}`` compiles to, ``__class_vars__`` of a pydantic model.
  Written as persistent ids (:data:`mlopsdsl.runtime._code.SET_PIDS`) with sorted items; a set's identity
  is kept (a frozenset's need not be).
* **pydantic's schema refs** are ``module.Class:<id()>``: in a model's ``__pydantic_core_schema__``, in
  every ``SchemaValidator`` and ``SchemaSerializer`` (a model's, a pydantic dataclass's, a ``TypeAdapter``'s)
  and in the ``cls_ref`` of its decorators. Refs only name definitions inside a schema, so the ids are
  renumbered in the order they are met (``module.Class:1``): the same links, no addresses.
* **Caches in class dicts**, filled by what the process did before it pickled: pydantic's
  ``__pydantic_setattr_handlers__`` (an instance's attribute was set), ``copyreg``'s ``__slotnames__`` (an
  instance was pickled or copied), the order of ABC registries (weak references). Caches are left out.
* **cloudpickle's own choices**: a random tracker id per class (``portable``: derived from the class's
  module and name) and the order of ``sys.modules`` in the submodules a function imports (sorted).
* **Absolute paths**: code objects' file names, a module's ``__file__`` and ``__path__`` (``portable``:
  relative to the module's import root, as the IR records them; ``__main__`` by its file name).
* **The patch release of Python**: enum members pickle as ``getattr(cls, name)`` on 3.11.2 and as
  ``cls(value)`` on 3.11.7 (written as ``cls(value)``); a NamedTuple class carries ``collections``'
  generated methods, with their line numbers in the standard library (made by ``collections.namedtuple``
  where the payload loads, with only the user's own members shipped).

What stays the user's: a module-level value is shipped as it was when the payload was made, so a value
computed from the machine (``Path(__file__).parent``, ``os.environ[...]``, a dict filled by iterating a
set) makes different bytes where it differs. Library code that a shipped class carries by value (a
dataclass's ``__repr__`` wrapper from ``dataclasses``, closures of pydantic in a schema) is bytecode of
that library's file, so a release that edits the file changes the bytes. This module runs where pipelines
are built, never in a pod.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import pickle
import re
import sys
import types
from collections import ChainMap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cloudpickle  # type: ignore[import-untyped]

from ._code import SET_PIDS

__all__ = ["PayloadPickler", "portable_tracker_ids"]

_CLOUDPICKLE: Any = sys.modules[cloudpickle.Pickler.__module__]
_PLAIN = (str, bytes, int, float, bool, complex, type(None))
_ENUM_REDUCE = enum.Enum.__reduce_ex__
_REF_ID = re.compile(r":(?:str-)?(\d+)")
_CACHES = ("__slotnames__",)
_USER_VALUES = ("default", "expected")  # keys of schema nodes that hold the user's values, kept as they are
_PYDANTIC_CACHES = {"__pydantic_setattr_handlers__": dict}


class PayloadPickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle with the canonical forms above; also keeps code objects' file names (cloudpickle blanks
    them), mapped through ``filename``, so that a step's traceback names the user's file.

    Args:
        file: Where the pickle is written.
        filename: Maps a code object's or module's file name to the one recorded.
        portable: Map ``__file__`` and ``__path__`` of shipped modules through ``filename`` too.
    """

    def __init__(self, file: io.BytesIO, filename: Callable[[str], str], portable: bool) -> None:
        self._filename = filename
        self._portable = portable
        self._sets: dict[int, int] = {}
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, Any] = {}
        self._kept: list[Any] = []  # objects whose id() is a key above stay alive until the end
        self._pydantic = _PydanticTypes.find()
        # The C pickler reads ``dispatch_table`` once, in ``__init__``: set it first.
        table = cloudpickle.Pickler.dispatch_table
        self.dispatch_table = ChainMap({types.CodeType: self._reduce_code}, table)
        super().__init__(file, protocol=pickle.DEFAULT_PROTOCOL)

    # ------------------------------------------------------------------ sets

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if (kind is not set and kind is not frozenset) or len(obj) < 2:
            return None  # one item or none has one order: pickle writes it itself
        items = tuple(sorted(obj, key=_order))
        if kind is frozenset:
            # Written whole each time it is met: a frozenset cannot be filled after it is made, and one
            # met again while its items are written (through a function's globals) must not be a
            # reference to what does not exist yet. Equal frozensets are interchangeable.
            return (SET_PIDS[1], items)
        index = self._sets.get(id(obj))
        if index is not None:
            return (SET_PIDS[0], index)
        index = self._sets[id(obj)] = len(self._sets)
        self._kept.append(obj)
        return (SET_PIDS[0], index, items)

    # ------------------------------------------------------------------ classes, functions, pydantic

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in self._pydantic.validators:
            return self._reduce_validator(obj)
        if kind is self._pydantic.type_adapter:
            return self._reduce_type_adapter(obj)
        if isinstance(obj, enum.Enum) and getattr(kind, "__reduce_ex__", None) is _ENUM_REDUCE:
            return kind, (obj._value_,)  # by value, as Python 3.11.7 does; 3.11.2 wrote getattr(cls, name)
        reduced = super().reducer_override(obj)
        if isinstance(obj, type) and isinstance(reduced, tuple) and len(reduced) == 6:
            self._canonical_class(obj, reduced[2][0])  # a class shipped by value: its dict is a copy
            if _is_plain_namedtuple(obj):
                return _namedtuple_reduce(obj, reduced)
        return reduced

    def _canonical_class(self, cls: type, clsdict: dict[str, Any]) -> None:
        for name in _CACHES:
            clsdict.pop(name, None)
        registry = clsdict.get("_abc_impl")
        if isinstance(registry, list):
            registry.sort(key=lambda c: f"{getattr(c, '__module__', '')}.{getattr(c, '__qualname__', '')}")
        if "__pydantic_core_schema__" in clsdict or "__pydantic_decorators__" in clsdict:
            for name, fresh in _PYDANTIC_CACHES.items():
                if name in clsdict:
                    clsdict[name] = fresh()
            if "__pydantic_core_schema__" in clsdict:
                clsdict["__pydantic_core_schema__"] = self._schema(clsdict["__pydantic_core_schema__"])
            if "__pydantic_decorators__" in clsdict:
                clsdict["__pydantic_decorators__"] = self._decorators(clsdict["__pydantic_decorators__"])

    def _reduce_validator(self, obj: Any) -> Any:
        # A copy of its own, sharing no dict or list with anything else in the payload: pickle fills a
        # shared dict only after it has written everything the dict holds, and a recursive model's schema
        # holds the class, whose state holds this validator. Loaded while the dict is half-filled, the
        # validator would be built from half a schema (pydantic-core: KeyError 'type').
        constructor, args, *rest = obj.__reduce__()
        return (constructor, (self._schema(args[0], {}), *args[1:]), *rest)

    def _reduce_type_adapter(self, obj: Any) -> Any:
        constructor, args, state, *rest = obj.__reduce_ex__(pickle.DEFAULT_PROTOCOL)
        if isinstance(state, dict) and "core_schema" in state:
            state = {**state, "core_schema": self._schema(state["core_schema"])}
        return (constructor, args, state, *rest)

    def _schema(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        """A pydantic-core schema with the ids in its refs renumbered; copies, so the user's stay as they are.

        Copies are memoised by the original's id (in ``memo``, or across the payload), so what the schema
        shared it still shares.
        """
        if not isinstance(value, dict | list):
            return value
        memo = self._schemas if memo is None else memo
        done = memo.get(id(value))
        if done is not None:
            return done
        self._kept.append(value)
        if isinstance(value, list):
            out_list: list[Any] = []
            memo[id(value)] = out_list
            out_list.extend(self._schema(v, memo) for v in value)
            return out_list
        out: dict[Any, Any] = {}
        memo[id(value)] = out
        node = isinstance(value.get("type"), str)  # a schema node; other dicts are the user's data
        for key, item in value.items():
            if node and key in _USER_VALUES:
                out[key] = item
            elif node and key in ("ref", "schema_ref"):
                out[key] = self._ref(item)
            else:
                out[key] = self._schema(item, memo)
        return out

    def _ref(self, ref: Any) -> Any:
        if not isinstance(ref, str):
            return ref
        return _REF_ID.sub(lambda m: f":{self._ids.setdefault(m.group(1), len(self._ids) + 1)}", ref)

    def _decorators(self, infos: Any) -> Any:
        """pydantic's ``DecoratorInfos`` with each decorator's ``cls_ref`` renumbered like the schema refs."""
        if not dataclasses.is_dataclass(infos) or isinstance(infos, type):
            return infos
        changes = {}
        for group in dataclasses.fields(infos):
            found = getattr(infos, group.name)
            if isinstance(found, dict) and any(hasattr(d, "cls_ref") for d in found.values()):
                changes[group.name] = {
                    name: dataclasses.replace(d, cls_ref=self._ref(d.cls_ref)) for name, d in found.items()
                }
        return dataclasses.replace(infos, **changes) if changes else infos

    def _dynamic_function_reduce(self, func: types.FunctionType) -> Any:
        reduced = super()._dynamic_function_reduce(func)
        _, slotstate = reduced[2]
        submodules = slotstate.get("_cloudpickle_submodules")
        if submodules:
            slotstate["_cloudpickle_submodules"] = sorted(submodules, key=lambda m: m.__name__)
        shipped_globals = slotstate.get("__globals__")
        if self._portable and isinstance(shipped_globals, dict):
            _portable_module_attributes(shipped_globals, self._filename)
        return reduced

    def _function_getnewargs(self, func: types.FunctionType) -> Any:
        args = super()._function_getnewargs(func)
        if self._portable:
            _portable_module_attributes(args[1], self._filename)
        return args

    def _reduce_code(self, code: types.CodeType) -> Any:
        constructor, args = _CLOUDPICKLE._code_reduce(code)
        name = self._filename(code.co_filename)
        return constructor, tuple(name if arg == "<dynamic-code>" else arg for arg in args)


def _is_plain_namedtuple(cls: type) -> bool:
    own = vars(cls)
    return cls.__bases__ == (tuple,) and isinstance(own.get("_fields"), tuple) and "_make" in own


def _namedtuple_reduce(cls: Any, reduced: tuple[Any, ...]) -> tuple[Any, ...]:
    """A NamedTuple class made by ``collections.namedtuple`` where it loads, then given the user's members.

    Its generated methods are functions of the standard library's ``collections`` module, not importable by
    name, so cloudpickle would ship their bytecode and line numbers, which change between patch releases
    of one Python minor (3.11.2 and 3.11.7 differ). The loading Python's own ``namedtuple`` makes them.
    """
    import collections
    import functools

    fields = cls._fields
    defaults = tuple(cls._field_defaults[f] for f in fields if f in cls._field_defaults) or None
    make = functools.partial(collections.namedtuple, defaults=defaults, module=cls.__module__)
    generated = vars(collections.namedtuple(cls.__name__, fields, defaults=defaults, module=cls.__module__))
    clsdict = reduced[2][0]
    for key in [k for k in clsdict if k in generated and _alike(clsdict[k], generated[k])]:
        del clsdict[key]
    if cls.__qualname__ != cls.__name__:
        clsdict["__qualname__"] = cls.__qualname__
    return (make, (cls.__name__, fields), reduced[2], None, None, reduced[5])


def _alike(mine: Any, theirs: Any) -> bool:
    """True when a NamedTuple's member is the one ``namedtuple`` generates (not the user's own)."""
    mine, theirs = getattr(mine, "__func__", mine), getattr(theirs, "__func__", theirs)
    if type(mine) is not type(theirs):
        return False
    code = getattr(mine, "__code__", None)
    if code is not None:
        same_file = code.co_filename == theirs.__code__.co_filename
        return bool(same_file and mine.__qualname__ == theirs.__qualname__)
    if isinstance(mine, tuple | dict | str):
        return bool(mine == theirs)
    return True  # a field accessor (``_tuplegetter``): the user cannot define one of a field's name


def _portable_module_attributes(namespace: dict[str, Any], filename: Callable[[str], str]) -> None:
    if isinstance(namespace.get("__file__"), str):
        namespace["__file__"] = filename(namespace["__file__"])
    if isinstance(namespace.get("__path__"), list):
        namespace["__path__"] = [filename(p) for p in namespace["__path__"]]


def _order(item: Any) -> tuple[Any, ...]:
    """A sort key that orders any set's items the same way in every process (not by hash or address)."""
    kind = type(item)
    if kind in _PLAIN:
        return (0, kind.__name__, repr(item))
    if kind is tuple or kind is frozenset:
        keys = [_order(i) for i in item]
        return (1, kind.__name__, tuple(keys if kind is tuple else sorted(keys)))
    name = f"{kind.__module__}.{kind.__qualname__}"
    if isinstance(item, enum.Enum):
        return (2, name, item.name)
    if isinstance(item, type | types.FunctionType | types.BuiltinFunctionType):
        code = getattr(item, "__code__", None)  # two lambdas share a name, not a line
        line = f":{code.co_firstlineno}" if code is not None else ""
        return (3, name, f"{getattr(item, '__module__', '')}.{getattr(item, '__qualname__', '')}{line}")
    text = repr(item)
    # Reprs with an address say nothing stable; such items keep their order among themselves.
    return (4, name, "" if " at 0x" in text else text)


class _PydanticTypes:
    """The pydantic types whose pickles hold schema refs; empty when pydantic was never imported."""

    def __init__(self, validators: tuple[type, ...], type_adapter: type | None) -> None:
        self.validators = validators
        self.type_adapter = type_adapter

    @classmethod
    def find(cls) -> _PydanticTypes:
        core = sys.modules.get("pydantic_core")
        adapter = sys.modules.get("pydantic.type_adapter")
        validators = (core.SchemaValidator, core.SchemaSerializer) if core is not None else ()
        return cls(validators, getattr(adapter, "TypeAdapter", None))


@contextmanager
def portable_tracker_ids() -> Iterator[None]:
    """While pickling (under the payload lock): class tracker ids derived from the class's module and name.

    cloudpickle tags each class (and ``TypeVar``) it ships by value with a random ``uuid4`` (so that two
    payloads of the same class load as one class in one process) and offers no option; its helper is
    swapped for the duration. Two distinct classes of the same name in one payload (made by a factory,
    or ``create_model`` called twice) are told apart by the order in which they are met, or the second
    would load as the first.
    """
    original = _CLOUDPICKLE._get_or_create_tracker_id
    met: dict[str, list[Any]] = {}

    def tracker(class_def: Any) -> str:
        qualname = getattr(class_def, "__qualname__", None) or getattr(class_def, "__name__", "")
        kind = "" if isinstance(class_def, type) else f"{type(class_def).__name__}:"
        name = f"{kind}{class_def.__module__}.{qualname}"
        same = met.setdefault(name, [])
        if not any(other is class_def for other in same):
            same.append(class_def)
        ordinal = next(i for i, other in enumerate(same) if other is class_def)
        if ordinal:
            name = f"{name}#{ordinal}"
        return hashlib.sha256(name.encode()).hexdigest()[:32]

    _CLOUDPICKLE._get_or_create_tracker_id = tracker
    try:
        yield
    finally:
        _CLOUDPICKLE._get_or_create_tracker_id = original
