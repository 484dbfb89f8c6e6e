"""Property test (issue 6): random pipelines with maps and conditions compile to Argo documents that pass
every strict check, and ``run_argo`` gives the same outputs as the local runner and as plain Python.

A pipeline is generated as a small program over integer values: steps combining earlier values, a map
over a short list computed from one of them (possibly empty) followed by a fan-in, a written list of
outputs as one input, a field of every result of a map, and ``when``/``otherwise`` pairs (possibly nested,
possibly on a field of a stored value) whose results are picked with ``ml.one_of``. The same program is
also evaluated in plain Python, which gives the expected output.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings
from mlopsdsl_argo import ArgoBackend
from test_argo_compile import assert_valid

import mlopsdsl as ml
from mlopsdsl.testing import run_argo


@ml.step
def plus(a: int, b: int) -> int:
    return a + b


@ml.step
def times(a: int, b: int) -> int:
    return a * b


@ml.step
def upto(n: int) -> list[int]:
    return list(range(n % 4))


@ml.step
def summed(values: list[int]) -> int:
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


STEPS = {"plus": plus, "times": times}

Op = tuple[Any, ...]


def _ops(depth: int) -> st.SearchStrategy[list[Op]]:
    """A program: each op reads earlier values by index (taken modulo the number of values so far)."""
    index = st.integers(0, 20)
    simple = st.one_of(
        st.tuples(st.sampled_from(["plus", "times", "gather"]), index, index),
        st.tuples(st.just("fields"), index),
        st.tuples(
            st.just("map"), index, st.sampled_from(["plus", "times"]), index, st.sampled_from([None, 2])
        ),
    )
    if depth == 0:
        return st.lists(simple, min_size=1, max_size=3)
    branch = st.tuples(
        st.sampled_from(["when", "when-held"]),
        st.sampled_from([">", "<=", "==", "!="]),
        index,
        st.one_of(index.map(lambda i: ("value", i)), st.integers(-2, 5).map(lambda c: ("const", c))),
        st.deferred(lambda: _ops(depth - 1)),
        st.deferred(lambda: _ops(depth - 1)),
    )
    return st.lists(st.one_of(simple, branch), min_size=1, max_size=3)


def _compare(op: str, a: int, b: int) -> bool:
    return {">": a > b, "<=": a <= b, "==": a == b, "!=": a != b}[op]


def _plain(ops: list[Op], values: list[int]) -> int:
    """What the program computes as plain Python; returns the last value made."""
    for op in ops:
        if op[0] in STEPS:
            a, b = values[op[1] % len(values)], values[op[2] % len(values)]
            values.append(a + b if op[0] == "plus" else a * b)
        elif op[0] == "gather":
            values.append(values[op[1] % len(values)] + values[op[2] % len(values)] + 7)
        elif op[0] == "fields":
            values.append(sum(i + 1 for i in range(values[op[1] % len(values)] % 4)))
        elif op[0] == "map":
            items = list(range(values[op[1] % len(values)] % 4))
            other = values[op[3] % len(values)]
            values.append(sum(i + other if op[2] == "plus" else i * other for i in items))
        else:
            _, cmp, left, right, yes, no = op
            r = values[right[1] % len(values)] if right[0] == "value" else right[1]
            branch = yes if _compare(cmp, values[left % len(values)], r) else no
            values.append(_plain(branch, list(values)))
    return values[-1]


def _traced(ops: list[Op], values: list[Any]) -> Any:
    """The same program inside a pipeline: steps, ``.map``, ``ml.when``/``ml.otherwise``, ``ml.one_of``."""
    for op in ops:
        if op[0] in STEPS:
            values.append(STEPS[op[0]](a=values[op[1] % len(values)], b=values[op[2] % len(values)]))
        elif op[0] == "gather":  # a written list of outputs, one input
            values.append(summed(values=[values[op[1] % len(values)], values[op[2] % len(values)], 7]))
        elif op[0] == "fields":  # a field of every result of a map
            values.append(summed(values=pair.map(x=upto(n=values[op[1] % len(values)])).high))
        elif op[0] == "map":
            step = STEPS[op[2]]
            runs = step.map(
                a=upto(n=values[op[1] % len(values)]), b=values[op[3] % len(values)], max_parallel=op[4]
            )
            values.append(summed(values=runs))
        else:
            kind, cmp, left, right, yes, no = op
            lhs = values[left % len(values)]
            if kind == "when-held":  # a field of a stored value
                lhs = held(x=lhs).value
            rhs = values[right[1] % len(values)] if right[0] == "value" else right[1]
            condition = {">": lhs > rhs, "<=": lhs <= rhs, "==": lhs == rhs, "!=": lhs != rhs}[cmp]
            with ml.when(condition):
                got_yes = plus(a=_traced(yes, list(values)), b=0)
            with ml.otherwise():
                got_no = plus(a=_traced(no, list(values)), b=0)
            values.append(ml.one_of(got_yes, got_no))
    return values[-1]


def _pipeline(ops: list[Op]) -> Any:
    def random_flow(x: int = 2, y: int = 3) -> int:
        return _traced(ops, [plus(a=x, b=0), plus(a=y, b=0)])  # type: ignore[no-any-return]

    return ml.pipeline(random_flow)


@settings(max_examples=10, deadline=None)
@given(ops=_ops(2), x=st.integers(-1, 5), y=st.integers(-1, 5))
def test_random_pipelines_agree_on_argo_locally_and_in_python(ops: list[Op], x: int, y: int) -> None:
    pipeline = _pipeline(ops)
    want = _plain(ops, [x, y])
    text = ml.compile(pipeline, backend=ArgoBackend())
    assert_valid(text)
    with tempfile.TemporaryDirectory() as tmp:
        local = ml.run(
            pipeline,
            params={"x": x, "y": y},
            in_process=True,
            progress=False,
            cache=False,
            home=Path(tmp) / "h",
        )
        assert dict(local.outputs) == {"output": want}
        emulated = run_argo(text, {"x": x, "y": y}, workdir=Path(tmp) / "argo")
        assert emulated.succeeded, emulated.logs
        assert emulated.outputs == {"output": want}
