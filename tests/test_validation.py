"""Unit tests of :func:`mlopsdsl.validate.validate` on hand-made IR, and of the IR's JSON round trip.

Documents are written with the IR's dataclasses directly (or derived from a valid one with
``dataclasses.replace``), so each test shows the one thing wrong with its IR. Every problem carries the
IR location of the thing at fault; the helpers give each task and step its own line in ``flow.py``.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

import mlopsdsl as ml
from mlopsdsl import ir
from mlopsdsl.errors import Location, Problem
from mlopsdsl.validate import validate

FILE = "flow.py"

INT = ir.TypeSpec(kind="int")
STR = ir.TypeSpec(kind="str")


def at(line: int) -> ir.SourceLocation:
    return ir.SourceLocation(file=FILE, line=line)


def step(
    name: str,
    inputs: dict[str, ir.TypeSpec] | None = None,
    output: ir.TypeSpec | None = INT,
    line: int = 1,
    optional: tuple[str, ...] = (),
) -> ir.StepSpec:
    return ir.StepSpec(
        name=name,
        code=ir.CodeRef(module="flow", qualname=name, file=FILE, digest="0" * 64),
        inputs=[
            ir.Param(name=n, type=t, optional=n in optional, default=0 if n in optional else None)
            for n, t in (inputs or {}).items()
        ],
        outputs=[ir.Output(name="output", type=output)] if output is not None else [],
        returns=ir.ReturnShape(kind="single" if output is not None else "none"),
        options=ir.StepOptions(),
        location=at(line),
    )


def task(
    id: str,
    step: str | None = None,
    pipeline: str | None = None,
    line: int = 100,
    after: tuple[str, ...] = (),
    **inputs: ir.ConstantBinding | ir.ParameterBinding | ir.TaskOutputBinding,
) -> ir.Task:
    return ir.Task(id=id, step=step, pipeline=pipeline, inputs=inputs, after=list(after), location=at(line))


def out(task: str, output: str = "output", *path: str) -> ir.TaskOutputBinding:
    return ir.TaskOutputBinding(task=task, output=output, path=list(path))


def param(name: str, *path: str) -> ir.ParameterBinding:
    return ir.ParameterBinding(name=name, path=list(path))


def const(value: object) -> ir.ConstantBinding:
    return ir.ConstantBinding(value=value)


def pipe(
    name: str,
    tasks: list[ir.Task],
    params: dict[str, ir.TypeSpec] | None = None,
    line: int = 50,
    outputs: list[ir.PipelineOutput] | None = None,
) -> ir.PipelineSpec:
    return ir.PipelineSpec(
        name=name,
        params=[ir.Param(name=n, type=t, location=at(line)) for n, t in (params or {}).items()],
        outputs=outputs or [],
        tasks=tasks,
        location=at(line),
    )


NOOP = step("noop", output=None, line=2)


def noop() -> ir.Task:
    """A task calling a step that takes and returns nothing, for pipelines that need one task."""
    return task("noop", step="noop", line=99)


def document(pipelines: list[ir.PipelineSpec], steps: list[ir.StepSpec]) -> ir.Document:
    return ir.Document(root=pipelines[0].name, pipelines=pipelines, steps=steps)


def valid() -> ir.Document:
    """Two steps, two tasks, one parameter, one output: no problem at all."""
    return document(
        [
            pipe(
                "flow",
                [
                    task("load", step="load", line=101, n=param("n")),
                    task("double", step="double", line=102, x=out("load")),
                ],
                params={"n": INT},
                outputs=[ir.PipelineOutput(name="output", type=INT, source=out("double"))],
            )
        ],
        [step("double", {"x": INT}, line=2), step("load", {"n": INT}, line=1)],
    )


def with_tasks(doc: ir.Document, *tasks: ir.Task) -> ir.Document:
    """``doc`` with ``tasks`` in place of the root's tasks of the same id; others are appended."""
    new = {t.id: t for t in tasks}
    kept = [new.pop(t.id, t) for t in doc.pipeline.tasks]
    root = dataclasses.replace(doc.pipeline, tasks=[*kept, *new.values()])
    return dataclasses.replace(doc, pipelines=[root, *doc.pipelines[1:]])


def messages(doc: ir.Document, **kwargs: object) -> set[tuple[int, str]]:
    problems = validate(doc, **kwargs)  # type: ignore[arg-type]
    for p in problems:
        assert p.location is not None and p.location.file == FILE, p
    return {(p.location.line, p.message) for p in problems if p.location is not None}


def codes(doc: ir.Document) -> list[str]:
    return [p.code for p in validate(doc)]


# --------------------------------------------------------------------------- a valid document


def test_valid_document_has_no_problems() -> None:
    assert validate(valid()) == []


def test_validate_does_not_change_the_document() -> None:
    doc = with_tasks(valid(), task("load", step="nope", line=101))
    before = doc.to_json()
    validate(doc)
    assert doc.to_json() == before


def test_problems_are_sorted_and_unique() -> None:
    doc = with_tasks(
        valid(),
        task("b", step="nope", line=120),
        task("a", step="nope", line=110),
        task("c", step="gone", line=110),
    )
    problems = validate(doc)
    assert problems == sorted(problems, key=lambda p: (p.location, p.code, p.message))
    assert len(problems) == len(set(problems)) == 3


# --------------------------------------------------------------------------- references


def test_unknown_step() -> None:
    doc = with_tasks(valid(), task("load", step="lod", line=101, n=param("n")))
    assert messages(doc) == {
        (101, "task 'load' calls unknown step 'lod'"),
        # the output's type is unknown, so nothing more is said about the flow from it
    }


def test_unknown_pipeline() -> None:
    doc = with_tasks(valid(), task("sub", pipeline="inner", line=103))
    assert messages(doc) == {(103, "task 'sub' calls unknown pipeline 'inner'")}


@pytest.mark.parametrize(("step_name", "pipeline_name"), [(None, None), ("load", "flow")])
def test_task_calls_exactly_one_thing(step_name: str | None, pipeline_name: str | None) -> None:
    doc = with_tasks(valid(), task("odd", step=step_name, pipeline=pipeline_name, line=104))
    assert (104, "task 'odd' must call exactly one step or pipeline") in messages(doc)


def test_unknown_task_in_after() -> None:
    doc = with_tasks(
        valid(),
        task("load", step="load", line=101, n=param("n")),
        task("double", step="double", line=102, after=("prepare",), x=out("load")),
    )
    assert messages(doc) == {(102, "task 'double' runs after unknown task 'prepare'")}


def test_unknown_task_in_binding() -> None:
    doc = with_tasks(
        valid(),
        task("load", step="load", line=101, n=param("n")),
        task("double", step="double", line=102, x=out("lod")),
    )
    assert messages(doc) == {(102, "no task 'lod' in pipeline 'flow'")}


def test_unknown_output() -> None:
    doc = with_tasks(
        valid(),
        task("load", step="load", line=101, n=param("n")),
        task("double", step="double", line=102, x=out("load", "rows")),
    )
    assert messages(doc) == {(102, "task 'load' has no output 'rows' (outputs: output)")}


def test_unknown_parameter() -> None:
    doc = with_tasks(
        valid(),
        task("load", step="load", line=101, n=param("size")),
        task("double", step="double", line=102, x=out("load")),
    )
    assert messages(doc) == {(101, "pipeline 'flow' has no parameter 'size'")}


def test_unknown_field_of_a_binding() -> None:
    doc = with_tasks(
        valid(),
        task("load", step="load", line=101, n=param("n", "value")),
        task("double", step="double", line=102, x=out("load")),
    )
    assert messages(doc) == {(101, "parameter 'n' of type int has no field 'value'")}


def test_field_of_a_model_output() -> None:
    metrics = ir.TypeSpec(kind="model", name="flow.Metrics", fields={"accuracy": ir.TypeSpec(kind="float")})
    doc = document(
        [
            pipe(
                "flow",
                [
                    task("evaluate", step="evaluate", line=101),
                    task("good", step="report", line=102, x=out("evaluate", "output", "accuracy")),
                    task("bad", step="report", line=103, x=out("evaluate", "output", "loss")),
                ],
            )
        ],
        [step("evaluate", output=metrics), step("report", {"x": ir.TypeSpec(kind="float")})],
    )
    assert messages(doc) == {(103, "output 'output' of task 'evaluate' of type Metrics has no field 'loss'")}


def test_pipeline_output_from_unknown_task() -> None:
    root = dataclasses.replace(
        valid().pipeline, outputs=[ir.PipelineOutput(name="output", type=INT, source=out("triple"))]
    )
    doc = dataclasses.replace(valid(), pipelines=[root])
    assert messages(doc) == {(50, "no task 'triple' in pipeline 'flow'")}


def test_root_names_a_pipeline() -> None:
    doc = dataclasses.replace(valid(), root="flw")
    assert messages(doc) == {(50, "the document's root 'flw' is not one of its pipelines (flow)")}


# --------------------------------------------------------------------------- inputs


def test_missing_input() -> None:
    doc = with_tasks(valid(), task("load", step="load", line=101))
    assert messages(doc) == {(101, "step 'load' is missing required input 'n'")}


def test_missing_inputs_are_listed_together() -> None:
    doc = document(
        [pipe("flow", [task("add", step="add", line=101)])],
        [step("add", {"a": INT, "b": INT, "c": INT}, optional=("c",))],
    )
    assert messages(doc) == {(101, "step 'add' is missing required inputs 'a', 'b'")}


def test_missing_input_already_reported_unbound_is_skipped() -> None:
    doc = with_tasks(valid(), task("load", step="load", line=101))
    assert messages(doc, unbound={("flow", "load"): {"n"}}) == set()
    assert messages(doc, unbound={("other", "load"): {"n"}}) == {
        (101, "step 'load' is missing required input 'n'")
    }


def test_unknown_input() -> None:
    doc = with_tasks(valid(), task("load", step="load", line=101, n=param("n"), m=const(1)))
    assert messages(doc) == {(101, "step 'load' has no input 'm'; its inputs are n")}


def test_unknown_input_of_step_without_inputs() -> None:
    doc = document([pipe("flow", [task("now", step="now", line=101, tz=const("UTC"))])], [step("now")])
    assert messages(doc) == {(101, "step 'now' has no input 'tz'; it takes no inputs")}


def test_missing_and_unknown_input_of_sub_pipeline() -> None:
    inner = pipe("inner", [task("load", step="load", line=201, n=param("n"))], params={"n": INT}, line=200)
    outer = pipe("outer", [task("inner", pipeline="inner", line=101, size=const(3))])
    doc = document([outer, inner], [step("load", {"n": INT})])
    assert messages(doc) == {
        (101, "pipeline 'inner' has no input 'size'; its inputs are n"),
        (101, "pipeline 'inner' is missing required input 'n'"),
    }


# --------------------------------------------------------------------------- types


def test_type_mismatch_from_output() -> None:
    doc = document(
        [
            pipe(
                "flow",
                [task("name", step="name", line=101), task("double", step="double", line=102, x=out("name"))],
            )
        ],
        [step("double", {"x": INT}), step("name", output=STR)],
    )
    assert messages(doc) == {(102, "input 'x' of step 'double' expects int, but the output of name is str")}


def test_type_mismatch_from_parameter() -> None:
    doc = document(
        [pipe("flow", [task("double", step="double", line=101, x=param("n"))], params={"n": STR})],
        [step("double", {"x": INT})],
    )
    assert messages(doc) == {(101, "input 'x' of step 'double' expects int, but pipeline parameter n is str")}


def test_type_mismatch_of_constant() -> None:
    doc = document(
        [pipe("flow", [task("double", step="double", line=101, x=const("2"))])],
        [step("double", {"x": INT})],
    )
    assert messages(doc) == {(101, "input 'x' of step 'double' must be int, got str '2'")}


def test_artifact_cannot_be_a_constant() -> None:
    dataset = ir.TypeSpec(kind="artifact", name="Dataset")
    doc = document(
        [pipe("flow", [task("count", step="count", line=101, data=const("/tmp/data.csv"))])],
        [step("count", {"data": dataset})],
    )
    assert messages(doc) == {
        (101, "input 'data' of step 'count' is a Dataset, which cannot be written as a literal")
    }


def test_artifact_parameter_of_the_root_is_an_import() -> None:
    dataset = ir.TypeSpec(kind="artifact", name="Dataset")
    doc = document([pipe("flow", [noop()], params={"data": dataset})], [NOOP])
    assert messages(doc) == set()


def test_artifact_parameter_default_must_be_a_uri() -> None:
    dataset = ir.TypeSpec(kind="artifact", name="Dataset")
    root = pipe("flow", [noop()])
    param = ir.Param(name="data", type=dataset, optional=True, default="ftp://host/x", location=at(7))
    doc = document([dataclasses.replace(root, params=[param])], [NOOP])
    assert messages(doc) == {
        (
            7,
            "default of pipeline parameter 'data': 'ftp://host/x' has an unknown scheme 'ftp://' (known: "
            "file://, s3://, s3a://, gs://, gcs://, az://, abfs://, abfss://, memory://)",
        )
    }


def test_object_parameter() -> None:
    box = ir.TypeSpec(kind="object", name="pkg.Box")
    doc = document([pipe("flow", [noop()], params={"box": box})], [NOOP])
    assert messages(doc) == {
        (
            50,
            "pipeline parameter 'box' is a Box; pipeline parameters must be JSON values or, on the pipeline "
            "that is run, an artifact (ml.Dataset, ml.Model, ml.Artifact) given by URI (load other objects "
            "in a step)",
        )
    }


def test_env_and_secrets_named_like_variables_mlopsdsl_sets_are_refused() -> None:
    options = ir.StepOptions(
        env={"MLOPSDSL_RUNTIME": "x", "MLOPSDSL_TRACKING": "mlflow", "PLAIN": "1"},
        secrets=[ml.Secret(name="s", key="k", env="MLOPSDSL_LAUNCHER")],
    )
    doc = valid()
    load = dataclasses.replace(doc.steps[1], options=options)
    doc = dataclasses.replace(doc, steps=[doc.steps[0], load])
    assert codes(doc) == ["reserved-env", "reserved-env"]
    assert messages(doc) == {
        (1, f"step 'load': {what} sets {name}, which mlopsdsl sets itself in every step's process; name it "
         "differently")
        for what, name in (("env", "MLOPSDSL_RUNTIME"), ("secret s.k", "MLOPSDSL_LAUNCHER"))
    }  # fmt: skip


def test_the_core_backends_own_variables_are_reserved() -> None:
    from mlopsdsl.lowering import PACKAGES_ENV, RUNTIME_ENV
    from mlopsdsl.options import RESERVED_ENV

    assert {PACKAGES_ENV, RUNTIME_ENV, "MLOPSDSL_MLFLOW_PARENT"} <= RESERVED_ENV


def test_bad_parameter_default() -> None:
    root = pipe("flow", [noop()])
    root = dataclasses.replace(
        root, params=[ir.Param(name="n", type=INT, optional=True, default="ten", location=at(7))]
    )
    doc = document([root], [NOOP])
    assert messages(doc) == {(7, "default of pipeline parameter 'n' must be int, got str 'ten'")}


def test_pipeline_output_type_mismatch() -> None:
    root = dataclasses.replace(
        valid().pipeline, outputs=[ir.PipelineOutput(name="output", type=STR, source=out("double"))]
    )
    doc = dataclasses.replace(valid(), pipelines=[root])
    assert messages(doc) == {
        (50, "output 'output' of pipeline 'flow' expects str, but the output of double is int")
    }


# --------------------------------------------------------------------------- cycles and recursion


def test_cycle_through_after() -> None:
    doc = document(
        [
            pipe(
                "flow",
                [
                    task("a", step="noop", line=101, after=("b",)),
                    task("b", step="noop", line=102, after=("a",)),
                ],
            )
        ],
        [step("noop")],
    )
    assert messages(doc) == {(101, "tasks form a cycle: a -> b -> a")}


def test_cycle_through_data() -> None:
    doc = document(
        [
            pipe(
                "flow",
                [
                    task("a", step="double", line=101, x=out("c")),
                    task("b", step="double", line=102, x=out("a")),
                    task("c", step="double", line=103, x=out("b")),
                ],
            )
        ],
        [step("double", {"x": INT})],
    )
    assert messages(doc) == {(101, "tasks form a cycle: a -> c -> b -> a")}


def test_task_after_itself() -> None:
    doc = document([pipe("flow", [task("a", step="noop", line=101, after=("a",))])], [step("noop")])
    assert messages(doc) == {(101, "tasks form a cycle: a -> a")}


def test_recursion_among_pipelines() -> None:
    ping = pipe("ping", [task("pong", pipeline="pong", line=101)], line=10)
    pong = pipe("pong", [task("ping", pipeline="ping", line=201)], line=20)
    doc = document([ping, pong], [])
    assert messages(doc) == {(10, "pipelines call each other in a cycle: ping -> pong -> ping")}


def test_pipeline_calling_itself() -> None:
    doc = document([pipe("loop", [task("loop", pipeline="loop", line=101)], line=10)], [])
    assert messages(doc) == {(10, "pipelines call each other in a cycle: loop -> loop")}


def test_deep_chain_is_not_a_cycle() -> None:
    tasks = [task("t0", step="noop", line=100)]
    tasks += [task(f"t{i}", step="noop", line=100 + i, after=(f"t{i - 1}",)) for i in range(1, 3000)]
    doc = document([pipe("flow", tasks)], [step("noop")])
    assert validate(doc) == []


# --------------------------------------------------------------------------- names


def test_duplicate_step_names() -> None:
    doc = document(
        [pipe("flow", [task("load", step="load", line=101, n=const(1))])],
        [step("load", {"n": INT}, line=1), step("load", {"n": INT}, line=2)],
    )
    assert messages(doc) == {(2, "two different steps are named 'load'; rename one")}


def test_duplicate_pipeline_names() -> None:
    doc = document([pipe("flow", [noop()], line=10), pipe("flow", [noop()], line=20)], [NOOP])
    assert messages(doc) == {(20, "two different pipelines are named 'flow'; rename one")}


def test_empty_pipeline() -> None:
    doc = document([pipe("flow", [], line=10)], [])
    assert messages(doc) == {(10, "pipeline 'flow' calls no step")}


def test_duplicate_task_ids() -> None:
    tasks = [task("load", step="load", line=101, n=const(1)), task("load", step="load", line=102, n=const(2))]
    doc = document([pipe("flow", tasks)], [step("load", {"n": INT})])
    assert messages(doc) == {(102, "two tasks are named 'load' in pipeline 'flow'; task ids must be unique")}


def test_duplicate_parameter_names() -> None:
    root = pipe("flow", [noop()], params={"n": INT})
    root = dataclasses.replace(root, params=[*root.params, ir.Param(name="n", type=STR, location=at(51))])
    doc = document([root], [NOOP])
    assert messages(doc) == {(51, "two parameters are named 'n' in pipeline 'flow'; rename one")}


def test_step_names_collide_after_sanitising() -> None:
    doc = document(
        [
            pipe(
                "flow",
                [task("load", step="train_model", line=101), task("load-2", step="train-model", line=102)],
            )
        ],
        [step("train-model", line=1), step("train_model", line=2)],
    )
    assert messages(doc) == {
        (2, "step names 'train-model' and 'train_model' both become 'train-model' on Kubernetes; rename one")
    }


def test_camel_case_collides_with_snake_case() -> None:
    doc = document([pipe("trainModel", [noop()], line=10), pipe("train_model", [noop()], line=20)], [NOOP])
    assert messages(doc) == {
        (
            20,
            "pipeline names 'trainModel' and 'train_model' both become 'train-model' on Kubernetes; "
            "rename one",
        )
    }


def test_task_ids_collide_after_sanitising() -> None:
    doc = document(
        [pipe("flow", [task("load_2", step="noop", line=101), task("load-2", step="noop", line=102)])],
        [step("noop")],
    )
    assert messages(doc) == {
        (102, "task names 'load_2' and 'load-2' both become 'load-2' on Kubernetes; rename one")
    }


def test_parameter_names_collide_after_sanitising() -> None:
    doc = document([pipe("flow", [noop()], params={"learningRate": INT, "learning_rate": INT})], [NOOP])
    assert messages(doc) == {
        (
            50,
            "parameter names 'learningRate' and 'learning_rate' both become 'learning-rate' on Kubernetes; "
            "rename one",
        )
    }


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("___", "it has no letters or digits"),
        ("2nd", "it must start with a letter (not '2nd')"),
        ("x" * 64, "64 characters, at most 63 allowed"),
    ],
)
def test_names_that_cannot_become_kubernetes_names(name: str, why: str) -> None:
    doc = document([pipe("flow", [task("t", step=name, line=101)])], [step(name, line=3)])
    assert messages(doc) == {(3, f"step {name!r} cannot become a Kubernetes name: {why}")}


def test_longest_name_is_fine() -> None:
    name = "x" * 63
    doc = document([pipe(name, [task(name, step=name, line=101)])], [step(name, line=3)])
    assert validate(doc) == []


# --------------------------------------------------------------------------- the JSON round trip


def built() -> ir.Document:
    @ml.step
    def load(n: int) -> list[float]:
        return [float(i) for i in range(n)]

    @ml.step(retry=ml.Retry(attempts=2), timeout="1m", env={"B": "2", "A": "1"})
    def mean(values: list[float], scale: float | None = None) -> float:
        return sum(values) / len(values)

    @ml.pipeline
    def stats(n: int = 10, label: str = "naïve ✓") -> float:
        return mean(values=load(n=n), scale=2.5)

    return stats.build()


@pytest.mark.parametrize("make", [valid, built])
def test_json_round_trip(make: object) -> None:
    doc = make()  # type: ignore[operator]
    text = doc.to_json()
    again = ir.Document.from_json(text)
    assert again == doc
    assert again.to_json() == text
    assert ir.Document.from_json(text.encode()) == doc


def test_json_is_canonical() -> None:
    text = built().to_json()
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert "naïve ✓" in text
    assert text == built().to_json()


def test_json_round_trip_of_none_constant() -> None:
    @ml.step
    def scaled(x: int | None) -> int:
        return x or 0

    @ml.pipeline
    def flow() -> int:
        return scaled(x=None)

    doc = flow.build()
    assert ir.Document.from_json(doc.to_json()) == doc


def test_other_major_version_is_refused() -> None:
    data = json.loads(valid().to_json())
    data["ir_version"] = "2.0"
    with pytest.raises(
        (ValueError, ml.MlopsDslError),
        match=rf"IR version 2\.0 is not readable by this mlopsdsl \(reads {re.escape(ir.IR_VERSION)}\)",
    ):
        ir.Document.from_json(json.dumps(data))


def test_other_major_version_raises_our_error() -> None:
    data = json.loads(valid().to_json())
    data["ir_version"] = "0.9"
    with pytest.raises(ml.MlopsDslError):
        ir.Document.from_json(json.dumps(data))


def test_other_major_version_is_refused_before_its_fields_are_read() -> None:
    data = json.loads(valid().to_json())
    data["ir_version"] = "2.0"
    data["graph"] = {"nodes": []}  # a field a future IR might add
    del data["steps"]  # and one it might drop
    with pytest.raises((ValueError, ml.MlopsDslError), match=r"IR version 2\.0 is not readable"):
        ir.Document.from_json(json.dumps(data))


def test_newer_minor_version_is_read() -> None:
    data = json.loads(valid().to_json())
    data["ir_version"] = "1.9"
    assert ir.Document.from_json(json.dumps(data)).ir_version == "1.9"


def test_problem_formatting() -> None:
    problem = validate(with_tasks(valid(), task("load", step="lod", line=101)))[0]
    assert problem == Problem(Location(FILE, 101), "unknown-step", "task 'load' calls unknown step 'lod'")
    assert str(problem) == "flow.py:101: task 'load' calls unknown step 'lod'"
