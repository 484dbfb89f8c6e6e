from typing import NamedTuple

import mlopsdsl as ml


class Fit(NamedTuple):
    slope: float
    intercept: float


@ml.step
def fit(n: int) -> Fit:
    return Fit(3.0, 1.0)


@ml.step
def report(slope: float) -> str:
    return f"{slope:.2f}"


@ml.pipeline
def fitting(n: int = 10) -> str:
    return report(slope=fit(n=n).gradient)  # error: step 'fit' has no output 'gradient' (outputs: slope, intercept)
