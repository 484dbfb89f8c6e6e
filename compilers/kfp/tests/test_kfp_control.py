"""Control flow on KFP: the shapes kfp's own compiler gives ParallelFor, Collected, If/Else, OneOf and
ExitHandler, checked strictly, caught by the validator when broken, and run by the emulator."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlopsdsl_kfp._validate import validate

import mlopsdsl as ml
from mlopsdsl.testing import EmulatorError, run_kfp

sys.path.insert(0, str(Path(__file__).parents[3] / "tests" / "conformance"))
import pipelines as conformance


def _spec(pipeline: Any) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(ml.compile(pipeline, backend="kfp").split("---\n")[0])
    return spec


def _text(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec)


def test_a_map_is_a_parallel_for_with_collected_outputs() -> None:
    spec = _spec(conformance.fan_literal)
    loop = spec["root"]["dag"]["tasks"]["for-loop-double"]
    assert loop["parameterIterator"] == {
        "itemInput": "pipelinechannel--double-loop-item",
        "items": {"raw": "[1, 2, 3]"},
    }
    assert loop["iteratorPolicy"] == {"parallelismLimit": 2}
    body = spec["components"]["comp-for-loop-double"]
    assert body["dag"]["outputs"]["parameters"]["pipelinechannel--double-output"] == {
        "valueFromParameter": {"outputParameterKey": "output", "producerSubtask": "double"}
    }
    assert (
        body["outputDefinitions"]["parameters"]["pipelinechannel--double-output"]["parameterType"] == "LIST"
    )
    total = spec["root"]["dag"]["tasks"]["total"]["inputs"]["parameters"]["values"]
    assert total["taskOutputParameter"]["producerTask"] == "for-loop-double"


def test_a_map_over_a_step_output_iterates_an_input_of_the_loop() -> None:
    loop = _spec(conformance.fan_values)["root"]["dag"]["tasks"]["for-loop-square"]
    items = loop["parameterIterator"]["items"]["inputParameter"]
    assert loop["inputs"]["parameters"][items]["taskOutputParameter"]["producerTask"] == "count-up"


class Blob:
    """A plain class: stored (pickled) and passed by reference, not as JSON."""

    def __init__(self, size: int) -> None:
        self.size = size


@ml.step
def blob(size: int) -> Blob:
    return Blob(size)


@ml.step
def weigh(blobs: list[Blob]) -> int:
    return sum(b.size for b in blobs)


@ml.pipeline(name="blobs")
def blobs(sizes: list[int] = [1, 2, 3]) -> int:  # noqa: B006
    return weigh(blobs=blob.map(size=sizes))


def test_collected_objects_are_an_artifact_list_with_their_records(tmp_path: Path) -> None:
    spec = _spec(blobs)
    body = spec["components"]["comp-for-loop-blob"]
    assert body["outputDefinitions"]["artifacts"]["pipelinechannel--blob-output"]["isArtifactList"] is True
    records = body["outputDefinitions"]["parameters"]["pipelinechannel--blob-output--meta"]
    assert records["parameterType"] == "LIST"
    assert (
        spec["components"]["comp-weigh"]["inputDefinitions"]["artifacts"]["blobs"]["isArtifactList"] is True
    )
    args = spec["deploymentSpec"]["executors"]["exec-weigh"]["container"]["args"]
    assert args[:3] == ["{{$}}", "1", "blobs"]  # the executor input, then the collect prelude's arguments
    assert '"kind":"collected"' in args[args.index("--spec-json") + 1]
    assert run_kfp(_text(spec), {}, workdir=tmp_path).outputs == {"output": 6}
    assert run_kfp(_text(spec), {"sizes": []}, workdir=tmp_path / "none").outputs == {"output": 0}


@ml.step
def lighter(blob: Blob, than: int) -> int:
    return than - blob.size


@ml.step
def added(values: list[int]) -> int:
    return sum(values)


@ml.pipeline(name="blobs-apart")
def blobs_apart(sizes: list[int] = [1, 2, 3], inside: bool = True) -> int:  # noqa: B006
    made = blob.map(size=sizes)
    whole = weigh(blobs=made)
    with ml.when(inside):
        near = weigh(blobs=made)
    with ml.otherwise():
        far = added(values=lighter.map(blob=made, than=10))
    return added(values=[added(values=lighter.map(blob=made, than=whole)), ml.one_of(near, far)])


def _local(pipeline: Any, params: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    result = ml.run(pipeline, params=params, home=tmp_path / "home", progress=False, cache=False)
    return dict(result.outputs)


def test_a_map_over_stored_results_shares_their_loop(tmp_path: Path) -> None:
    spec = _spec(conformance.map_over_stored_chain)
    tasks = spec["root"]["dag"]["tasks"]
    assert not [t for t in tasks if t.startswith(("for-loop-retrain", "for-loop-title", "pack-"))]
    body = spec["components"]["comp-for-loop-train"]["dag"]
    assert sorted(body["tasks"]) == ["retrain", "retrain-2", "title", "train"]
    # each iteration's element is a sibling's single artifact, with its record beside it
    again = body["tasks"]["retrain-2"]["inputs"]
    assert again["artifacts"]["model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "output",
        "producerTask": "retrain",
    }
    assert again["parameters"]["model--meta"]["taskOutputParameter"]["producerTask"] == "retrain"
    assert again["parameters"]["by"] == {"runtimeValue": {"constant": 1}}
    outer = body["tasks"]["retrain"]["inputs"]["parameters"]["by"]
    assert outer == {"componentInputParameter": "pipelinechannel--total-output"}
    assert "total" in tasks["for-loop-train"]["dependentTasks"]  # the loop waits for what its maps need
    out = run_kfp(_text(spec), {}, workdir=tmp_path / "kfp")
    assert out.outputs == _local(conformance.map_over_stored_chain, {}, tmp_path)


def test_a_map_over_stored_results_that_waits_for_them_runs_over_their_pack(tmp_path: Path) -> None:
    spec = _spec(blobs_apart)
    assert validate(_text(spec)) == []
    tasks = spec["root"]["dag"]["tasks"]
    pack = tasks["pack-blob-output"]
    assert pack["componentRef"] == {"name": "comp-mlopsdsl-pack"}
    assert pack["inputs"]["artifacts"]["items"]["taskOutputArtifact"]["producerTask"] == "for-loop-blob"
    loop = tasks["for-loop-lighter-2"]
    assert loop["parameterIterator"] == {
        "itemInput": "pipelinechannel--lighter-2-loop-item",
        "items": {"inputParameter": "pipelinechannel--lighter-2-loop-items"},
    }
    records = loop["inputs"]["parameters"]["pipelinechannel--lighter-2-loop-items"]["taskOutputParameter"]
    assert records == {"outputParameterKey": "pack--meta", "producerTask": "pack-blob-output"}
    inner = spec["components"]["comp-for-loop-lighter-2"]["dag"]["tasks"]["lighter-2"]["inputs"]
    assert inner["artifacts"]["blob"] == {"componentInputArtifact": "pipelinechannel--blob-output"}
    assert inner["parameters"]["blob--meta"] == {
        "componentInputParameter": "pipelinechannel--lighter-2-loop-item"
    }
    spec_json = spec["deploymentSpec"]["executors"]["exec-lighter"]["container"]["args"]
    assert '"select":[0]' in spec_json[spec_json.index("--spec-json") + 1]  # one element of the pack
    # the whole list enters the condition blocks as the same pack, never as an artifact list
    for name, component in spec["components"].items():
        listed = [
            k
            for k, a in component.get("inputDefinitions", {}).get("artifacts", {}).items()
            if a.get("isArtifactList")
        ]
        assert not listed or "dag" not in component, name
    text = _text(spec)
    for params in ({}, {"inside": False}, {"sizes": []}):
        run = run_kfp(text, params, workdir=tmp_path / f"kfp-{len(params)}-{params.get('inside')}")
        assert run.outputs == _local(blobs_apart, params, tmp_path / f"local-{params}"), run.logs


@ml.step
def shelf(n: int) -> ml.Dataset:
    data = ml.Dataset.new("shelf", metadata={"n": n})
    Path(data.path).mkdir()
    for i in range(n):
        Path(data.path, f"book-{i}.txt").write_text("x" * i)
    return data


@ml.step
def books(shelf: ml.Dataset) -> int:
    return len(list(Path(shelf.path).iterdir()))


@ml.step
def letters(shelf: ml.Dataset, plus: int) -> int:
    return sum(len(p.read_text()) for p in Path(shelf.path).iterdir()) + shelf.metadata["n"] * plus


@ml.pipeline(name="shelves")
def shelves(ns: list[int] = [3, 0, 2]) -> int:  # noqa: B006
    made = shelf.map(n=ns)
    return added(values=letters.map(shelf=made, plus=added(values=books.map(shelf=made))))


def test_a_pack_holds_folders_with_their_digests(tmp_path: Path) -> None:
    text = ml.compile(shelves, backend="kfp")
    tasks = yaml.safe_load(text.split("---\n")[0])["root"]["dag"]["tasks"]
    assert "pack-shelf-output" in tasks and "for-loop-letters" in tasks  # books shares shelf's loop
    run = run_kfp(text, {}, workdir=tmp_path / "kfp")
    assert run.outputs == _local(shelves, {}, tmp_path) == {"output": (3 + 3 * 5) + 0 + (1 + 2 * 5)}, run.logs


def test_when_otherwise_and_one_of_are_condition_branches() -> None:
    spec = _spec(conformance.branch)
    root = spec["root"]["dag"]["tasks"]
    assert "condition-branches-when-1" in root
    branches = spec["components"]["comp-condition-branches-when-1"]["dag"]
    when = branches["tasks"]["condition-when-1"]["triggerPolicy"]["condition"]
    other = branches["tasks"]["condition-otherwise-1"]["triggerPolicy"]["condition"]
    reference = "inputs.parameter_values['pipelinechannel--number-output']"
    assert when == f"{reference} > inputs.parameter_values['pipelinechannel--limit']"
    assert other == f"!({when})"
    (output,) = branches["outputs"]["parameters"].values()
    assert [s["producerSubtask"] for s in output["valueFromOneof"]["parameterSelectors"]] == [
        "condition-when-1",
        "condition-otherwise-1",
    ]


def test_an_exit_handler_wraps_the_body_and_gets_its_final_status() -> None:
    spec = _spec(conformance.exit_ok)
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {"mlopsdsl-runtime", "exit-handler", "record-status"}
    handler = root["record-status"]
    assert handler["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    assert handler["inputs"]["parameters"]["status"] == {"taskFinalStatus": {"producerTask": "exit-handler"}}
    assert "exit-handler" in handler["dependentTasks"]
    status = spec["components"]["comp-record-status"]["inputDefinitions"]["parameters"]["status"]
    assert status == {"isOptional": True, "parameterType": "TASK_FINAL_STATUS"}
    assert spec["root"]["dag"]["outputs"]["parameters"]["output"]["valueFromParameter"][
        "producerSubtask"
    ] == ("exit-handler")


def test_conditions_combine_and_quote_strings_safely() -> None:
    @ml.step
    def pick(x: int) -> str:
        return "a" if x else 'b"\n'

    @ml.pipeline(name="combined")
    def combined(x: int = 1, y: float = 0.5) -> None:
        value = pick(x=x)
        with ml.when(((value == 'b"\n') | (y >= 1)) & ~(x != 2)):
            pick(x=2)

    spec = _spec(combined)
    (task,) = [t for t in spec["root"]["dag"]["tasks"].values() if "triggerPolicy" in t]
    assert task["triggerPolicy"]["condition"] == (
        '((inputs.parameter_values[\'pipelinechannel--pick-output\'] == "b\\"\\n") || '
        "(inputs.parameter_values['pipelinechannel--y'] >= 1.0)) && "
        "(!(inputs.parameter_values['pipelinechannel--x'] != 2.0))"
    )


@pytest.mark.parametrize(
    ("break_it", "code"),
    [
        (
            lambda s: s["root"]["dag"]["tasks"]["for-loop-double"]["parameterIterator"].update(itemInput="x"),
            "bad-loop",
        ),
        (
            lambda s: s["root"]["dag"]["tasks"]["for-loop-square"]["parameterIterator"]["items"].update(
                inputParameter="ghost"
            ),
            "bad-loop",
        ),
        (
            lambda s: s["components"]["comp-condition-branches-when-1"]["dag"]["tasks"]["condition-when-1"][
                "triggerPolicy"
            ].update(condition="inputs.parameter_values['ghost'] == 1.0"),
            "bad-condition",
        ),
        (
            lambda s: s["components"]["comp-condition-branches-when-1"]["dag"]["outputs"]["parameters"][
                "pipelinechannel--condition-branches-when-1-oneof-1"
            ]["valueFromOneof"]["parameterSelectors"][0].update(producerSubtask="ghost"),
            "unknown-task",
        ),
        (
            lambda s: s["root"]["dag"]["tasks"]["record-status"]["inputs"]["parameters"]["status"][
                "taskFinalStatus"
            ].update(producerTask="ghost"),
            "unknown-task",
        ),
        (
            lambda s: s["components"]["comp-weigh"]["inputDefinitions"]["artifacts"]["blobs"].pop(
                "isArtifactList"
            ),
            "type-mismatch",
        ),
        (
            lambda s: s["components"]["comp-for-loop-lighter-2"]["inputDefinitions"]["artifacts"][
                "pipelinechannel--blob-output"
            ].update(isArtifactList=True),
            "bad-artifact-list",
        ),
        (
            lambda s: s["components"]["comp-for-loop-square"]["dag"]["tasks"]["square"]["inputs"][
                "parameters"
            ]["x"].update(componentInputParameter="pipelinechannel--square-loop-items"),
            "bad-loop",
        ),
    ],
)
def test_the_validator_catches_broken_control_flow(break_it: Any, code: str) -> None:
    sources = [conformance.fan_literal, conformance.fan_values, conformance.branch, conformance.exit_ok]
    sources += [blobs, blobs_apart]
    for pipeline in sources:
        spec = _spec(pipeline)
        assert validate(_text(spec)) == []
        broken = copy.deepcopy(spec)
        try:
            break_it(broken)
        except KeyError:
            continue  # this pipeline does not have the part the case breaks
        assert code in [p.code for p in validate(_text(broken))]
        return
    pytest.fail("no pipeline has the part to break")


def test_compiles_are_byte_identical_with_control_flow() -> None:
    for pipeline in (conformance.nested_map, conformance.nested_branch, conformance.exit_failed):
        assert ml.compile(pipeline, backend="kfp") == ml.compile(pipeline, backend="kfp")


def test_artifact_fan_in_and_nested_fan_out_run(tmp_path: Path) -> None:
    @ml.step
    def write(n: int) -> ml.Dataset:
        data = ml.Dataset.new("rows")
        Path(data.path).write_text("x\n" * n)
        data.metadata["rows"] = n
        return data

    @ml.step
    def rows(parts: list[ml.Dataset]) -> int:
        return sum(len(Path(p.path).read_text().splitlines()) + p.metadata["rows"] for p in parts)

    @ml.step
    def upto(n: int) -> list[int]:
        return list(range(1, n + 1))

    @ml.pipeline(name="per-n")
    def per_n(n: int) -> int:
        return rows(parts=write.map(n=upto(n=n)))

    @ml.step
    def total(values: list[int]) -> int:
        return sum(values)

    @ml.pipeline(name="datasets")
    def datasets(ns: list[int] = [2, 3]) -> int:  # noqa: B006
        return total(values=per_n.map(n=ns))

    text = ml.compile(datasets, backend="kfp", functions=datasets.step_functions())
    assert validate(text) == []
    run = run_kfp(text, {}, workdir=tmp_path)
    assert run.outputs == {"output": 2 * (1 + 2) + 2 * (1 + 2 + 3)}, run.logs
    assert "for-loop-per-n/per-n[1]/for-loop-write/write[2]" in run.tasks
    empty = run_kfp(text, {"ns": []}, workdir=tmp_path / "empty")
    assert empty.outputs == {"output": 0}


def test_the_emulator_refuses_what_it_does_not_cover(tmp_path: Path) -> None:
    spec = _spec(conformance.branch)
    branches = spec["components"]["comp-condition-branches-when-1"]["dag"]["tasks"]
    branches["condition-when-1"]["triggerPolicy"]["condition"] = "size(inputs.parameter_values['x']) > 1"
    with pytest.raises(EmulatorError, match="outside the CEL subset"):
        run_kfp(_text(spec), {}, workdir=tmp_path)
    spec = _spec(conformance.diamond)
    spec["root"]["dag"]["tasks"]["number"]["artifactIterator"] = {}
    with pytest.raises(EmulatorError, match="artifactIterator"):
        run_kfp(_text(spec), {}, workdir=tmp_path)


def test_the_emulator_keeps_what_kfp_drops_at_a_dag_boundary(tmp_path: Path) -> None:
    """KFP's driver reads a DAG's input artifact list back as one artifact, and takes the list a loop runs
    over out of each iteration's inputs; the emulator refuses both instead of passing the value on."""
    spec = _spec(blobs_apart)
    loop = spec["root"]["dag"]["tasks"]["for-loop-lighter-2"]["inputs"]
    loop["artifacts"]["pipelinechannel--blob-output"] = {
        "taskOutputArtifact": {
            "outputArtifactKey": "pipelinechannel--blob-output",
            "producerTask": "for-loop-blob",
        }
    }
    with pytest.raises(EmulatorError, match="reads a list of 3 artifacts from its DAG's inputs"):
        run_kfp(_text(spec), {}, workdir=tmp_path / "list")
    spec = _spec(conformance.fan_values)
    inner = spec["components"]["comp-for-loop-square"]["dag"]["tasks"]["square"]["inputs"]["parameters"]
    inner["x"] = {"componentInputParameter": "pipelinechannel--square-loop-items"}
    with pytest.raises(EmulatorError, match="names nothing it has"):
        run_kfp(_text(spec), {"n": 2}, workdir=tmp_path / "items")
