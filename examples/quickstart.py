"""The quick start: load numbers, fit a line, report the fit.

Run it with `mlopsdsl run examples/quickstart.py`.
"""

from typing import NamedTuple

import mlopsdsl as ml


class Fit(NamedTuple):
    slope: float
    intercept: float


@ml.step
def load(n: int) -> list[float]:
    """Noisy points on the line y = 3x + 1."""
    return [3.0 * x + 1.0 + (0.5 if x % 2 else -0.5) for x in range(n)]


@ml.step(retry=ml.Retry(attempts=3, backoff="1s"), timeout="5m")
def fit(ys: list[float], lr: float = 0.1) -> Fit:
    """Least squares on (x, y) with x = 0, 1, 2, ..."""
    n = len(ys)
    mean_x = (n - 1) / 2
    mean_y = sum(ys) / n
    cov = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(ys))
    var = sum((x - mean_x) ** 2 for x in range(n))
    slope = cov / var
    return Fit(slope=slope, intercept=mean_y - slope * mean_x)


@ml.step(resources=ml.Resources(cpu="250m", memory="256Mi"))
def report(slope: float, intercept: float) -> str:
    return f"y = {slope:.2f}x + {intercept:.2f}"


@ml.pipeline(name="quickstart")
def quickstart(n: int = 100, lr: float = 0.1) -> str:
    """Fit a line to generated points."""
    line = fit(ys=load(n=n), lr=lr)
    return report(slope=line.slope, intercept=line.intercept)
