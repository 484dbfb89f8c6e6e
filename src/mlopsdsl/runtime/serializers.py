"""Serialisers: how a Python object that is not a JSON parameter is stored in a file, and read back.

The writer picks a serialiser from the value's declared type (the IR type name the call spec passes) and
its class, and records the serialiser's *format* with the stored bytes; the reader looks the format up
and never guesses. Built in, in the order they are tried:

* the user's own registrations (:func:`register_serializer`), the latest first;
* ``npy`` for ``numpy.ndarray`` (without pickled objects), ``parquet`` for ``pandas.DataFrame``;
* ``json`` for pydantic models and dataclasses that JSON can hold faithfully;
* ``cloudpickle`` for anything else (``pickle`` where cloudpickle is not installed).

Types are matched by their import path (``numpy.ndarray``), so this module imports numpy, pandas or
pydantic only when a value of theirs is written or a format of theirs is read; it is part of the step
runtime and stays standard library only. When a built-in format cannot hold a particular value (an
object-dtype array, a frame with non-string column names) the writer falls back to ``cloudpickle`` and
records that; a user's serialiser that fails fails the step.

A registration is process-wide, like :mod:`copyreg`: the registry is the one place both the runner and
the step's process look. It reaches a step's process with the step's code: a by-value payload carries
every registration made where the payload was pickled (``mlopsdsl.runtime.payload``); in import mode the
registration must run when the step's module is imported (call :func:`register_serializer` at module
level in that module or one it imports).
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["Serializer", "choose", "dump", "load", "register_serializer", "registrations", "type_path"]


class Serializer:
    """A named way to write values to a path (a file or a folder) and read them back.

    Args:
        name: The format recorded with the stored bytes (``"npy"``, ``"my-format-v1"``).
        dump: ``dump(value, path)`` writes ``value`` to ``path``, a file or a folder that does not exist
            yet (its parent does).
        load: ``load(path)`` returns the value stored at ``path``.
        type: The class the serialiser is for (``None`` for the built-in, name-matched ones).
    """

    __slots__ = ("dump", "load", "name", "type")

    def __init__(
        self,
        name: str,
        dump: Callable[[Any, str], None],
        load: Callable[[str], Any],
        type: type | None = None,
    ) -> None:
        self.name = name
        self.dump = dump
        self.load = load
        self.type = type

    def __repr__(self) -> str:
        return f"Serializer({self.name!r})"


_USER: list[Serializer] = []
"""Registrations in the order they were made (the latest wins)."""


def register_serializer(
    type_: type,
    *,
    name: str,
    dump: Callable[[Any, str], None],
    load: Callable[[str], Any],
) -> None:
    """Store values of ``type_`` (and its subclasses) with your own format.

    ::

        def save_index(index, path):  index.write(path)
        def load_index(path):         return MyIndex.read(path)

        ml.register_serializer(MyIndex, name="myindex-v1", dump=save_index, load=load_index)

    ``name`` is recorded with every value written this way, and a reader looks the serialiser up by it:
    bump it (``-v2``) when the format changes. Registering the same ``name`` again replaces the earlier
    registration. By-value steps carry the registrations made before the pipeline runs or compiles; in
    import mode, register at module level in the step's module (or one it imports).

    Args:
        type_: The class whose instances use this serialiser.
        name: The format's name, unique among serialisers.
        dump: ``dump(value, path)`` writes the value to ``path`` (a file, or a folder it creates).
        load: ``load(path)`` reads it back.

    Raises:
        TypeError: ``type_`` is not a class, or ``dump``/``load`` is not callable.
        ValueError: ``name`` is empty or the name of a built-in format.
    """
    if not isinstance(type_, type):
        raise TypeError(f"register_serializer: {type_!r} is not a class")
    if not callable(dump) or not callable(load):
        raise TypeError("register_serializer: dump and load must be callables")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("register_serializer: name must be a non-empty string")
    if name in _BUILTIN:
        raise ValueError(f"register_serializer: {name!r} is a built-in format; choose another name")
    _USER[:] = [s for s in _USER if s.name != name]
    _USER.append(Serializer(name, dump, load, type_))


def registrations() -> list[Serializer]:
    """The user's registrations, oldest first (what a by-value payload carries)."""
    return list(_USER)


def install(serializers: list[Serializer]) -> None:
    """Register serialisers that travelled with a payload (the step's process)."""
    for item in serializers:
        assert item.type is not None
        register_serializer(item.type, name=item.name, dump=item.dump, load=item.load)


def type_path(cls: type) -> str:
    """``module.qualname`` of a class, as the IR names object types."""
    module = getattr(cls, "__module__", "") or ""
    qualname = getattr(cls, "__qualname__", cls.__name__)
    return qualname if module == "builtins" else f"{module}.{qualname}"


# --------------------------------------------------------------------------- built-in formats


def _module(name: str) -> Any:
    import importlib

    return importlib.import_module(name)


def _dump_npy(value: Any, path: str) -> None:
    if value.dtype.hasobject:
        raise TypeError("an object-dtype array needs pickle")
    with open(path, "wb") as handle:
        _module("numpy").save(handle, value, allow_pickle=False)


def _load_npy(path: str) -> Any:
    return _module("numpy").load(path, allow_pickle=False)


def _dump_parquet(value: Any, path: str) -> None:
    if not all(isinstance(column, str) for column in value.columns):
        raise TypeError("parquet stores column names as strings; these would not come back as they are")
    value.to_parquet(path)


def _load_parquet(path: str) -> Any:
    return _module("pandas").read_parquet(path)


def _dump_json(value: Any, path: str) -> None:
    from ._values import from_json, to_json

    dump = getattr(value, "model_dump", None)
    if callable(dump):
        data = dump(mode="json")
    else:
        data = to_json(value, "value")
        # Only when JSON gives the same value back (no sets, datetimes, or fields that are not JSON).
        if from_json(type(value), data) != value:
            raise TypeError("the dataclass does not survive a JSON round trip")
    text = json.dumps({"class": type_path(type(value)), "value": data}, ensure_ascii=False)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _load_json(path: str) -> Any:
    """The stored JSON document: ``{"class": ..., "value": ...}``; the reader rebuilds the class."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _dump_cloudpickle(value: Any, path: str) -> None:
    import cloudpickle  # type: ignore[import-untyped]

    with open(path, "wb") as handle:
        cloudpickle.dump(value, handle)


def _dump_pickle(value: Any, path: str) -> None:
    import pickle

    with open(path, "wb") as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _load_pickle(path: str) -> Any:
    import pickle

    with open(path, "rb") as handle:
        return pickle.load(handle)


_BUILTIN = {
    "npy": Serializer("npy", _dump_npy, _load_npy),
    "parquet": Serializer("parquet", _dump_parquet, _load_parquet),
    "json": Serializer("json", _dump_json, _load_json),
    "cloudpickle": Serializer("cloudpickle", _dump_cloudpickle, _load_pickle),
    "pickle": Serializer("pickle", _dump_pickle, _load_pickle),
}
_BY_TYPE = {
    "numpy.ndarray": "npy",
    "pandas.DataFrame": "parquet",
    "pandas.core.frame.DataFrame": "parquet",
}


ENV_PICKLE = "MLOPSDSL_PICKLE"
"""``false`` (the ``pickle = false`` setting, passed to steps in their environment) refuses pickled values."""
PICKLED = ("cloudpickle", "pickle")


def pickle_allowed() -> bool:
    """False when ``MLOPSDSL_PICKLE`` says ``false`` (or ``0``, ``no``, ``off``)."""
    return os.environ.get(ENV_PICKLE, "").strip().lower() not in ("0", "false", "no", "off")


class PickleRefused(TypeError):
    """A value would have to be pickled, or unpickled, while pickling is switched off."""


def _refuse_pickle(what: str) -> None:
    raise PickleRefused(
        f"{what}, and pickle is switched off (pickle = false, {ENV_PICKLE}=false): unpickling runs code "
        "that whoever can write to the store chose. Return JSON values, numpy arrays, data frames, "
        "dataclasses or pydantic models, or register a serializer with ml.register_serializer"
    )


def _pickler() -> Serializer:
    import importlib.util

    return _BUILTIN["cloudpickle" if importlib.util.find_spec("cloudpickle") is not None else "pickle"]


def choose(value: Any, declared: str | None = None) -> Serializer:
    """The serialiser for ``value``, whose declared type's import path is ``declared`` (if known)."""
    cls = type(value)
    for item in reversed(_USER):
        assert item.type is not None
        if isinstance(value, item.type) or (declared is not None and declared == type_path(item.type)):
            return item
    names = [declared] if declared else []
    names += [type_path(c) for c in cls.__mro__]
    for name in names:
        if name in _BY_TYPE:
            return _BUILTIN[_BY_TYPE[name]]
    if callable(getattr(value, "model_dump", None)) or (
        isinstance(getattr(cls, "__dataclass_fields__", None), dict) and not isinstance(value, type)
    ):
        return _BUILTIN["json"]
    return _pickler()


def by_name(name: str) -> Serializer:
    """The serialiser of a recorded format. Raises ``LookupError`` naming what to do when unknown."""
    for item in reversed(_USER):
        if item.name == name:
            return item
    if name in _BUILTIN:
        return _BUILTIN[name]
    raise LookupError(
        f"no serializer named {name!r} is registered in this process; register it with "
        "ml.register_serializer(...) in the step's module (import mode) or before the pipeline runs "
        "(by value)"
    )


def dump(value: Any, path: str, declared: str | None = None, allow_pickle: bool | None = None) -> str:
    """Write ``value`` to ``path`` (which must not exist); the format used.

    A built-in format that cannot hold this value falls back to pickling; a user's serialiser that
    raises is an error. Whatever a failed attempt left at ``path`` is removed. With pickling switched
    off (``allow_pickle=False``, by default :func:`pickle_allowed`), a value only pickle can hold is
    refused.
    """
    allowed = pickle_allowed() if allow_pickle is None else allow_pickle
    chosen = choose(value, declared)
    if chosen.name in PICKLED and chosen.type is None and not allowed:
        _refuse_pickle(f"a {type(value).__module__}.{type(value).__qualname__} can only be stored pickled")
    try:
        chosen.dump(value, path)
    except Exception:
        _remove(path)
        if chosen.type is not None or chosen.name in PICKLED:
            raise
        if not allowed:
            _refuse_pickle(f"format {chosen.name!r} cannot hold this {type(value).__qualname__}")
        chosen = _pickler()
        chosen.dump(value, path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"serializer {chosen.name!r} wrote nothing at {path}")
    return chosen.name


def load(
    path: str,
    fmt: str,
    annotation: Any = None,
    select: list[str | int] | None = None,
    allow_pickle: bool | None = None,
) -> Any:
    """Read a value stored in format ``fmt`` at ``path``, with the fields in ``select`` taken from it.

    For ``json``, the class is rebuilt from ``annotation`` (the consuming parameter's, already resolved)
    or else from the recorded class path when it can be imported, and the fields are selected from it;
    when the class cannot be had, the fields are selected from the JSON and rebuilt as ``annotation``.
    A pickled value is refused when pickling is switched off (see :func:`dump`).
    """
    from ._values import from_json

    if fmt in PICKLED and not (pickle_allowed() if allow_pickle is None else allow_pickle):
        _refuse_pickle(f"{path} is stored pickled")
    from ._values import select as pick

    if fmt != "json":
        return pick(by_name(fmt).load(path), list(select or []))
    document = _load_json(path)
    data = document.get("value")
    whole = annotation if not select and isinstance(annotation, type) and annotation is not object else None
    cls = whole or _import_class(str(document.get("class", "")))
    if cls is None:
        return from_json(annotation, pick(data, list(select or [])))
    return pick(from_json(cls, data), list(select or []))


def _import_class(path: str) -> type | None:
    import sys

    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            try:
                module = _module(".".join(parts[:cut]))
            except Exception:
                continue
        obj: Any = module
        for part in parts[cut:]:
            obj = getattr(obj, part, None)
        if isinstance(obj, type):
            return obj
    return None


def _remove(path: str) -> None:
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)
