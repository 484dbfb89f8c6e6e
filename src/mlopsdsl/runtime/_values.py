"""Values in and out of a step: JSON for parameters, pickles for stored objects.

Parameters travel as JSON, and JSON loses what Python's types say: a whole ``float`` comes back as an
``int`` from engines that print numbers without a needless ``.0`` (KFP), a ``tuple`` comes back as a list,
a model or dataclass as a dict, an enum as its value. So every JSON input is rebuilt by the step function's
own annotation (:func:`from_json`), whatever the backend: the step receives the type it declared. This
reads the annotations as Python objects; ``typing`` is imported only for annotations written as strings
(``from __future__ import annotations`` in an imported module), and pydantic only by steps whose
annotations already hold a model. Outputs go the other way: enums to their values, dataclasses and models
to dicts, tuples to lists.

Engines that hold numbers as IEEE-754 doubles (KFP) cannot carry an ``int`` beyond 2**53 exactly. A spec
marks such values ``float64``; :func:`check_float64` refuses them on the way out and on the way in, rather
than let ``99999999999999999999999`` become ``1e+23`` unnoticed.

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
    if type(value) in (bool, int, str) or value is None:
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
    if enum is not None and isinstance(value, enum.Enum):  # before str and int: an IntEnum is an int too
        return to_json(value.value, where)
    if isinstance(value, int):  # other subclasses of the JSON scalars, as their plain values
        return int(value)
    if isinstance(value, str):
        return str(value)
    fields = getattr(type(value), "__dataclass_fields__", None)
    if isinstance(fields, dict) and not isinstance(value, type):
        return {name: to_json(getattr(value, name), f"{where}.{name}") for name in fields}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    raise OutputError(f"{where} is a {type(value).__name__}, which is not a JSON value")


# --------------------------------------------------------------------------- JSON in

SAFE_INT = 2**53 - 1
"""The largest int an IEEE-754 double holds together with all its neighbours: beyond it, two ints may
travel as the same double."""


class LossyValue(Exception):
    """A value that travels as doubles holds an int a double cannot carry exactly."""


def check_float64(value: Any, where: str) -> None:
    """Refuse ``value`` when it holds an int beyond ±(2**53 - 1): a double would round it."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if -SAFE_INT <= value <= SAFE_INT:
            return
        shown = shown_int(value)
        try:
            becomes = f"it becomes {float(value):g}"
        except OverflowError:
            becomes = "it has no value at all"
        raise LossyValue(
            f"{where} is {shown}, beyond ±(2**53 - 1): KFP holds numbers as 64-bit floats, where {becomes}; "
            "pass it as a str (or in an Optional/Any value, which travels as JSON text)"
        )
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_float64(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_float64(item, f"{where}[{key!r}]")


def shown_int(value: int) -> str:
    """An int for a message: whole, or cut in the middle when it is long."""
    digits = str(value)
    return digits if len(digits) <= 40 else f"{digits[:12]}...{digits[-4:]} ({len(digits)} characters)"


def annotations_of(fn: Callable[..., Any]) -> dict[str, Any]:
    """The function's annotations as objects; unresolvable ones are left out (their value stays JSON).

    ``typing`` is imported only when some annotation is a string that must be resolved.
    """
    raw = getattr(fn, "__annotations__", None) or {}
    if not any(isinstance(v, str) for v in raw.values()):
        return dict(raw)
    import typing

    try:
        return typing.get_type_hints(fn)
    except Exception:
        return {k: v for k, v in raw.items() if not isinstance(v, str)}


def from_json(annotation: Any, value: Any) -> Any:
    """``value`` (decoded JSON) rebuilt as ``annotation`` asks.

    A whole number for a ``float`` becomes a float (and an integral float for an ``int`` an int), lists
    become tuples where a tuple is declared, and enums, dataclasses and pydantic models are rebuilt, inside
    lists, tuples, dicts and ``Optional`` too. What does not fit the annotation is left as it is: checking
    types is validation's job, not the runtime's.
    """
    if value is None or annotation is None:
        return value
    if annotation is float:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if annotation is int:
        if isinstance(value, float) and value.is_integer() and abs(value) <= SAFE_INT:
            return int(value)
        return value
    if annotation in (str, bool, object):
        return value
    origin = getattr(annotation, "__origin__", None)
    args: tuple[Any, ...] = getattr(annotation, "__args__", None) or ()
    if getattr(annotation, "__metadata__", None) is not None:  # Annotated[T, ...]: its origin is T
        return from_json(origin, value)
    if getattr(origin, "_name", None) == "Union" or type(annotation).__name__ == "UnionType":
        members = [a for a in args if a is not type(None)]
        return from_json(members[0], value) if len(members) == 1 else value
    if origin in (list, tuple) and isinstance(value, list):
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                return tuple(value)
            return tuple(from_json(a, v) for a, v in zip(args, value, strict=True))
        item = args[0] if args else None
        items = [from_json(item, v) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is tuple and isinstance(value, list):
        return tuple(value)
    if origin is dict and isinstance(value, dict):
        inner = args[1] if len(args) == 2 else None
        return {k: from_json(inner, v) for k, v in value.items()}
    if not isinstance(annotation, type):
        return value  # Literal, Any, type variables: JSON is already the value
    enum = sys.modules.get("enum")
    if enum is not None and issubclass(annotation, enum.Enum):
        return value if isinstance(value, annotation) else annotation(value)
    validate = getattr(annotation, "model_validate", None)
    if callable(validate) and isinstance(value, dict):
        return validate(value)
    fields = getattr(annotation, "__dataclass_fields__", None)
    if isinstance(fields, dict) and isinstance(value, dict):
        hints = _field_types(annotation, fields)
        return annotation(**{k: from_json(hints.get(k), v) for k, v in value.items()})
    return value


def _field_types(cls: type, fields: dict[str, Any]) -> dict[str, Any]:
    """A dataclass's field types as objects (``typing`` only for fields annotated with strings)."""
    types = {name: getattr(field, "type", None) for name, field in fields.items()}
    if not any(isinstance(t, str) for t in types.values()):
        return types
    import typing

    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {k: v for k, v in types.items() if not isinstance(v, str)}


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
