"""Annotations to IR types, what may flow into what, and literal values."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, NamedTuple, Optional, Union

import pydantic
import pytest

import mlopsdsl as ml
from mlopsdsl._types import UnsupportedType, assignable, check_value, to_json_value, to_spec
from mlopsdsl.ir import TypeSpec


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Shape(enum.Enum):
    RED = "red"


class Config(pydantic.BaseModel):
    lr: float
    layers: list[int] = [1]


class Other(pydantic.BaseModel):
    lr: float


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Point2:
    x: int
    y: int


class Blob:
    pass


@dataclasses.dataclass
class Holder:
    blob: Blob


class Pair(NamedTuple):
    a: int
    b: str


def spec(tp: Any) -> TypeSpec:
    return to_spec(tp)


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (str, "str"),
        (int, "int"),
        (float, "float"),
        (bool, "bool"),
        (type(None), "null"),
        (Any, "json"),
        (list[int], "list"),
        (dict[str, float], "dict"),
        (Optional[int], "optional"),
        (int | None, "optional"),
        (Color, "enum"),
        (Literal["a", "b"], "enum"),
        (Config, "model"),
        (Point, "dataclass"),
        (ml.Dataset, "artifact"),
        (ml.Artifact, "artifact"),
        (Blob, "object"),
        (list[Blob], "object"),
        (Holder, "object"),
        (tuple[int, ...], "list"),
        (list, "list"),
        (dict, "dict"),
    ],
)
def test_kinds(annotation: Any, kind: str) -> None:
    assert spec(annotation).kind == kind


def test_details() -> None:
    assert spec(list[int]).items == TypeSpec(kind="int")
    assert spec(Color).values == ["red", "blue"]
    assert spec(Color).name == f"{__name__}.Color"
    assert spec(Config).fields == {"lr": TypeSpec(kind="float"), "layers": spec(list[int])}
    assert spec(Point).fields == {"x": TypeSpec(kind="int"), "y": TypeSpec(kind="int")}
    assert spec(Blob).name == f"{__name__}.Blob"
    assert spec(ml.Model).name == "Model"
    assert not spec(Blob).is_parameter and not spec(ml.Dataset).is_parameter and spec(Config).is_parameter
    assert spec(Optional[int | None]) == spec(Optional[int])


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (Union[int, str], "is a union, which cannot be passed between steps; use one type, or Optional[T]"),
        (dict[int, str], "dictionary keys must be str to travel as JSON"),
        (tuple[int, str], "fixed-length tuples cannot be passed"),
        (Literal[1.5], "Literal values must be str, int or bool"),
    ],
)
def test_unsupported(annotation: Any, message: str) -> None:
    with pytest.raises(UnsupportedType, match=message.replace("[", r"\[").replace("]", r"\]")):
        spec(annotation)


@pytest.mark.parametrize(
    ("src", "dst", "ok"),
    [
        (int, float, True),
        (bool, int, True),
        (int, int, True),
        (float, int, False),
        (str, int, False),
        (list[int], list[str], False),
        (list[int], list[float], True),
        (Config, Other, False),
        (Config, Config, True),
        (Point, Point2, False),
        (Optional[int], int, False),
        (int, Optional[int], True),
        (type(None), Optional[str], True),
        (Color, Color, True),
        (Shape, Color, False),
        (str, Color, False),
        (ml.Dataset, ml.Artifact, True),
        (ml.Artifact, ml.Dataset, False),
        (ml.Model, ml.Dataset, False),
        (Blob, Blob, True),
        (Blob, Config, False),
        (Any, int, True),
        (int, Any, True),
        (Blob, Any, False),
        (Literal["a"], Literal["a", "b"], True),
        (Literal["c"], Literal["a", "b"], False),
        (dict[str, int], dict[str, float], True),
        (dict[str, str], dict[str, int], False),
    ],
)
def test_assignable(src: Any, dst: Any, ok: bool) -> None:
    assert assignable(spec(src), spec(dst)) is ok


@pytest.mark.parametrize(
    ("value", "annotation", "problem"),
    [
        (1, float, None),
        (True, int, "must be int, got bool True"),
        ("x", int, "must be int, got str 'x'"),
        ([1, 2], list[int], None),
        ([1, "a"], list[int], "value[1] must be int, got str 'a'"),
        (None, Optional[int], None),
        (None, int, "must be int, got NoneType None"),
        ("red", Color, None),
        ("green", Color, "must be one of 'red', 'blue', got 'green'"),
        ({"lr": 0.1}, Config, None),
        ({"lr": 0.1, "bad": 1}, Config, "unknown field(s) bad"),
        ({"x": 1, "y": "2"}, Point, "value.y must be int"),
        ({"a": 1}, dict[str, int], None),
        (1.5, str, "must be str, got float 1.5"),
        (float("nan"), float, "must be a finite number"),
        (float("-inf"), Optional[float], "must be a finite number"),
        (10**400, float, "is too large for a float"),
        (10**300, float, None),
        (10**400, int, None),
    ],
)
def test_check_value(value: Any, annotation: Any, problem: str | None) -> None:
    found = check_value(value, spec(annotation))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_to_json_value() -> None:
    assert to_json_value(Color.RED) == ("red", True)
    # A str or int enum is a str or an int too: it is still written as its plain value.
    for member in (Shade.DARK, Rank.TWO):
        value, ok = to_json_value(member)
        assert ok and type(value) in (str, int) and value == member.value
    assert to_json_value(Point(1, 2)) == ({"x": 1, "y": 2}, True)
    assert to_json_value(Config(lr=0.5)) == ({"lr": 0.5, "layers": [1]}, True)
    assert to_json_value((1, "a")) == ([1, "a"], True)
    assert to_json_value({1: "a"})[1] is False
    assert to_json_value({"a"})[1] is False
    assert to_json_value(Blob())[1] is False
    assert to_json_value(float("inf"))[1] is False


class Shade(enum.StrEnum):
    DARK = "dark"


class Rank(enum.IntEnum):
    TWO = 2


def test_type_str_reads_like_python() -> None:
    assert str(spec(list[int])) == "list[int]"
    assert str(spec(dict[str, float | None])) == "dict[str, float | None]"
    assert str(spec(Config)) == "Config"
    assert str(spec(Literal["a", "b"])) == 'Literal["a", "b"]'
    assert str(spec(ml.Dataset)) == "Dataset"
