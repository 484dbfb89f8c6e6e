"""``@ml.pipeline``: parameters, outputs, sub-pipelines, ordering, determinism of the IR."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import mlopsdsl as ml
from mlopsdsl import ir
from mlopsdsl.errors import IRError

ROOT = Path(__file__).parent.parent


@ml.step
def inc(x: int) -> int:
    return x + 1


@ml.step
def mul(a: int, b: int = 2) -> int:
    return a * b


@ml.step
def log(message: str) -> None:
    print(message)


class Stats(NamedTuple):
    total: int
    label: str


@ml.step
def stats(x: int) -> Stats:
    return Stats(total=x, label=f"n={x}")


@ml.pipeline
def inner(x: int = 1) -> int:
    return mul(a=inc(x=x))


@ml.pipeline(name="outer-pipe", description="Outer.")
def outer(x: int = 3, scale: int = 2) -> Stats:
    y = inner(x=x)
    z = mul(a=y, b=scale)
    s = stats(x=z)
    log(message=s.label)
    return s


def test_parameters_come_from_the_signature() -> None:
    doc = outer.build()
    root = doc.pipeline
    assert root.name == "outer-pipe" and root.description == "Outer."
    assert [(p.name, str(p.type), p.optional, p.default) for p in root.params] == [
        ("x", "int", True, 3),
        ("scale", "int", True, 2),
    ]


def test_sub_pipelines_nest() -> None:
    doc = outer.build()
    assert [p.name for p in doc.pipelines] == ["outer-pipe", "inner"]
    assert [s.name for s in doc.steps] == ["inc", "log", "mul", "stats"]
    root = doc.pipeline
    assert root.task("inner").pipeline == "inner"
    assert root.task("inner").inputs == {"x": ir.ParameterBinding(name="x")}
    assert root.task("mul").inputs["a"] == ir.TaskOutputBinding(task="inner", output="output")
    assert root.task("log").inputs["message"] == ir.TaskOutputBinding(task="stats", output="label")
    sub = doc.sub_pipeline("inner")
    assert [t.id for t in sub.tasks] == ["inc", "mul"]
    assert [o.name for o in sub.outputs] == ["output"]


def test_after_orders_tasks_without_data() -> None:
    @ml.pipeline
    def ordered(x: int = 1) -> None:
        first = inc(x=x)
        second = log(message="go").after(first)
        log(message="last").after(first, second)

    tasks = ordered.build().pipeline.tasks
    assert [(t.id, t.after) for t in tasks] == [("inc", []), ("log", ["inc"]), ("log-2", ["inc", "log"])]


def test_named_outputs_become_pipeline_outputs() -> None:
    doc = outer.build()
    assert [(o.name, str(o.type), o.source) for o in doc.pipeline.outputs] == [
        ("total", "int", ir.TaskOutputBinding(task="stats", output="total")),
        ("label", "str", ir.TaskOutputBinding(task="stats", output="label")),
    ]


def test_tuple_and_dict_returns() -> None:
    @ml.pipeline
    def as_tuple(x: int = 1) -> tuple[int, int]:
        return inc(x=x), mul(a=x)

    @ml.pipeline
    def as_dict(x: int = 1) -> dict[str, int]:
        return {"plus": inc(x=x), "times": mul(a=x)}

    @ml.pipeline
    def unpacked(x: int = 1) -> int:
        total, label = stats(x=x)
        log(message=label)
        return total

    assert [o.name for o in as_tuple.build().pipeline.outputs] == ["output_0", "output_1"]
    assert [o.name for o in as_dict.build().pipeline.outputs] == ["plus", "times"]
    assert unpacked.build().pipeline.task("log").inputs["message"] == ir.TaskOutputBinding(
        task="stats", output="label"
    )


def test_a_pipeline_called_outside_a_pipeline_runs_as_python() -> None:
    assert outer(x=3, scale=2) == Stats(total=16, label="n=16")
    assert inner() == 4


def test_positional_arguments_bind_in_order() -> None:
    @ml.pipeline
    def positional(x: int = 1) -> int:
        return mul(inc(x), 5)

    task = positional.build().pipeline.task("mul")
    assert task.inputs == {
        "a": ir.TaskOutputBinding(task="inc", output="output"),
        "b": ir.ConstantBinding(value=5),
    }


def test_build_is_cached_and_problems_do_not_raise() -> None:
    assert outer.build() is outer.build()
    assert outer.problems() == []


def test_ir_round_trips_losslessly() -> None:
    doc = outer.build()
    text = doc.to_json()
    again = ir.Document.from_json(text)
    assert again == doc
    assert again.to_json() == text


@ml.step(retry=ml.Retry(attempts=3, backoff="2s", stop_on=[KeyError]))
def _retried(x: int) -> int:
    return x


@ml.pipeline
def _retrying(x: int = 1) -> int:
    return _retried(x=x)


def test_a_retry_reads_back_with_the_same_checks() -> None:
    """A document written elsewhere cannot bring in a schedule some engine would round."""
    text = _retrying.build().to_json()
    assert ir.Document.from_json(text).steps[0].options.retry == ml.Retry(3, 2.0, stop_on=[KeyError])
    data = json.loads(text)
    data["steps"][0]["options"]["retry"]["factor"] = 1.5
    with pytest.raises(IRError, match=r"factor must be a whole number"):
        ir.Document.from_json(json.dumps(data))


def test_refuses_another_major_ir_version() -> None:
    data = json.loads(outer.build().to_json())
    data["ir_version"] = "2.0"
    with pytest.raises(
        IRError,
        match=rf"IR version 2.0 is not readable by this mlopsdsl \(reads {re.escape(ir.IR_VERSION)}\)",
    ):
        ir.Document.from_json(json.dumps(data))


def test_digests() -> None:
    doc = outer.build()
    assert all(len(p.digest) == 64 for p in doc.pipelines) and len(doc.digest) == 64
    from mlopsdsl._compile import with_defaults

    changed = with_defaults(doc, {"x": 4})
    assert changed.pipeline.digest != doc.pipeline.digest and changed.digest != doc.digest
    assert changed.sub_pipeline("inner").digest == doc.sub_pipeline("inner").digest
    assert with_defaults(doc, {"x": 3}).digest == doc.digest


@ml.step
def echo(value: dict[str, str]) -> dict[str, str]:
    return value


def test_a_digest_leaves_out_locations_but_not_a_constant_named_location() -> None:
    """Every model's ``location`` is left out of a digest; a user's value that has a ``location`` key is
    data like any other (it was dropped too, when the digest walked the dumped JSON)."""

    def chain(place: str) -> ml.Pipeline[..., Any]:
        def body() -> dict[str, str]:
            return echo(value={"location": place})

        return ml.pipeline(name="placed")(body)

    first, second = chain("a").build(), chain("b").build()
    assert first.pipeline.digest != second.pipeline.digest
    moved = dataclasses.replace(
        first,
        pipelines=[
            dataclasses.replace(
                first.pipeline,
                location=ir.SourceLocation(file="elsewhere.py", line=99),
                tasks=[
                    dataclasses.replace(t, location=ir.SourceLocation(file="x.py", line=1))
                    for t in first.pipeline.tasks
                ],
                outputs=[
                    dataclasses.replace(o, location=ir.SourceLocation(file="y.py", line=2))
                    for o in first.pipeline.outputs
                ],
            )
        ],
    )
    assert moved.with_digests().pipeline.digest == first.with_digests().pipeline.digest


def test_same_source_gives_byte_identical_ir_from_anywhere(tmp_path: Path) -> None:
    """No absolute paths, no timestamps: two processes in different folders write the same bytes."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import quickstart; "
        "sys.stdout.write(quickstart.quickstart.build().to_json())"
    )
    examples = str(ROOT / "examples")
    outputs = set()
    for cwd in (ROOT, tmp_path):
        result = subprocess.run(
            [sys.executable, "-c", code, examples], cwd=cwd, capture_output=True, check=True
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    text = outputs.pop().decode()
    assert str(ROOT) not in text and "/tmp" not in text


def test_json_schema_is_committed_and_current() -> None:
    """docs/ir.schema.json is what users read; regenerate it with `nox -s golden` when the IR changes."""
    committed = json.loads((ROOT / "docs" / "ir.schema.json").read_text())
    assert committed == ir.json_schema()


def test_a_pipeline_built_twice_through_a_sub_pipeline_is_consistent() -> None:
    @ml.pipeline
    def twice(x: int = 1) -> int:
        return inner(x=inner(x=x))

    doc = twice.build()
    assert [t.id for t in doc.pipeline.tasks] == ["inner", "inner-2"]
    assert [p.name for p in doc.pipelines] == ["twice", "inner"]


def test_after_block_orders_every_call_inside_it() -> None:
    @ml.pipeline
    def ordered(x: int = 1) -> int:
        first = inc(x=x)
        second = mul(a=x)
        with ml.after(first, second):
            log(message="both done")
            with ml.after(log(message="nested")):
                third = inc(x=x)
        return third

    tasks = {t.id: t.after for t in ordered.build().pipeline.tasks}
    assert tasks == {
        "inc": [],
        "mul": [],
        "log": ["inc", "mul"],
        "log-2": ["inc", "mul"],
        "inc-2": ["inc", "log-2", "mul"],
    }
    # Outside a build it does nothing: the pipeline still runs as plain Python.
    assert ordered(x=1) == 2


def test_after_takes_step_outputs_only() -> None:
    @ml.pipeline
    def wrong(x: int = 1) -> int:
        with ml.after(x, "text"):
            y = inc(x=x)
        x.after(y)
        return inc(x=y).after(x)

    messages = sorted(p.message for p in wrong.problems())
    assert messages == [
        ".after() orders steps, but pipeline parameter x is not a step's output (parameters are there from "
        "the start)",
        ".after() takes step outputs of this pipeline, got <pipeline parameter x: int>",
        "ml.after() takes step outputs of this pipeline, got 'text'",
        "ml.after() takes step outputs of this pipeline, got <pipeline parameter x: int>",
    ]
