"""Cases the compilers' test suites share: random pipelines with maps and conditions, and retry schedules.

The KFP and Argo suites check the same two properties: a random pipeline compiles to a document that, run
by the backend's emulator, gives what the local runner and plain Python give; and the retry rule a
compiler writes, replayed through the model of Argo's controller (:mod:`._retries`), gives the schedule of
``ml.Retry``. The pipelines, what plain Python says they compute, the strategies that draw them and the
replay of a retry rule live here, once; each backend's test keeps its own assertions (what its document
must pass, which emulator runs it, what its retry rule says about exit statuses) in its own package.

A program is a short list of operations over the integer values made so far (two pipeline parameters to
start), each reading earlier values by index (taken modulo the number of values so far): a step combining
two values, a map over a list made at run time (possibly empty) followed by a fan-in, a map over a literal
list with a broadcast argument, a written list of outputs as one input, a field of every result of a map,
and ``when``/``otherwise`` pairs (possibly nested, possibly on a field of a stored value) whose results are
picked with ``ml.one_of``. Few, small examples: every task of an emulated run is a subprocess.

Needs hypothesis, a test dependency.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]
import hypothesis.strategies as st
from hypothesis import reject

import mlopsdsl as ml
from mlopsdsl.errors import DefinitionError
from mlopsdsl.testing._retries import Attempt, decide

__all__ = [
    "PARAMS",
    "RETRIES",
    "Op",
    "flows",
    "local_outputs",
    "plain",
    "random_pipeline",
    "replay",
    "schedule",
]


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

# The runtime bundle holds no ``mlopsdsl.testing``: these steps and classes travel by value, as a user's own.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

Op = tuple[Any, ...]
"""One operation of a program (see the module's docstring)."""

PARAMS = st.integers(-1, 5)
"""The values drawn for the pipeline's two parameters."""


def flows(depth: int = 2) -> st.SearchStrategy[list[Op]]:
    """Programs with ``when``/``otherwise`` pairs nested at most ``depth`` deep."""
    index = st.integers(0, 20)
    simple = st.one_of(
        st.tuples(st.sampled_from(["plus", "times", "gather"]), index, index),
        st.tuples(st.just("fields"), index),
        st.tuples(
            st.just("map"), index, st.sampled_from(["plus", "times"]), index, st.sampled_from([None, 2])
        ),
        st.tuples(st.just("literal"), st.integers(-2, 4), index),
    )
    if depth == 0:
        return st.lists(simple, min_size=1, max_size=3)
    branch = st.tuples(
        st.sampled_from(["when", "when-held"]),
        st.sampled_from([">", "<=", "==", "!="]),
        index,
        st.one_of(index.map(lambda i: ("value", i)), st.integers(-2, 5).map(lambda c: ("const", c))),
        st.deferred(lambda: flows(depth - 1)),
        st.deferred(lambda: flows(depth - 1)),
    )
    return st.lists(st.one_of(simple, branch), min_size=1, max_size=3)


def _compare(op: str, a: Any, b: Any) -> Any:
    return {">": a > b, "<=": a <= b, "==": a == b, "!=": a != b}[op]


def plain(ops: list[Op], values: list[int]) -> int:
    """What the program computes as plain Python, from the parameters ``values``: the last value made."""
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
        elif op[0] == "literal":
            values.append(sum(i + values[op[2] % len(values)] for i in (op[1], op[1] + 1, op[1] + 2)))
        else:
            _, cmp, left, right, yes, no = op
            r = values[right[1] % len(values)] if right[0] == "value" else right[1]
            branch = yes if _compare(cmp, values[left % len(values)], r) else no
            values.append(plain(branch, list(values)))
    return values[-1]


def _traced(ops: list[Op], values: list[Any]) -> Any:
    """The same program inside a pipeline: steps, ``.map``, ``ml.when``/``ml.otherwise``, ``ml.one_of``."""
    for op in ops:
        if op[0] in STEPS:
            values.append(STEPS[op[0]](a=values[op[1] % len(values)], b=values[op[2] % len(values)]))
        elif op[0] == "gather":  # a written list of outputs, one input
            values.append(summed(values=[values[op[1] % len(values)], values[op[2] % len(values)], 7]))
        elif op[0] == "fields":  # a field of every result of a map (typed as a list of results)
            highs = pair.map(x=upto(n=values[op[1] % len(values)])).high  # type: ignore[attr-defined]
            values.append(summed(values=highs))
        elif op[0] == "map":
            step = STEPS[op[2]]
            runs = step.map(
                a=upto(n=values[op[1] % len(values)]), b=values[op[3] % len(values)], max_parallel=op[4]
            )
            values.append(summed(values=runs))
        elif op[0] == "literal":  # a literal list, with a broadcast argument
            c = op[1]
            values.append(summed(values=plus.map(a=[c, c + 1, c + 2], b=values[op[2] % len(values)])))
        else:
            kind, cmp, left, right, yes, no = op
            lhs = values[left % len(values)]
            if kind == "when-held":  # a field of a stored value
                lhs = held(x=lhs).value
            rhs = values[right[1] % len(values)] if right[0] == "value" else right[1]
            with ml.when(_compare(cmp, lhs, rhs)):
                got_yes = plus(a=_traced(yes, list(values)), b=0)
            with ml.otherwise():
                got_no = plus(a=_traced(no, list(values)), b=0)
            values.append(ml.one_of(got_yes, got_no))
    return values[-1]


def random_pipeline(ops: list[Op]) -> Any:
    """The program as a pipeline with parameters ``x`` and ``y``; its output is the last value made."""

    def random_flow(x: int = 2, y: int = 3) -> int:
        return _traced(ops, [plus(a=x, b=0), plus(a=y, b=0)])  # type: ignore[no-any-return]

    return ml.pipeline(name="random-flow")(random_flow)


def local_outputs(pipeline: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The outputs of one uncached run of ``pipeline`` by the local runner, in this process."""
    with tempfile.TemporaryDirectory() as folder:
        run = ml.run(pipeline, params=params, home=Path(folder), in_process=True, progress=False, cache=False)
        return dict(run.outputs)


@st.composite
def _retries(draw: st.DrawFn) -> ml.Retry:
    attempts, backoff, factor = draw(st.integers(2, 6)), draw(st.integers(0, 600)), draw(st.integers(1, 6))
    try:
        return ml.Retry(attempts=attempts, backoff=backoff, factor=factor)
    except DefinitionError:
        reject()  # a schedule Retry refuses (a wait over 7 days)


RETRIES = _retries()
"""Retry rules; :func:`schedule` says what they must give when every attempt fails."""


def schedule(retry: ml.Retry) -> tuple[int, list[float]]:
    """What replaying ``retry``'s rule must give when every attempt fails: all its attempts, and the waits
    of :meth:`ml.Retry.schedule` (a wait of 0 is no wait)."""
    return retry.attempts, (retry.schedule() if retry.backoff else [])


def replay(
    strategy: dict[str, Any],
    exit_codes: list[int],
    evaluate: Callable[[str, dict[str, Any]], Any],
    seconds: float = 5.0,
) -> tuple[int, list[float]]:
    """Attempts made and waits, by the controller's model, for attempts that each run ``seconds`` and exit
    with ``exit_codes`` in turn; ``evaluate`` reads the strategy's ``expression``."""
    ends = [("Failed", str(code), f"Error (exit code {code})") for code in exit_codes]
    return replay_ends(strategy, ends, evaluate, seconds)


def replay_ends(
    strategy: dict[str, Any],
    ends: list[tuple[str, str, str]],
    evaluate: Callable[[str, dict[str, Any]], Any],
    seconds: float = 5.0,
) -> tuple[int, list[float]]:
    """:func:`replay` for attempts that end as ``ends`` say, in turn: each a node phase, exit code and
    message."""
    clock, failed, waits = 0.0, [], []
    for phase, code, message in ends:
        failed.append(Attempt(phase, code, message, clock, clock + seconds))
        clock += seconds
        verdict = decide(strategy, failed, clock, evaluate)
        if verdict.wait:
            waits.append(verdict.wait)
            clock += verdict.wait
        if not verdict.retry:
            break
    return len(failed), waits
