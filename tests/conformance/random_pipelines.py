"""Random pipelines with maps and conditions, written as source code, with what plain Python says they give.

A program is a list of statements over integer and list-of-integer variables. :func:`pipeline_source`
writes it as an ``@ml.pipeline`` (``.map`` for fan-out, ``total`` for fan-in, ``ml.when``/``ml.otherwise``
with ``ml.one_of``, a written list of outputs as one input, a field of every result of a map, a
condition on a field of a stored value, and maps over a map's stored results, one of them waiting for
all of those results); :func:`expected` runs the same statements as plain Python
(``if``/``else``, list comprehensions). The test modules compare any path (the local runner, the KFP and Argo emulators) with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

STEPS = """
import dataclasses

import mlopsdsl as ml


class Opaque:
    pass


@dataclasses.dataclass
class Pair:
    low: int
    high: int


@dataclasses.dataclass
class Held:
    blob: Opaque
    value: int


@ml.step
def pair(x: int) -> Pair:
    return Pair(x - 1, x + 1)


@ml.step
def held(x: int) -> Held:
    return Held(Opaque(), x)


@ml.step
def shifted(h: Held, by: int) -> int:
    return h.value + by


@ml.step
def inc(x: int) -> int:
    return x + 1


@ml.step
def dbl(x: int) -> int:
    return 2 * x


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.step
def rng(n: int) -> list[int]:
    return list(range(n % 4))


@ml.step
def total(values: list[int]) -> int:
    return sum(values)
"""


@dataclass(frozen=True)
class Statement:
    """``target = op(args)``; for ``branch``: ``when(args[0] > limit) inc else dbl`` of ``args[1]``."""

    op: str
    target: str
    args: tuple[str, ...]
    limit: int = 0


@st.composite
def programs(draw: st.DrawFn, max_statements: int = 7) -> list[Statement]:
    ints = ["seed"]
    lists: list[str] = []
    statements: list[Statement] = []
    for index in range(draw(st.integers(1, max_statements))):
        name = f"v{index}"
        choices = ["inc", "dbl", "add", "rng", "branch", "gather", "held_branch"]
        choices += ["map", "total", "fields", "stored_map"] if lists else []
        op = draw(st.sampled_from(choices))
        pick = st.sampled_from(ints)
        if op in ("inc", "dbl"):
            statements.append(Statement(op, name, (draw(pick),)))
        elif op == "add":
            statements.append(Statement(op, name, (draw(pick), draw(pick))))
        elif op == "rng":
            statements.append(Statement(op, name, (draw(pick),)))
        elif op in ("branch", "held_branch"):
            statements.append(Statement(op, name, (draw(pick), draw(pick)), draw(st.integers(-2, 6))))
        elif op == "gather":
            statements.append(Statement(op, name, tuple(draw(st.lists(pick, min_size=1, max_size=3)))))
        elif op == "map":
            statements.append(Statement(op, name, (draw(st.sampled_from(lists)),)))
        elif op == "stored_map":
            statements.append(Statement(op, name, (draw(st.sampled_from(lists)), draw(pick))))
        else:
            statements.append(Statement(op, name, (draw(st.sampled_from(lists)),)))
        (lists if op in ("rng", "map") else ints).append(name)
    return statements


def _result(statements: list[Statement]) -> str:
    last_int = next((s.target for s in reversed(statements) if s.op not in ("rng", "map")), "seed")
    return last_int


def pipeline_source(statements: list[Statement], name: str = "random_pipeline") -> str:
    lines = [STEPS, "", "@ml.pipeline", f"def {name}(seed: int = 1) -> int:"]
    for s in statements:
        if s.op in ("inc", "dbl", "rng"):
            arg = {"inc": "x", "dbl": "x", "rng": "n"}[s.op]
            lines.append(f"    {s.target} = {s.op}({arg}={s.args[0]})")
        elif s.op == "add":
            lines.append(f"    {s.target} = add(a={s.args[0]}, b={s.args[1]})")
        elif s.op == "map":
            lines.append(f"    {s.target} = dbl.map(x={s.args[0]})")
        elif s.op == "total":
            lines.append(f"    {s.target} = total(values={s.args[0]})")
        elif s.op == "gather":
            lines.append(f"    {s.target} = total(values=[{', '.join(s.args)}])")
        elif s.op == "fields":
            lines.append(f"    {s.target} = total(values=pair.map(x={s.args[0]}).high)")
        elif s.op == "stored_map":
            lines += [
                f"    {s.target}_held = held.map(x={s.args[0]})",
                f"    {s.target}_first = total(values=shifted.map(h={s.target}_held, by={s.args[1]}))",
                f"    {s.target} = total(values=shifted.map(h={s.target}_held, by={s.target}_first))",
            ]
        elif s.op == "held_branch":
            lines += [
                f"    {s.target}_held = held(x={s.args[0]})",
                f"    with ml.when({s.target}_held.value > {s.limit}):",
                f"        {s.target}_yes = inc(x={s.args[1]})",
                "    with ml.otherwise():",
                f"        {s.target}_no = dbl(x={s.args[1]})",
                f"    {s.target} = ml.one_of({s.target}_yes, {s.target}_no)",
            ]
        else:
            lines += [
                f"    with ml.when({s.args[0]} > {s.limit}):",
                f"        {s.target}_yes = inc(x={s.args[1]})",
                "    with ml.otherwise():",
                f"        {s.target}_no = dbl(x={s.args[1]})",
                f"    {s.target} = ml.one_of({s.target}_yes, {s.target}_no)",
            ]
    lines.append(f"    return {_result(statements)}")
    return "\n".join(lines) + "\n"


def expected(statements: list[Statement], seed: int = 1) -> int:
    values: dict[str, object] = {"seed": seed}
    for s in statements:
        a = [values[x] for x in s.args]
        if s.op == "inc":
            values[s.target] = a[0] + 1  # type: ignore[operator]
        elif s.op == "dbl":
            values[s.target] = 2 * a[0]  # type: ignore[operator]
        elif s.op == "add":
            values[s.target] = a[0] + a[1]  # type: ignore[operator]
        elif s.op == "rng":
            values[s.target] = list(range(a[0] % 4))  # type: ignore[operator]
        elif s.op == "map":
            values[s.target] = [2 * v for v in a[0]]  # type: ignore[attr-defined]
        elif s.op == "total":
            values[s.target] = sum(a[0])  # type: ignore[call-overload]
        elif s.op == "gather":
            values[s.target] = sum(a)  # type: ignore[arg-type]
        elif s.op == "fields":
            values[s.target] = sum(v + 1 for v in a[0])  # type: ignore[attr-defined]
        elif s.op == "stored_map":
            first = sum(v + a[1] for v in a[0])  # type: ignore[attr-defined]
            values[s.target] = sum(v + first for v in a[0])  # type: ignore[attr-defined]
        else:
            values[s.target] = a[1] + 1 if a[0] > s.limit else 2 * a[1]  # type: ignore[operator]
    result = values[_result(statements)]
    assert isinstance(result, int)
    return result
