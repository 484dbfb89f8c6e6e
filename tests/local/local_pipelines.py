"""Pipelines the local runner tests run: every shape of value passing, module helpers and imports."""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from pathlib import Path
from typing import NamedTuple

import mlopsdsl as ml

SCALE = 10  # a module constant a step reads


def scaled(x: float) -> float:
    """A module-level helper a step calls."""
    return x * SCALE


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Metrics:
    accuracy: float
    loss: float


class Point:
    """A plain class: its instances travel as stored objects."""

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def norm(self) -> float:
        return math.hypot(self.x, self.y)


class Split(NamedTuple):
    left: int
    right: int


@ml.step
def source(n: int) -> int:
    return n


@ml.step
def add(a: int, b: int = 1) -> int:
    return a + b


@ml.step
def split(n: int) -> Split:
    return Split(left=n // 2, right=n - n // 2)


@ml.step
def evaluate(x: int, colour: Colour = Colour.RED) -> Metrics:
    assert isinstance(colour, Colour)
    return Metrics(accuracy=scaled(x) / 100, loss=1.0 / (1 + x))


@ml.step
def make_point(x: float, y: float) -> Point:
    return Point(x, y)


@ml.step
def norm(p: Point) -> float:
    assert isinstance(p, Point)
    return round(p.norm(), 6)


@ml.step
def write_data(rows: int) -> ml.Dataset:
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"mlopsdsl-test-{os.getpid()}-{rows}.csv"
    folder.write_text("".join(f"{i},{i * i}\n" for i in range(rows)))
    return ml.Dataset(path=str(folder), metadata={"rows": rows})


@ml.step
def count_rows(data: ml.Dataset) -> int:
    assert data.metadata == {"rows": 3}, data.metadata
    return len(Path(data.path).read_text().splitlines())


@ml.step
def combine(accuracy: float, norm: float, rows: int, colour: Colour) -> str:
    return f"{accuracy:.2f}/{norm}/{rows}/{colour.value}"


@ml.pipeline
def inner(n: int) -> Split:
    halves = split(n=add(a=n))
    return Split(left=halves.left, right=halves.right)


@ml.pipeline
def everything(n: int = 4, colour: Colour = Colour.BLUE) -> tuple[int, str, float]:
    """A diamond, a sub-pipeline, NamedTuple fields, a field path, an object, an artifact, an enum."""
    top = source(n=n)
    halves = inner(n=top)  # sub-pipeline
    left = add(a=halves.left, b=top)  # diamond: both depend on top
    right = add(a=halves.right)
    metrics = evaluate(x=add(a=left, b=right), colour=colour)
    point = make_point(x=3.0, y=4.0)
    summary = combine(
        accuracy=metrics.accuracy, norm=norm(p=point), rows=count_rows(data=write_data(rows=3)), colour=colour
    )
    return add(a=left, b=right), summary, metrics.loss
