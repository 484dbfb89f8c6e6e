"""Property tests of tracing: random DAGs of typed steps build into exactly the IR they describe.

Hypothesis draws a graph (1 to 30 tasks; each calls one of a few typed steps, its inputs drawn from the
pipeline's parameters, constants, or outputs of earlier tasks, with a few ``.after()`` edges), writes it
as the source of a real module in a temporary folder, imports it and builds the pipeline. Building from a
real file keeps locations and code digests honest: each task's location must be the line of its call.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlopsdsl as ml
from mlopsdsl import ir
from mlopsdsl.naming import k8s_name

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- the steps a graph may call

STEP_SOURCE = """\
import mlopsdsl as ml


@ml.step
def inc(x: int) -> int:
    return x + 1


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.step
def label(text: str, n: int) -> str:
    return f"{text}{n}"


@ml.step
def series(n: int) -> list[float]:
    return [float(i) for i in range(n)]


@ml.step
def mean(values: list[float], weight: float = 1.0) -> float:
    return sum(values) / max(len(values), 1) * weight
"""


@dataclass(frozen=True)
class Input:
    name: str
    type: str
    optional: bool = False


STEPS: dict[str, tuple[tuple[Input, ...], str]] = {
    "inc": ((Input("x", "int"),), "int"),
    "add": ((Input("a", "int"), Input("b", "int")), "int"),
    "label": ((Input("text", "str"), Input("n", "int")), "str"),
    "series": ((Input("n", "int"),), "list[float]"),
    "mean": ((Input("values", "list[float]"), Input("weight", "float", optional=True)), "float"),
}

PARAMS = {"n": "int", "text": "str", "w": "float", "xs": "list[float]"}
PARAM_SOURCE = 'n: int = 3, text: str = "a", w: float = 0.5, xs: list[float] = [1.0, 2.0]'

# Which value types may flow into which input types (int into float, as a type checker allows).
FITS = {"int": {"int"}, "str": {"str"}, "float": {"float", "int"}, "list[float]": {"list[float]"}}

FINITE = st.floats(allow_nan=False, allow_infinity=False)
CONSTANTS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-(10**12), 10**12),
    "str": st.text(max_size=8),
    "float": FINITE,
    "list[float]": st.lists(FINITE, max_size=3),
}


@dataclass(frozen=True)
class Source:
    kind: str  # "const", "param" or "task"
    value: Any = None  # the constant, the parameter's name, or the index of the earlier task


@dataclass(frozen=True)
class GenTask:
    step: str
    inputs: dict[str, Source]
    after: frozenset[int] = field(default_factory=frozenset)


@st.composite
def graphs(draw: st.DrawFn) -> list[GenTask]:
    tasks: list[GenTask] = []
    for i in range(draw(st.integers(1, 30))):
        step = draw(st.sampled_from(sorted(STEPS)))
        inputs: dict[str, Source] = {}
        for inp in STEPS[step][0]:
            if inp.optional and draw(st.booleans()):
                continue
            params = [p for p, t in PARAMS.items() if t in FITS[inp.type]]
            earlier = [j for j, t in enumerate(tasks) if STEPS[t.step][1] in FITS[inp.type]]
            kinds = ["const", *(["param"] if params else []), *(["task"] * 2 if earlier else [])]
            kind = draw(st.sampled_from(kinds))
            if kind == "const":
                inputs[inp.name] = Source("const", draw(CONSTANTS[inp.type]))
            elif kind == "param":
                inputs[inp.name] = Source("param", draw(st.sampled_from(params)))
            else:
                inputs[inp.name] = Source("task", draw(st.sampled_from(earlier)))
        after = draw(st.frozensets(st.integers(0, i - 1), max_size=2)) if i else frozenset()
        tasks.append(GenTask(step, inputs, after))
    return tasks


# --------------------------------------------------------------------------- source and expected IR


def task_ids(tasks: list[GenTask]) -> list[str]:
    ids: list[str] = []
    for t in tasks:
        count = sum(1 for other in tasks[: len(ids)] if other.step == t.step)
        ids.append(t.step if count == 0 else f"{t.step}-{count + 1}")
    return ids


def render(tasks: list[GenTask], padding: int = 0) -> tuple[str, list[int]]:
    """The module's source, and the line of each task's call."""
    lines = ("\n" * padding + STEP_SOURCE).rstrip("\n").split("\n")
    last = STEPS[tasks[-1].step][1]
    lines += ["", "", "@ml.pipeline", f"def flow({PARAM_SOURCE}) -> {last}:"]
    call_lines = []
    for i, t in enumerate(tasks):
        args = ", ".join(f"{name}={_expr(src)}" for name, src in t.inputs.items())
        after = f".after({', '.join(f't{j}' for j in sorted(t.after))})" if t.after else ""
        lines.append(f"    t{i} = {t.step}({args}){after}")
        call_lines.append(len(lines))
    lines.append(f"    return t{len(tasks) - 1}")
    return "\n".join(lines) + "\n", call_lines


def _expr(src: Source) -> str:
    if src.kind == "const":
        return repr(src.value)
    if src.kind == "param":
        return str(src.value)
    return f"t{src.value}"


def expected_binding(
    src: Source, ids: list[str]
) -> ir.ConstantBinding | ir.ParameterBinding | ir.TaskOutputBinding:
    if src.kind == "const":
        return ir.ConstantBinding(value=src.value)
    if src.kind == "param":
        return ir.ParameterBinding(name=src.value)
    return ir.TaskOutputBinding(task=ids[src.value], output="output")


@contextmanager
def loaded(source: str) -> Iterator[ml.Pipeline]:  # type: ignore[type-arg]
    """The pipeline of ``source``, imported as module ``flow`` from a fresh folder, then forgotten."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "flow.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        spec = importlib.util.spec_from_file_location("flow", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["flow"] = module
        try:
            spec.loader.exec_module(module)
            yield module.flow
        finally:
            sys.modules.pop("flow", None)


def build(source: str) -> ir.Document:
    with loaded(source) as pipeline:
        problems = pipeline.problems()
        assert problems == [], "\n".join(map(str, problems)) + "\n" + source
        return pipeline.build()


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(graphs())
def test_ir_has_exactly_the_generated_tasks_and_edges(tasks: list[GenTask]) -> None:
    source, call_lines = render(tasks)
    doc = build(source)
    ids = task_ids(tasks)
    root = doc.pipeline

    assert doc.root == root.name == "flow"
    assert [p.name for p in doc.pipelines] == ["flow"]
    assert [t.id for t in root.tasks] == ids
    assert sorted(s.name for s in doc.steps) == sorted({t.step for t in tasks})
    for gen, task_id, line, task in zip(tasks, ids, call_lines, root.tasks, strict=True):
        assert task.id == task_id
        assert task.step == gen.step and task.pipeline is None
        assert task.inputs == {name: expected_binding(src, ids) for name, src in sorted(gen.inputs.items())}
        assert task.after == sorted(ids[j] for j in gen.after)
        assert task.location == ir.SourceLocation(file="flow.py", line=line)

    data_edges = {
        (ids[s.value], ids[i]) for i, t in enumerate(tasks) for s in t.inputs.values() if s.kind == "task"
    }
    after_edges = {(ids[j], ids[i]) for i, t in enumerate(tasks) for j in t.after}
    ir_edges = {
        (b.task, t.id) for t in root.tasks for b in t.inputs.values() if isinstance(b, ir.TaskOutputBinding)
    } | {(a, t.id) for t in root.tasks for a in t.after}
    assert ir_edges == data_edges | after_edges

    assert [o.name for o in root.outputs] == ["output"]
    assert root.outputs[0].source == ir.TaskOutputBinding(task=ids[-1], output="output")


@SETTINGS
@given(graphs())
def test_json_is_deterministic_and_round_trips(tasks: list[GenTask]) -> None:
    source, _ = render(tasks)
    first, second = build(source), build(source)  # two imports, from two different folders
    text = first.to_json()
    assert second.to_json() == text
    assert os.sep + "flow.py" not in text and tempfile.gettempdir() not in text
    again = ir.Document.from_json(text)
    assert again == first
    assert again.to_json() == text


@SETTINGS
@given(graphs(), st.integers(1, 5))
def test_digests_ignore_where_the_code_is(tasks: list[GenTask], padding: int) -> None:
    doc = build(render(tasks)[0])
    moved = build(render(tasks, padding=padding)[0])
    assert moved.digest == doc.digest
    assert [p.digest for p in moved.pipelines] == [p.digest for p in doc.pipelines]
    assert [s.digest for s in moved.steps] == [s.digest for s in doc.steps]
    assert moved.pipeline.tasks[0].location != doc.pipeline.tasks[0].location


def _changed(value: Any) -> Any:
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0 if value + 1.0 != value else -value
    if isinstance(value, str):
        return value + "x"
    assert isinstance(value, list)
    return [*value, 0.5]


@SETTINGS
@given(graphs(), st.data())
def test_digests_change_with_a_constant(tasks: list[GenTask], data: st.DataObject) -> None:
    constants = [(i, name) for i, t in enumerate(tasks) for name, s in t.inputs.items() if s.kind == "const"]
    if not constants:
        tasks = [*tasks, GenTask("inc", {"x": Source("const", 0)})]
        constants = [(len(tasks) - 1, "x")]
    i, name = data.draw(st.sampled_from(constants))
    old = tasks[i].inputs[name].value
    new_inputs = {**tasks[i].inputs, name: Source("const", _changed(old))}
    mutated = [*tasks[:i], replace(tasks[i], inputs=new_inputs), *tasks[i + 1 :]]

    doc = build(render(tasks)[0])
    assert build(render(tasks)[0]).digest == doc.digest
    other = build(render(mutated)[0])
    assert other.pipeline.task(task_ids(tasks)[i]).inputs[name] == ir.ConstantBinding(value=_changed(old))
    assert other.digest != doc.digest
    assert other.pipeline.digest != doc.pipeline.digest
    assert [s.digest for s in other.steps] == [s.digest for s in doc.steps], "constants belong to tasks"


# --------------------------------------------------------------------------- found by hand


def test_int_constant_into_float_input_keeps_its_type() -> None:
    doc = build(render([GenTask("mean", {"values": Source("param", "xs"), "weight": Source("const", 2)})])[0])
    assert doc.pipeline.tasks[0].inputs["weight"] == ir.ConstantBinding(value=2)


def test_task_ids_are_unique_after_sanitising() -> None:
    source = STEP_SOURCE + (
        "\n\n@ml.step(name='inc_2')\ndef inc_two(x: int) -> int:\n    return x + 2\n"
        "\n\n@ml.pipeline\ndef flow() -> int:\n    return add(a=inc(x=inc(x=1)), b=inc_two(x=2))\n"
    )
    doc = build(source)
    ids = [t.id for t in doc.pipeline.tasks]
    assert len({k8s_name(i) for i in ids}) == len(ids) == 4
