# A user's file, checked by mypy in tests/test_typing.py: the decorators keep signatures visible.
from typing import NamedTuple

import mlopsdsl as ml


class Split(NamedTuple):
    train: list[int]
    test: list[int]


@ml.step
def load(n: int, scale: float = 1.0) -> list[int]:
    return list(range(n))


@ml.step(retry=ml.Retry(attempts=2, backoff="10s", stop_on=[ValueError, "pkg.Error"]), timeout="1m")
def split(rows: list[int]) -> Split:
    return Split(rows[:1], rows[1:])


@ml.pipeline(name="typed")
def typed(n: int = 3) -> list[int]:
    rows = load(n=n)
    return split(rows=rows).train


reveal_type(load)
reveal_type(load(3))
reveal_type(split)
reveal_type(typed)
reveal_type(typed(n=2))
load(n="x")
load(m=1)
ml.step(retries=3)
ml.pipeline(nme="typed")
ml.Retry(attempt=3)
