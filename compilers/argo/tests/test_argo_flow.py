"""Control flow on Argo: loops, conditions, ``ml.one_of`` and exit handlers compile to documents that pass
the strict checks, have the intended shape, and run (through ``mlopsdsl.testing.run_argo``) to what plain
Python gives, hostile strings included; the validator catches broken references in the new shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import argo_pipelines as pipes
import pytest
import yaml
from mlopsdsl_argo import ArgoBackend, S3Repository, SecretKey
from mlopsdsl_argo._check import check
from test_argo_compile import assert_valid

import mlopsdsl as ml
from mlopsdsl.testing import run_argo

BACKEND = ArgoBackend()
FLOW = [pipes.hostile_branch, pipes.hostile_items, pipes.stored_fan_in, pipes.with_exit, pipes.relayed_branch]
REPO = S3Repository("ml", "minio:9000", SecretKey("s3", "id"), SecretKey("s3", "key"))


def _templates(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in data["spec"]["templates"]}


def _tasks(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in template["dag"]["tasks"]}


@pytest.mark.parametrize("kind", ["workflow", "template"])
@pytest.mark.parametrize("pipeline", FLOW, ids=lambda p: p.name)
def test_control_flow_passes_hera_argo_schema_and_our_checks(pipeline: Any, kind: str) -> None:
    assert_valid(ml.compile(pipeline, backend=BACKEND, kind=kind))
    assert_valid(ml.compile(pipeline, backend=BACKEND, kind=kind, artifact_repository=REPO))


def test_loops_items_and_parallelism() -> None:
    data = yaml.safe_load(ml.compile(pipes.hostile_items, backend=BACKEND))
    templates = _templates(data)
    tasks = _tasks(templates["hostile-items"])
    # A literal list: withItems of armored JSON texts (no {{, no $, ASCII), {{item}} is one of them.
    literal = tasks["echo-2"]
    assert [json.loads(i) for i in literal["withItems"]] == [pipes.HOSTILE, "{{workflow.name}}"]
    assert all("{{" not in i and "$" not in i and i.isascii() for i in literal["withItems"])
    assert literal["arguments"]["parameters"][0] == {"name": "text", "value": "{{item}}"}
    # A parameter: the items helper lists it as texts first.
    assert tasks["echo"]["withParam"] == "{{tasks.echo-items.outputs.parameters.items}}"
    assert tasks["echo-items"]["template"] == "mlopsdsl-items"
    # max_parallel: the loop sits in a one-task DAG template with parallelism; consumers read it unchanged.
    wrapper = templates[tasks["echo-3"]["template"]]
    assert wrapper["parallelism"] == 2 and list(_tasks(wrapper)) == ["echo-3"]
    assert (
        tasks["join-3"]["arguments"]["parameters"][0]["value"] == "{{tasks.echo-3.outputs.parameters.output}}"
    )
    # The consumer decodes Argo's aggregate (a JSON list of each run's text).
    assert templates["join"]["container"]["args"][:2] == ["--gather", "parts"]


def test_conditions_one_of_and_exit_handler_shape() -> None:
    data = yaml.safe_load(ml.compile(pipes.hostile_branch, backend=BACKEND))
    tasks = _tasks(_templates(data)["hostile-branch"])
    condition = tasks["when-1"]
    assert condition["template"] == "mlopsdsl-condition"
    assert (
        condition["arguments"]["parameters"][1]["value"]
        == "[{{inputs.parameters.text}},{{inputs.parameters.other}}]"
    )
    tree = json.loads(condition["arguments"]["parameters"][0]["value"])
    assert tree["conditions"][0]["right"] == {
        "value": pipes.HOSTILE
    }  # the literal is data, not an expression
    assert tasks["echo"]["when"] == "{{tasks.when-1.outputs.parameters.holds}} == true"
    assert tasks["echo-2"]["when"] == "{{tasks.when-1.outputs.parameters.holds}} == false"
    assert tasks["echo"]["depends"] == "when-1.Succeeded"
    output = _templates(data)["hostile-branch"]["outputs"]["parameters"][0]["valueFrom"]
    assert output == {
        "expression": "tasks['echo'].status == 'Succeeded' ? tasks['echo'].outputs.parameters.output"
        " : tasks['echo-2'].outputs.parameters.output"
    }
    data = yaml.safe_load(ml.compile(pipes.with_exit, backend=BACKEND))
    exit_dag = _templates(data)[data["spec"]["onExit"]]
    params = {p["name"]: p["value"] for p in exit_dag["dag"]["tasks"][0]["arguments"]["parameters"]}
    assert params["status"] == "{{=workflow.status == 'Succeeded' ? 'Succeeded' : 'Failed'}}"
    assert params["folder"] == "{{workflow.parameters.folder}}"


def test_stored_outputs_carry_their_record_and_loops_upload_under_one_prefix() -> None:
    data = yaml.safe_load(ml.compile(pipes.stored_fan_in, backend=BACKEND))
    templates = _templates(data)
    producer = next(
        t for n, t in templates.items() if n.startswith("make-point") and "MLOPSDSL_ITEM" in str(t)
    )
    assert producer["outputs"]["parameters"] == [
        {"name": "output-meta", "valueFrom": {"path": "/tmp/mlopsdsl/outputs/output-meta.json"}},
        {"name": "mlopsdsl-metrics", "valueFrom": {"path": "/tmp/mlopsdsl/outputs/mlopsdsl-metrics.json"}},
    ]
    assert producer["outputs"]["artifacts"][0]["s3"]["key"].endswith("/output/{{pod.name}}")
    consumer = templates["norms"]["inputs"]
    assert consumer["artifacts"][0]["optional"] is True  # an empty loop uploads nothing
    assert consumer["artifacts"][0]["s3"] == {"key": "{{inputs.parameters.points-key}}"}
    spec = json.loads(templates["norm"]["container"]["args"][1]) if "norm" in templates else None
    assert spec is None or spec["inputs"][0]["meta"] == {"arg": "p-meta"}


@pytest.mark.parametrize("params", [{}, {"text": "plain", "other": "' || true || '"}, {"other": "y"}])
def test_hostile_strings_in_conditions_decide_as_in_python(tmp_path: Path, params: dict[str, str]) -> None:
    text, other = params.get("text", pipes.HOSTILE), params.get("other", "x")
    if text == pipes.HOSTILE and other != "' || true || '":
        want = pipes.echo(text=text, suffix=" matched")
    else:
        want = pipes.echo(text=other, suffix=" {{item}}")
    result = run_argo(ml.compile(pipes.hostile_branch, backend=BACKEND), params, workdir=tmp_path)
    assert result.succeeded, result.logs
    assert result.outputs == {"output": want}
    assert sorted(p for p, s in result.tasks.items() if s == "Skipped") == (
        ["echo-2"] if want.endswith("matched") else ["echo"]
    )


@pytest.mark.parametrize("pick", [True, False])
def test_one_of_over_a_sub_pipeline_passing_a_value_through_reads_its_maker(
    tmp_path: Path, pick: bool
) -> None:
    """The sub-pipeline's DAG declares no output for a parameter it passes through, so the choice reads the
    task that made the value (and depends on it), not the sub-pipeline's task."""
    text = ml.compile(pipes.relayed_branch, backend=BACKEND)
    consumer = _tasks(_templates(yaml.safe_load(text))["relayed-branch"])["echo-3"]
    assert consumer["depends"] == "((echo.Succeeded && relay.Succeeded) || echo-2.Succeeded)"
    assert consumer["arguments"]["parameters"][0]["value"] == (
        "{{=tasks['relay'].status == 'Succeeded' ? tasks['echo'].outputs.parameters.output"
        " : tasks['echo-2'].outputs.parameters.output}}"
    )
    result = run_argo(text, {"pick": pick}, workdir=tmp_path)
    assert result.succeeded, result.logs
    assert result.outputs == {"output": pipes.HOSTILE + (" +!" if pick else " -!")}
    local = ml.run(pipes.relayed_branch, pick=pick, home=tmp_path / "local", progress=False, cache=False)
    assert local.output == result.outputs["output"]


def test_hostile_strings_as_loop_items_reach_the_steps_unchanged(tmp_path: Path) -> None:
    result = run_argo(ml.compile(pipes.hostile_items, backend=BACKEND), {}, workdir=tmp_path)
    assert result.succeeded, result.logs
    texts = [pipes.HOSTILE, "{{item}}", "$(HOME)"]
    assert result.outputs == {
        "output_0": "|".join(t + "!" for t in texts),
        "output_1": "|".join(t + "$(X)" for t in [pipes.HOSTILE, "{{workflow.name}}"]),
        "output_2": "|".join(t + "!" for t in pipes.texts_of(text=pipes.HOSTILE)),
    }
    assert "echo[2]" in result.tasks and "echo-3/echo-3[2]" in result.tasks  # the wrapper, then the loop


def test_stored_values_fan_in_nested_and_empty(tmp_path: Path) -> None:
    result = run_argo(ml.compile(pipes.stored_fan_in, backend=BACKEND), {}, workdir=tmp_path)
    assert result.succeeded, result.logs
    flat = [round((x**2 + 16) ** 0.5, 6) for x in range(3)]
    per_size = [sum(round((x**2 + 16) ** 0.5, 6) for x in range(n)) for n in (2, 0, 1)]
    assert result.outputs == {"output_0": flat, "output_1": [0.0, 1.0, 2.0], "output_2": sum(per_size)}
    assert result.tasks["points-of[1]/make-point"] == "Skipped"  # zero elements: skipped, fan-in gives []


def test_exit_handler_gets_the_status_and_parameters(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    result = run_argo(
        ml.compile(pipes.with_exit, backend=BACKEND), {"folder": str(folder)}, workdir=tmp_path / "w"
    )
    assert result.succeeded and result.outputs == {"output": pipes.HOSTILE + "!"}
    assert (folder / "status").read_text() == "Succeeded " + pipes.HOSTILE
    assert result.tasks["onExit/record"] == "Succeeded"


def test_the_validator_catches_broken_references_in_loops_conditions_and_exit() -> None:
    data = yaml.safe_load(ml.compile(pipes.hostile_branch, backend=BACKEND))
    root = data["spec"]["templates"][0]
    tasks = _tasks(root)
    tasks["echo"]["when"] = "{{tasks.ghost.outputs.parameters.holds}} == true"
    tasks["echo-2"]["depends"] = "number"  # uses when-1 without depending on it; and names no task
    tasks["echo-2"]["arguments"]["parameters"][0]["value"] = "{{item}}"
    root["outputs"]["parameters"][0]["valueFrom"]["expression"] = "tasks['nobody'].outputs.parameters.output"
    data["spec"]["onExit"] = "missing-exit"
    joined = "\n".join(str(p) for p in check(data))
    assert "{{tasks.ghost.outputs.parameters.holds}} names no task of this DAG" in joined
    assert "task 'echo-2' reads from task 'when-1' without depending on it" in joined
    assert "task 'echo-2' depends on unknown task 'number'" in joined
    assert "{{item}} is used in a task without withItems or withParam" in joined
    assert "names no task 'nobody'" in joined
    assert "onExit names no template 'missing-exit'" in joined

    data = yaml.safe_load(ml.compile(pipes.hostile_items, backend=BACKEND))
    tasks = _tasks(data["spec"]["templates"][0])
    tasks["echo"]["withParam"] = "{{tasks.join.outputs.parameters.output}}"  # join consumes echo
    tasks["echo"]["depends"] = "echo-items"
    joined = "\n".join(str(p) for p in check(data))
    assert "task 'echo' reads from task 'join' without depending on it" in joined
    assert "in a cycle: echo -> join -> echo" in joined


def test_control_flow_compiles_deterministically() -> None:
    for pipeline in FLOW:
        assert ml.compile(pipeline, backend=BACKEND) == ml.compile(pipeline, backend=BACKEND)


def test_the_declared_type_and_the_producers_record_reach_the_reader() -> None:
    """Issue 7: a numpy array written with ``npy`` is read back with ``npy``: the producer's spec names the
    declared type (which picks the serialiser), and the consumer's spec reads the producer's record."""
    data = yaml.safe_load(ml.compile(pipes.arrays, backend=BACKEND, image="registry.example/sci:1"))
    templates = _templates(data)
    made = json.loads(templates["make-array"]["container"]["args"][1])
    assert made["outputs"] == [
        {"name": "output", "kind": "object", "file": "/tmp/mlopsdsl/outputs/output", "type": "numpy.ndarray"}
    ]
    read = json.loads(templates["array-size"]["container"]["args"][1])
    assert read["inputs"][0]["meta"] == {"arg": "a-meta"}
    assert _tasks(templates["arrays"])["array-size"]["arguments"]["parameters"] == [
        {"name": "a-meta", "value": "{{tasks.make-array.outputs.parameters.output-meta}}"}
    ]
