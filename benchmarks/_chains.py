"""The pipeline most benchmarks measure: a chain of ``n`` calls of one trivial step, each taking the
previous call's output. One definition, so that every figure in docs/performance.md is about the same
shape."""

from typing import Any

import mlopsdsl as ml


@ml.step
def inc(x: int) -> int:
    return x + 1


def chain(n: int, name: str | None = None) -> Any:
    """A fresh pipeline object (nothing cached from an earlier build) of ``n`` chained ``inc`` calls."""

    def body(x: int = 0) -> int:
        value = inc(x=x)
        for _ in range(n - 1):
            value = inc(x=value)
        return value

    return ml.pipeline(name=name or f"chain-{n}")(body)
