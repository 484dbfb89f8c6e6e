"""Control flow in the IR: maps (fan-out and fan-in), conditions, one_of, exit handlers."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest

import mlopsdsl as ml
from mlopsdsl import ir


@ml.step
def shards(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]


@ml.step
def process(shard: str, lr: float = 0.1) -> float:
    return len(shard) * lr


@ml.step
def total(values: list[float]) -> float:
    return sum(values)


@ml.step
def score(x: float) -> float:
    return x


@ml.step
def deploy(x: float) -> str:
    return f"deployed {x}"


@ml.step
def retrain(x: float) -> str:
    return f"retrained {x}"


@ml.step
def notify(status: str, n: int) -> None:
    print(status, n)


class Stats(NamedTuple):
    low: float
    high: float


@ml.step
def bounds(shard: str) -> Stats:
    return Stats(0.0, float(len(shard)))


def test_map_over_a_step_output_and_fan_in() -> None:
    @ml.pipeline
    def fan(n: int = 3, lr: float = 0.5) -> float:
        results = process.map(shard=shards(n=n), lr=lr, max_parallel=2)
        return total(values=results)

    doc = fan.build()
    task = doc.pipeline.task("process")
    assert task.map == ir.MapSpec(input="shard", max_parallel=2)
    assert task.inputs["shard"] == ir.TaskOutputBinding(task="shards", output="output")
    assert task.inputs["lr"] == ir.ParameterBinding(name="lr")
    assert doc.pipeline.task("total").inputs["values"] == ir.TaskOutputBinding(
        task="process", output="output"
    )


def test_map_over_a_literal_and_a_parameter() -> None:
    @ml.pipeline
    def fan(names: list[str] = ["a", "bb"]) -> list[float]:  # noqa: B006 - a JSON default
        process.map(shard=["x", "yy", "zzz"])
        return process.map(shard=names, lr=2.0)

    doc = fan.build()
    assert doc.pipeline.task("process").map == ir.MapSpec(input="shard")
    assert doc.pipeline.task("process-2").inputs["shard"] == ir.ParameterBinding(name="names")
    assert str(doc.pipeline.outputs[0].type) == "list[float]"


def test_mapped_named_outputs_are_lists() -> None:
    @ml.pipeline
    def fan(n: int = 2) -> float:
        stats = bounds.map(shard=shards(n=n))
        return total(values=stats.high)

    doc = fan.build()
    assert doc.pipeline.task("total").inputs["values"] == ir.TaskOutputBinding(task="bounds", output="high")


def test_nested_fan_out_through_a_mapped_sub_pipeline() -> None:
    @ml.step
    def split(group: str) -> list[str]:
        return [group + "1", group + "2"]

    @ml.pipeline
    def per_group(group: str) -> float:
        return total(values=process.map(shard=split(group=group)))

    @ml.pipeline
    def outer(groups: list[str] = ["a", "b"]) -> float:  # noqa: B006
        return total(values=per_group.map(group=groups))

    doc = outer.build()
    assert doc.pipeline.task("per_group").map == ir.MapSpec(input="group")
    assert doc.sub_pipeline("per_group").task("process").map == ir.MapSpec(input="shard")
    assert outer() == pytest.approx((2 + 2) * 0.1 * 2)


def test_map_outside_a_pipeline_runs_per_element() -> None:
    assert process.map(shard=["a", "bb"], lr=1.0) == [1.0, 2.0]


def test_when_otherwise_and_one_of() -> None:
    @ml.pipeline
    def gate(x: float = 0.9, floor: float = 0.5) -> str:
        s = score(x=x)
        with ml.when((s > 0.8) & ~(s == floor)):
            done = deploy(x=s)
        with ml.otherwise():
            redo = retrain(x=s)
        return ml.one_of(done, redo)

    doc = gate.build()
    root = doc.pipeline
    when, other = root.groups
    assert (when.id, when.kind, when.parent, when.else_of) == ("when-1", "when", None, None)
    assert (other.id, other.kind, other.else_of) == ("otherwise-1", "otherwise", "when-1")
    s = ir.TaskOutputBinding(task="score", output="output")
    expected = ir.AllOf(
        conditions=[
            ir.Compare(op=">", left=s, right=ir.ConstantBinding(value=0.8)),
            ir.Not(condition=ir.Compare(op="==", left=s, right=ir.ParameterBinding(name="floor"))),
        ]
    )
    assert when.condition == expected
    assert other.condition == ir.Not(condition=expected)
    assert root.task("deploy").group == "when-1" and root.task("retrain").group == "otherwise-1"
    assert root.outputs[0].source == ir.OneOfBinding(
        sources=[
            ir.TaskOutputBinding(task="deploy", output="output"),
            ir.TaskOutputBinding(task="retrain", output="output"),
        ]
    )
    assert ir.Document.from_json(doc.to_json()) == doc


def test_nested_conditions_and_bool_outputs() -> None:
    @ml.step
    def ok(x: float) -> bool:
        return x > 0

    @ml.pipeline
    def nested(x: float = 1.0) -> None:
        passed = ok(x=x)
        with ml.when(passed):  # noqa: SIM117 - two blocks, the inner opened inside the outer
            with ml.when(score(x=x) >= 0.5):
                deploy(x=x)

    root = nested.build().pipeline
    outer, inner = root.groups
    assert outer.condition == ir.Compare(
        op="==", left=ir.TaskOutputBinding(task="ok", output="output"), right=ir.ConstantBinding(value=True)
    )
    assert inner.parent == "when-1" and root.task("score").group == "when-1"
    assert root.task("deploy").group == "when-2"


def test_exit_handler_gets_status_and_parameters() -> None:
    @ml.pipeline(on_exit=notify)
    def watched(n: int = 2) -> float:
        return total(values=process.map(shard=shards(n=n)))

    root = watched.build().pipeline
    assert root.on_exit == ir.Task(
        id="notify",
        step="notify",
        inputs={"n": ir.ParameterBinding(name="n"), "status": ir.StatusBinding()},
        location=root.location,
    )
    assert [s.name for s in watched.build().steps] == ["notify", "process", "shards", "total"]


def test_exit_handler_runs_in_plain_python_with_the_status(capsys: pytest.CaptureFixture[str]) -> None:
    @ml.step
    def boom(n: int) -> int:
        raise ValueError("boom")

    @ml.pipeline(on_exit=notify)
    def failing(n: int = 1) -> int:
        return boom(n=n)

    with pytest.raises(ValueError, match="boom"):
        failing(n=4)
    assert capsys.readouterr().out == "Failed 4\n"


def test_conditions_are_rejected_outside_a_pipeline() -> None:
    block = ml.when(True)
    with pytest.raises(ml.DefinitionError, match=r"ml\.when is decided when the pipeline runs"), block:
        pass


def test_control_flow_changes_the_digest() -> None:
    @ml.pipeline(name="same")
    def a(x: float = 1.0) -> None:
        with ml.when(score(x=x) > 0.5):
            deploy(x=x)

    @ml.pipeline(name="same")
    def b(x: float = 1.0) -> None:
        with ml.when(score(x=x) > 0.6):
            deploy(x=x)

    assert a.build().digest != b.build().digest


def test_a_tolerant_map_records_the_fraction_that_must_succeed() -> None:
    @ml.pipeline
    def fan(n: int = 3) -> float:
        any_ = process.map(shard=shards(n=n), allow_failures=True)
        process.map(shard=shards(n=n), min_success=0.9, max_parallel=2)
        process.map(shard=shards(n=n), allow_failures=False)
        return total(values=any_)

    doc = fan.build()
    assert doc.pipeline.task("process").map == ir.MapSpec(input="shard", min_success=0.0)
    assert doc.pipeline.task("process-2").map == ir.MapSpec(input="shard", max_parallel=2, min_success=0.9)
    assert doc.pipeline.task("process-3").map == ir.MapSpec(input="shard")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"allow_failures": True, "min_success": 0.5}, "give allow_failures or min_success, not both"),
        ({"allow_failures": "yes"}, "allow_failures must be True or False, got 'yes'"),
        ({"min_success": 1.5}, "min_success must be a fraction from 0 to 1"),
        ({"min_success": -0.1}, "min_success must be a fraction from 0 to 1"),
        ({"min_success": float("nan")}, "min_success must be a fraction from 0 to 1"),
        ({"min_success": True}, "min_success must be a fraction from 0 to 1"),
        ({"min_success": "0.9"}, "min_success must be a fraction from 0 to 1"),
    ],
)
def test_bad_tolerance_options_are_reported_at_the_map_line(options: dict[str, object], message: str) -> None:
    @ml.pipeline
    def fan(n: int = 3) -> float:
        return total(values=process.map(shard=shards(n=n), **options))  # type: ignore[arg-type]

    problems = fan.problems()
    assert [p.code for p in problems] == ["bad-map-option"]
    assert message in problems[0].message and "step 'process'.map()" in problems[0].message
    assert problems[0].location is not None and problems[0].location.file.endswith("test_control.py")
    line = fan.fn.__code__.co_firstlineno + 2
    assert problems[0].location.line == line


def test_a_tolerance_from_a_parameter_is_refused() -> None:
    @ml.pipeline
    def fan(n: int = 3, need: float = 0.5) -> float:
        return total(values=process.map(shard=shards(n=n), min_success=need))

    assert [p.message for p in fan.problems()] == [
        "step 'process'.map(): allow_failures and min_success are written in the pipeline, not a parameter or "
        "a step's output"
    ]


def test_a_misspelled_tolerance_option_is_named() -> None:
    @ml.pipeline
    def fan(n: int = 3) -> float:
        return total(values=process.map(shard=shards(n=n), allow_failure=True))

    problems = fan.problems()
    assert any("did you mean 'allow_failures'" in p.message for p in problems), problems


def test_a_tolerant_map_outside_a_pipeline_leaves_out_what_raised() -> None:
    @ml.step
    def picky(x: int) -> int:
        if x % 2:
            raise ValueError(x)
        return x

    assert picky.map(x=[0, 1, 2, 3, 4], allow_failures=True) == [0, 2, 4]
    assert picky.map(x=[0, 1, 2, 3, 4], min_success=0.5) == [0, 2, 4]
    with pytest.raises(ml.RunError, match=r"3 of 5 elements succeeded, but min_success=0.9 needs 5; failed "
                       r"elements: 1, 3") as caught:  # fmt: skip
        picky.map(x=[0, 1, 2, 3, 4], min_success=0.9)
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(ValueError):
        picky.map(x=[0, 1])
    with pytest.raises(ml.DefinitionError, match="not both"):
        picky.map(x=[0], allow_failures=True, min_success=0.5)


def test_a_tolerant_sub_pipeline_map_in_the_ir_is_refused() -> None:
    """Authoring never writes one (it reports the option at the .map line); a document written by other
    means is refused by validation, since only a step's map can leave an element out."""
    from mlopsdsl.validate import validate

    @ml.pipeline
    def one(shard: str) -> float:
        return process(shard=shard)

    @ml.pipeline
    def fan(n: int = 3) -> list[float]:
        return one.map(shard=shards(n=n))

    doc = fan.build()
    root = doc.pipeline
    mapped = root.task("one")
    assert mapped.map is not None
    tolerant = dataclasses.replace(mapped, map=dataclasses.replace(mapped.map, min_success=0.5))
    tasks = [tolerant if t.id == "one" else t for t in root.tasks]
    changed = dataclasses.replace(doc, pipelines=[dataclasses.replace(root, tasks=tasks), *doc.pipelines[1:]])
    problems = validate(changed)
    assert [(p.code, p.message) for p in problems] == [
        ("bad-map", "task 'one' maps a sub-pipeline tolerantly (min_success); only a step's map may leave "
         "failed elements out"),
    ]  # fmt: skip
