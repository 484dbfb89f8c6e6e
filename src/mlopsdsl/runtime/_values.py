"""Values in and out of a step: JSON for parameters, pickles for stored objects.

Parameters travel as JSON. When an input's annotation is an ``Enum``, a dataclass or a pydantic model (or
a list, dict or ``Optional`` of one), the JSON is rebuilt into that type from the function's own
annotations; the call spec says when (``convert``), so steps that take plain JSON never import
``typing``, and pydantic is imported only by steps whose annotations already hold a model. Outputs go the
other way: enums to their values, dataclasses and models to dicts, tuples to lists.

Objects are pickled with cloudpickle when it is importable (classes defined in ``__main__`` or a notebook
then travel by value), else with the standard pickle; the format is recorded, never guessed.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class OutputError(Exception):
    """A step returned a value that cannot be written as its output."""


def select(value: Any, path: list[str | int] | tuple[str | int, ...]) -> Any:
    """``value`` with the fields in ``path`` selected: dict keys, list indexes or attributes.

    A field name applied to a list selects that field of every element (``scores.name`` of a map's results
    is the list of their names). This is the one definition of a selection: the local runner, every
    backend's runtime call and the pictures all mean this.
    """
    for i, part in enumerate(path):
        if isinstance(value, list | tuple) and isinstance(part, str):
            rest = list(path[i:])
            return [select(item, rest) for item in value]
        if isinstance(value, dict):
            value = value[part]
        elif isinstance(value, list | tuple) and isinstance(part, int):
            value = value[int(part)]
        else:
            value = getattr(value, str(part))
    return value


# --------------------------------------------------------------------------- JSON out


def to_json(value: Any, where: str) -> Any:
    """A returned Python value as a JSON value, or :class:`OutputError` saying why it cannot be one."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise OutputError(f"{where} is {value!r}, which JSON cannot hold")
        return value
    if isinstance(value, list | tuple):
        return [to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise OutputError(f"{where} has the key {key!r}; JSON keys must be str")
            out[key] = to_json(item, f"{where}[{key!r}]")
        return out
    enum = sys.modules.get("enum")
    if enum is not None and isinstance(value, enum.Enum):
        return to_json(value.value, where)
    fields = getattr(type(value), "__dataclass_fields__", None)
    if isinstance(fields, dict) and not isinstance(value, type):
        return {name: to_json(getattr(value, name), f"{where}.{name}") for name in fields}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    raise OutputError(f"{where} is a {type(value).__name__}, which is not a JSON value")


# --------------------------------------------------------------------------- JSON in


def annotations_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The function's resolved annotations; unresolvable ones are left out (their value stays JSON)."""
    import typing

    try:
        return typing.get_type_hints(fn)
    except Exception:
        raw = getattr(fn, "__annotations__", {}) or {}
        return {k: v for k, v in raw.items() if not isinstance(v, str)}


def from_json(annotation: Any, value: Any) -> Any:
    """``value`` rebuilt as ``annotation`` asks: enums, dataclasses, pydantic models, containers of them."""
    if value is None or annotation is None:
        return value
    import typing

    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return from_json(args[0], value)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        members = [a for a in args if a is not type(None)]
        return from_json(members[0], value) if len(members) == 1 else value
    if origin in (list, tuple) and isinstance(value, list):
        items = [from_json(args[0] if args else None, v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict and isinstance(value, dict):
        inner = args[1] if len(args) == 2 else None
        return {k: from_json(inner, v) for k, v in value.items()}
    if not isinstance(annotation, type):
        return value
    enum = sys.modules.get("enum")
    if enum is not None and issubclass(annotation, enum.Enum):
        return annotation(value)
    validate = getattr(annotation, "model_validate", None)
    if callable(validate) and isinstance(value, dict):
        return validate(value)
    fields = getattr(annotation, "__dataclass_fields__", None)
    if isinstance(fields, dict) and isinstance(value, dict):
        hints = typing.get_type_hints(annotation)
        return annotation(**{k: from_json(hints.get(k), v) for k, v in value.items()})
    return value


# --------------------------------------------------------------------------- objects


def dump_object(value: Any) -> tuple[bytes, str]:
    """A stored object's bytes and their format (``cloudpickle`` or ``pickle``)."""
    try:
        import cloudpickle  # type: ignore[import-untyped]
    except ImportError:
        import pickle

        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), "pickle"
    return cloudpickle.dumps(value), "cloudpickle"


def load_object(data: bytes) -> Any:
    """A stored object from its bytes (both formats load with the standard unpickler)."""
    import pickle

    return pickle.loads(data)
