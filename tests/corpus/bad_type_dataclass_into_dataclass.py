from dataclasses import dataclass

import mlopsdsl as ml


@dataclass
class Point:
    x: float
    y: float


@dataclass
class Size:
    width: float
    height: float


@ml.step
def origin() -> Point:
    return Point(0.0, 0.0)


@ml.step
def area(size: Size) -> float:
    return size.width * size.height


@ml.pipeline
def measuring() -> float:
    return area(size=origin())  # error: input 'size' of step 'area' expects Size, but the output of origin is Point
