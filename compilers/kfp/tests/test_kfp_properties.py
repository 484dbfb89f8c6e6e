"""Property test (issue 6): random DAGs with maps and conditions compile to KFP documents that pass every
strict check and, run by ``mlopsdsl.testing.run_kfp``, give what the local runner gives.

Hypothesis draws a short list of operations over the values made so far (two pipeline parameters to
start): a step call, a map over a list made at run time, a map over a literal list with a broadcast
argument, a written list of outputs as one input, a field of every result of a map, and a
``when``/``otherwise`` pair (possibly on a field of a stored value) joined by ``ml.one_of``. Few, small examples: every task of an
emulated run is a subprocess.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlopsdsl_kfp._validate import validate

import mlopsdsl as ml
from mlopsdsl.testing import run_kfp


@ml.step
def inc(x: int) -> int:
    return x + 1


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.step
def upto(n: int) -> list[int]:
    return list(range(n % 4))


@ml.step
def total(values: list[int]) -> int:
    return sum(values)


class Opaque:
    """Makes ``Held`` a stored value (pickled whole), whose ``value`` field stays selectable."""


@dataclasses.dataclass
class Held:
    blob: Opaque
    value: int


@dataclasses.dataclass
class Pair:
    low: int
    high: int


@ml.step
def held(x: int) -> Held:
    return Held(Opaque(), x)


@ml.step
def pair(x: int) -> Pair:
    return Pair(x - 1, x + 1)


Op = tuple[str, int, int, int]

OPS = st.lists(
    st.tuples(
        st.sampled_from(["inc", "add", "map", "literal", "when", "gather", "fields", "when-held"]),
        st.integers(0, 9),
        st.integers(0, 9),
        st.integers(-2, 4),
    ),
    min_size=1,
    max_size=4,
)


def build(ops: list[Op]) -> Any:
    """The pipeline the operations describe; its output is the last value made."""

    @ml.pipeline(name="random-flow")
    def random_flow(x: int = 1, y: int = 2) -> int:
        values: list[Any] = [x, y]
        for kind, i, j, c in ops:
            a, b = values[i % len(values)], values[j % len(values)]
            if kind == "inc":
                value = inc(x=a)
            elif kind == "add":
                value = add(a=a, b=b)
            elif kind == "map":
                value = total(values=inc.map(x=upto(n=a)))
            elif kind == "literal":
                value = total(values=add.map(a=[c, c + 1, c + 2], b=b, max_parallel=2))
            elif kind == "gather":  # a written list of outputs, one input
                value = total(values=[a, b, c])
            elif kind == "fields":  # a field of every result of a map
                value = total(values=pair.map(x=upto(n=a)).high)
            else:
                if kind == "when-held":  # a condition on a field of a stored value
                    a = held(x=a).value
                with ml.when((a > c) | (b == c)):
                    yes = inc(x=a)
                with ml.otherwise():
                    no = add(a=a, b=b)
                value = ml.one_of(yes, no)
            values.append(value)
        return values[-1]  # type: ignore[no-any-return]

    return random_flow


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, x=st.integers(-1, 3), y=st.integers(-1, 3))
def test_random_flows_agree_with_the_local_runner(ops: list[Op], x: int, y: int) -> None:
    pipeline = build(ops)
    text = ml.compile(pipeline, backend="kfp", functions=pipeline.step_functions())
    assert validate(text) == []
    assert text == ml.compile(pipeline, backend="kfp", functions=pipeline.step_functions())
    with tempfile.TemporaryDirectory() as folder:
        local = ml.run(
            pipeline,
            params={"x": x, "y": y},
            home=Path(folder) / "home",
            in_process=True,
            progress=False,
            cache=False,
        )
        emulated = run_kfp(text, {"x": x, "y": y}, workdir=Path(folder) / "kfp")
    assert emulated.status == "Succeeded", emulated.logs
    assert emulated.outputs == dict(local.outputs)
