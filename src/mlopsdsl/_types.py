"""Python annotations to IR types, and the rules for which type may flow into which.

Parameters are JSON values and travel by value; everything else is stored and passed by reference
(``ml.Artifact`` and its kinds for files and folders, ``object`` for any other Python value). This module
decides which is which, and answers the two questions validation asks: may a value of type A feed an
input of type B (:func:`assignable`), and does a literal written in the pipeline fit a type
(:func:`check_value`).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import sys
import types
import typing
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from mlopsdsl.ir import JsonValue, TypeKind, TypeSpec

if TYPE_CHECKING:
    from pydantic import BaseModel

_SCALARS: dict[Any, TypeKind] = {str: "str", int: "int", float: "float", bool: "bool", type(None): "null"}


class UnsupportedType(Exception):
    """An annotation mlopsdsl cannot pass between steps; the message says what to use instead."""


def type_name(tp: Any) -> str:
    module = getattr(tp, "__module__", "")
    qualname = getattr(tp, "__qualname__", getattr(tp, "__name__", repr(tp)))
    return qualname if module in ("builtins", "") else f"{module}.{qualname}"


def describe(tp: Any) -> str:
    """An annotation as a user would write it."""
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def to_spec(tp: Any) -> TypeSpec:
    """The IR type of an annotation. Raises :class:`UnsupportedType` with advice when there is none."""
    from mlopsdsl.artifacts import Artifact

    if tp is Any:
        return TypeSpec(kind="json")
    if tp in _SCALARS:
        return TypeSpec(kind=_SCALARS[tp])
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return to_spec(args[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1 and len(args) == 2:
            inner = to_spec(members[0])
            if inner.kind == "optional":
                return inner
            return TypeSpec(kind="optional", items=inner)
        raise UnsupportedType(
            f"{describe(tp)} is a union, which cannot be passed between steps; use one type, or Optional[T]"
        )
    if origin is typing.Literal:
        if not all(isinstance(a, str | int | bool) for a in args):
            raise UnsupportedType(f"{describe(tp)}: Literal values must be str, int or bool")
        return TypeSpec(kind="enum", values=list(args))
    if tp in (list, tuple) or origin in (list, tuple):
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            raise UnsupportedType(
                f"{describe(tp)}: fixed-length tuples cannot be passed; use tuple[T, ...], list[T] "
                "or a NamedTuple"
            )
        item = to_spec(args[0]) if args else TypeSpec(kind="json")
        return _json_or_object(TypeSpec(kind="list", items=item), tp)
    if tp is dict or origin is dict:
        if args and args[0] is not str:
            raise UnsupportedType(f"{describe(tp)}: dictionary keys must be str to travel as JSON")
        value = to_spec(args[1]) if args else TypeSpec(kind="json")
        return _json_or_object(TypeSpec(kind="dict", items=value), tp)
    if isinstance(tp, type):
        if issubclass(tp, Artifact):
            return TypeSpec(kind="artifact", name=tp.__name__)
        if issubclass(tp, enum.Enum):
            values = [m.value for m in tp]
            if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
                raise UnsupportedType(
                    f"enum {tp.__name__}: member values must be str or int to travel as JSON"
                )
            return TypeSpec(kind="enum", name=type_name(tp), values=values)
        if _is_pydantic_model(tp):
            return _struct("model", tp, {n: f.annotation for n, f in tp.model_fields.items()})
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp)
            return _struct("dataclass", tp, {f.name: hints.get(f.name, Any) for f in dataclasses.fields(tp)})
        return TypeSpec(kind="object", name=type_name(tp))
    if isinstance(tp, typing.TypeVar):
        raise UnsupportedType(f"type variable {tp} cannot be passed between steps; annotate a concrete type")
    raise UnsupportedType(f"{describe(tp)} is not a type mlopsdsl can pass between steps")


def _is_pydantic_model(tp: type) -> TypeGuard[type[BaseModel]]:
    if "pydantic" not in sys.modules:  # no model can exist without it: not worth ~120 ms of import to ask
        return False
    from pydantic import BaseModel

    return issubclass(tp, BaseModel)


def _struct(kind: Literal["model", "dataclass"], tp: type, fields: dict[str, Any]) -> TypeSpec:
    specs = {}
    stored = False
    for name, annotation in fields.items():
        try:
            specs[name] = to_spec(annotation)
        except UnsupportedType:
            stored = True  # an untyped field: the whole value is stored, and the field is not selectable
            continue
        stored = stored or specs[name].is_stored
    if stored:
        # Stored whole, yet its typed fields stay selectable (``result.accuracy`` of a dataclass that also
        # holds an array), so conditions and inputs can read them.
        return TypeSpec(kind="object", name=type_name(tp), fields=specs or None)
    return TypeSpec(kind=kind, name=type_name(tp), fields=specs)


def _json_or_object(spec: TypeSpec, tp: Any) -> TypeSpec:
    """A container of non-JSON items is one stored object, not a JSON value."""
    if spec.items is not None and not spec.items.is_parameter:
        # Stored whole; ``items`` keeps the element type, so a written list of outputs can be checked.
        return TypeSpec(kind="object", name=describe(tp), items=spec.items)
    return spec


# --------------------------------------------------------------------------- compatibility


def assignable(src: TypeSpec, dst: TypeSpec) -> bool:
    """May a value of type ``src`` feed an input of type ``dst``? Follows what a type checker accepts."""
    if dst.kind == "json":
        return src.is_parameter
    if src.kind == "json":
        return dst.is_parameter
    if dst.kind == "optional":
        assert dst.items is not None
        if src.kind == "null":
            return True
        if src.kind == "optional":
            assert src.items is not None
            return assignable(src.items, dst.items)
        return assignable(src, dst.items)
    if src.kind == "optional":
        return False
    if src.kind == "list" and dst.kind == "object" and src.items is not None and not src.items.is_parameter:
        # The collected outputs of a map (stored values) into a ``list[T]`` input (one stored object).
        wanted = str(dst)
        return wanted == f"list[{src.items}]" or (src.items.kind == "artifact" and wanted == "list[Artifact]")
    if dst.kind == "float" and src.kind in ("int", "bool"):
        return True
    if dst.kind == "int" and src.kind == "bool":
        return True
    if src.kind != dst.kind:
        return False
    if src.kind in ("list", "dict"):
        assert src.items is not None and dst.items is not None
        return assignable(src.items, dst.items)
    if src.kind == "enum":
        if dst.name is not None or src.name is not None:
            return src.name == dst.name
        return set(map(_hashable, src.values or [])) <= set(map(_hashable, dst.values or []))
    if src.kind == "artifact":
        return dst.name == "Artifact" or src.name == dst.name
    if src.kind in ("model", "dataclass", "object"):
        return src.name == dst.name or dst.name in ("object", "typing.Any")
    return True


def _hashable(value: JsonValue) -> Any:
    return (type(value).__name__, value)


def is_artifact_parameter(type_: TypeSpec) -> bool:
    """Whether a pipeline parameter of this type takes an artifact, optional or not: on the pipeline that is
    run, the URI of an existing one (read by an import task); on a sub-pipeline, one a task made."""
    inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
    return inner.kind == "artifact"


def check_value(value: JsonValue, spec: TypeSpec, where: str = "value") -> str | None:
    """Why a JSON value does not fit ``spec``, or ``None`` when it does."""
    kind = spec.kind
    if kind == "json":
        return None
    if kind == "optional":
        assert spec.items is not None
        return None if value is None else check_value(value, spec.items, where)
    if kind == "null":
        return None if value is None else f"{where} must be None, got {value!r}"
    if kind == "bool":
        return None if isinstance(value, bool) else _wrong(where, spec, value)
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else _wrong(where, spec, value)
    if kind == "float":
        if isinstance(value, float):
            return None if math.isfinite(value) else f"{where} must be a finite number, got {value!r}"
        if isinstance(value, int) and not isinstance(value, bool):
            # The step receives float(value): an int beyond the largest double has none.
            if abs(value) <= sys.float_info.max:
                return None
            return f"{where} is too large for a float, got {value}"
        return _wrong(where, spec, value)
    if kind == "str":
        return None if isinstance(value, str) else _wrong(where, spec, value)
    if kind == "artifact":  # an existing artifact, by URI (a pipeline parameter read by an importer task)
        from mlopsdsl.runtime.builtins import uri_problem

        return uri_problem(value, where)
    if kind == "enum":
        allowed = spec.values or []
        if any(type(value) is type(v) and value == v for v in allowed):
            return None
        return f"{where} must be one of {', '.join(repr(v) for v in allowed)}, got {value!r}"
    if kind == "list":
        if not isinstance(value, list):
            return _wrong(where, spec, value)
        assert spec.items is not None
        for i, item in enumerate(value):
            problem = check_value(item, spec.items, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if kind in ("dict", "model", "dataclass"):
        if not isinstance(value, dict):
            return _wrong(where, spec, value)
        if kind == "dict":
            assert spec.items is not None
            for key, item in value.items():
                problem = check_value(item, spec.items, f"{where}[{key!r}]")
                if problem:
                    return problem
            return None
        fields = spec.fields or {}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            return f"{where} has unknown field(s) {', '.join(unknown)} for {spec}"
        for key, item in value.items():
            problem = check_value(item, fields[key], f"{where}.{key}")
            if problem:
                return problem
        return None
    return f"{where}: a {spec} cannot be written as a literal; produce it in a step"


def _wrong(where: str, spec: TypeSpec, value: JsonValue) -> str:
    return f"{where} must be {spec}, got {type(value).__name__} {value!r}"


def to_json_value(value: Any) -> tuple[JsonValue, bool]:
    """A Python literal as a JSON value, and whether that was possible.

    Enums become their values, dataclasses and pydantic models dicts, tuples lists. Floats must be finite.
    """
    if isinstance(value, enum.Enum):  # first: a ``str`` or ``int`` enum is a str or an int too
        return to_json_value(value.value)
    if value is None or isinstance(value, bool | str | int):
        return value, True
    if isinstance(value, float):
        return value, math.isfinite(value)
    if isinstance(value, list | tuple):
        items = [to_json_value(v) for v in value]
        return [i for i, _ in items], all(ok for _, ok in items)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return None, False
        pairs = {k: to_json_value(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, all(ok for _, ok in pairs.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json_value({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if "pydantic" not in sys.modules:  # then the value is no model
        return None, False
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return to_json_value(value.model_dump(mode="json"))
    return None, False
