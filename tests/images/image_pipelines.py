"""Pipelines whose steps need third-party libraries, reached in every way the image analysis follows.

numpy and pandas are test dependencies (pyproject's ``test`` extra), so these import at module level.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

import mlopsdsl as ml


def _doubled(values: list[int]) -> list[float]:
    """A helper: the step that calls it needs numpy through it."""
    return [float(v) for v in np.asarray(values) * 2.0]


@ml.step
def make(n: int) -> pd.DataFrame:
    """Needs pandas directly and numpy through ``_doubled``; its output is stored as parquet (pyarrow)."""
    return pd.DataFrame({"x": list(range(n)), "y": _doubled(list(range(n)))})


@ml.step
def total(frame: pd.DataFrame) -> float:
    """Imports nothing itself: needs pandas (and pyarrow) through the type of its input."""
    return float(frame["y"].sum())


@ml.step
def spread(x: float) -> float:
    """Imports numpy inside its body."""
    import numpy

    return float(numpy.std([x, 2 * x]))


@ml.step
def label(x: float, y: float) -> str:
    """Needs nothing but the standard library."""
    return json.dumps({"total": x, "spread": y})


@ml.pipeline(name="frames")
def frames(n: int = 4) -> str:
    t = total(frame=make(n=n))
    return label(x=t, y=spread(x=t))


@ml.step(packages=["numpy"])
def declared(n: int) -> float:
    """Declares what it needs in packages=."""
    return float(np.sum(np.arange(n)))


@ml.pipeline(name="declared")
def declared_pipeline(n: int = 3) -> float:
    return declared(n=n)
