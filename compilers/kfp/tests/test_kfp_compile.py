"""Compiling to KFP: valid by the peers' own tools, deterministic, and everything in the IR mapped."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import kfp_pipelines as pipelines
import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s
from kfp.pipeline_spec import pipeline_spec_pb2 as pb
from kfp_server import check_package
from mlopsdsl_kfp import KfpBackend

import mlopsdsl as ml
from mlopsdsl.errors import CompileError

ROOT = Path(__file__).parents[3]
sys.path.insert(0, str(ROOT / "tests"))
import golden  # noqa: E402


def compiled(pipeline: Any, **options: Any) -> tuple[str, list[Any]]:
    text = ml.compile(pipeline, backend="kfp", **options)
    return text, list(yaml.safe_load_all(text))


def every_package() -> list[tuple[str, str]]:
    texts = [(f"{p.stem}:{n}", golden.render(p, n, "kfp")) for p, n, b in golden.cases() if b == "kfp"]
    for pipeline in (pipelines.everything, pipelines.configured, pipelines.chain_of(3), pipelines.pods):
        texts.append((pipeline.name, ml.compile(pipeline, backend="kfp")))
    texts.append(("everything-import", ml.compile(pipelines.everything, backend="kfp", code="import")))
    texts.append(("everything-image", ml.compile(pipelines.everything, backend="kfp", runtime="image")))
    texts.append(("stopping", ml.compile(pipelines.stopping, backend="kfp", store="s3://bucket/markers")))
    return texts


PACKAGES = every_package()


@pytest.mark.parametrize(("name", "text"), PACKAGES, ids=[n for n, _ in PACKAGES])
def test_every_package_parses_strictly_and_loads_in_kfp(name: str, text: str, tmp_path: Path) -> None:
    import warnings

    docs = list(yaml.safe_load_all(text))
    json_format.ParseDict(docs[0], pb.PipelineSpec(), ignore_unknown_fields=False)
    check_package(docs)  # PlatformSpec and every KubernetesExecutorConfig too
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # kfp's own deprecation notices
        from kfp.components import load_component_from_file

        component = load_component_from_file(str(path))
    assert component.name == docs[0]["pipelineInfo"]["name"]
    assert KfpBackend().validate_compiled(text) == []


def test_output_is_deterministic_and_portable() -> None:
    first = ml.compile(pipelines.everything, backend="kfp")
    assert ml.compile(pipelines.everything, backend="kfp") == first
    assert str(ROOT) not in first and os.path.expanduser("~") not in first
    assert "sdkVersion: mlopsdsl-kfp\n" in first


def test_payloads_are_byte_identical_across_processes() -> None:
    import subprocess

    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]; import kfp_pipelines as k, mlopsdsl as ml; "
        "sys.stdout.write(ml.compile(k.everything, backend='kfp'))"
    )
    here = str(Path(__file__).parent)
    runs = {
        subprocess.run(
            [sys.executable, "-c", script, here],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(runs) == 1


def test_one_step_used_many_times_is_one_component_and_one_executor() -> None:
    _, docs = compiled(pipelines.chain_of(50))
    spec = docs[0]
    assert sorted(spec["components"]) == ["comp-mlopsdsl-runtime", "comp-one"]
    assert sorted(spec["deploymentSpec"]["executors"]) == ["exec-mlopsdsl-runtime", "exec-one"]
    tasks = spec["root"]["dag"]["tasks"]
    assert len(tasks) == 51
    assert tasks["one-2"]["inputs"]["parameters"]["x"] == {
        "taskOutputParameter": {"outputParameterKey": "output", "producerTask": "one"}
    }
    assert tasks["one-2"]["dependentTasks"] == ["mlopsdsl-runtime", "one"]
    assert spec["root"]["dag"]["outputs"]["parameters"]["output"]["valueFromParameter"] == {
        "outputParameterKey": "output",
        "producerSubtask": "one-50",
    }


def test_parameters_types_defaults_and_outputs() -> None:
    _, docs = compiled(pipelines.everything)
    root = docs[0]["root"]
    params = root["inputDefinitions"]["parameters"]
    assert params["n"] == {"defaultValue": 4.0, "isOptional": True, "parameterType": "NUMBER_INTEGER"}
    assert params["colour"] == {"defaultValue": "blue", "isOptional": True, "parameterType": "STRING"}
    assert params["text"]["defaultValue"] == pipelines.TRICKY
    assert root["outputDefinitions"]["parameters"] == {
        "output_0": {"parameterType": "NUMBER_INTEGER"},
        "output_1": {"parameterType": "STRING"},
        "output_2": {"parameterType": "NUMBER_DOUBLE"},
    }
    # metrics.loss is a field of a task's output: a small task picks it, since DAG outputs cannot select.
    assert root["dag"]["outputs"]["parameters"]["output_2"]["valueFromParameter"]["producerSubtask"] == (
        "output-output-2"
    )
    components = docs[0]["components"]
    assert components["comp-evaluate"]["outputDefinitions"]["parameters"] == {
        "output": {"parameterType": "STRUCT"}
    }
    assert components["comp-make-point"]["outputDefinitions"]["artifacts"]["output"]["artifactType"] == {
        "schemaTitle": "system.Artifact",
        "schemaVersion": "0.0.1",
    }
    assert (
        components["comp-write-data"]["outputDefinitions"]["artifacts"]["output"]["artifactType"][
            "schemaTitle"
        ]
        == "system.Dataset"
    )


def call_spec(spec: dict[str, Any], executor: str) -> tuple[dict[str, Any], list[str]]:
    args = spec["deploymentSpec"]["executors"][executor]["container"]["args"]
    return json.loads(args[args.index("--spec-json") + 1]), args


def test_field_selections_travel_to_the_runtime() -> None:
    _, docs = compiled(pipelines.everything)
    spec = docs[0]
    summary = spec["components"]["comp-summary"]["inputDefinitions"]["parameters"]
    assert summary["accuracy"] == {"parameterType": "STRUCT"}  # the whole Metrics; the runtime selects
    call, args = call_spec(spec, "exec-summary")
    accuracy = next(i for i in call["inputs"] if i["name"] == "accuracy")
    # A STRUCT's numbers travel as doubles: the runtime refuses an int a double would round.
    assert accuracy == {
        "arg": "accuracy",
        "float64": True,
        "kind": "json",
        "name": "accuracy",
        "select": ["accuracy"],
    }
    colour = next(i for i in call["inputs"] if i["name"] == "colour")
    # Rebuilt as the enum by the function's annotation, as every JSON input is: no flag needed.
    assert colour == {"arg": "colour", "kind": "json", "name": "colour", "raw": True}
    assert "--arg" in args and "colour={{$.inputs.parameters['colour']}}" in args


def test_user_strings_never_enter_the_command_or_a_shell() -> None:
    _, docs = compiled(pipelines.everything)
    for executor in docs[0]["deploymentSpec"]["executors"].values():
        container = executor["container"]
        assert container["command"][0] == "python" and container["command"][1] == "-c"
        assert "sh" not in container["command"]
        assert all("quoted" not in item for item in container["command"] + container["args"])
    tasks = docs[0]["root"]["dag"]["tasks"]
    # suffix is Optional[str]: KFP has no such type, so it travels as JSON text in a STRING.
    constant = tasks["echo-2"]["inputs"]["parameters"]["suffix"]["runtimeValue"]["constant"]
    assert json.loads(constant) == pipelines.TRICKY


def test_optional_inputs_have_component_defaults_so_calls_share_a_component() -> None:
    _, docs = compiled(pipelines.everything)
    spec = docs[0]
    # echo(text=...) leaves suffix to its default; echo(text=..., suffix=...) passes it: one component.
    assert spec["root"]["dag"]["tasks"]["echo"]["componentRef"]["name"] == "comp-echo"
    assert spec["root"]["dag"]["tasks"]["echo-2"]["componentRef"]["name"] == "comp-echo"
    assert "suffix" not in spec["root"]["dag"]["tasks"]["echo"]["inputs"]["parameters"]
    assert spec["components"]["comp-echo"]["inputDefinitions"]["parameters"]["suffix"] == {
        "defaultValue": "null",
        "isOptional": True,
        "parameterType": "STRING",
    }
    assert spec["components"]["comp-add"]["inputDefinitions"]["parameters"]["b"] == {
        "defaultValue": 1.0,
        "isOptional": True,
        "parameterType": "NUMBER_INTEGER",
    }
    call, _ = call_spec(spec, "exec-echo")
    assert next(i for i in call["inputs"] if i["name"] == "suffix") == {
        "arg": "suffix",
        "kind": "json",
        "name": "suffix",
    }


def test_sub_pipelines_are_sub_dags() -> None:
    _, docs = compiled(pipelines.everything)
    spec = docs[0]
    inner = spec["components"]["comp-inner"]
    assert "executorLabel" not in inner
    assert sorted(inner["dag"]["tasks"]) == ["add", "halve"]
    assert inner["inputDefinitions"]["artifacts"] == {
        "mlopsdsl_runtime": {"artifactType": {"schemaTitle": "system.Artifact", "schemaVersion": "0.0.1"}}
    }
    assert inner["dag"]["outputs"]["parameters"]["left"]["valueFromParameter"] == {
        "outputParameterKey": "left",
        "producerSubtask": "halve",
    }
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["inner"]["componentRef"]["name"] == tasks["inner-2"]["componentRef"]["name"] == "comp-inner"
    assert tasks["add-2"]["inputs"]["parameters"]["a"] == {
        "taskOutputParameter": {"outputParameterKey": "left", "producerTask": "inner"}
    }


NON_ROOT = {"runAsGroup": "1000", "runAsNonRoot": True, "runAsUser": "1000"}


def test_options_map_to_kfp_and_kubernetes() -> None:
    _, docs = compiled(pipelines.configured)
    spec, platform = docs
    task = spec["root"]["dag"]["tasks"]["heavy"]
    assert task["cachingOptions"] == {}  # cache=False
    assert task["retryPolicy"] == {
        "backoffDuration": "10s",
        "backoffFactor": 3.0,
        "backoffMaxDuration": "31536000s",  # KFP's retry window, not a cap: a year (docs/kfp.md)
        "maxRetryCount": 3,
    }
    assert spec["root"]["dag"]["tasks"]["one"]["dependentTasks"] == ["heavy", "mlopsdsl-runtime"]
    assert spec["root"]["dag"]["tasks"]["one"]["cachingOptions"] == {"enableCache": True}
    container = spec["deploymentSpec"]["executors"]["exec-heavy"]["container"]
    assert container["image"] == "python:3.11"
    assert container["resources"] == {
        "accelerator": {"resourceCount": "2", "resourceType": "nvidia.com/a100"},
        "resourceCpuLimit": "2",
        "resourceCpuRequest": "500m",
        "resourceMemoryLimit": "1Gi",
        "resourceMemoryRequest": "1Gi",
    }
    assert container["env"] == [{"name": "MODE", "value": "fast"}, {"name": "QUOTE", "value": "it's"}]
    assert container["args"][:3] == ["2", "numpy==2.0.0", "pandas>=2; python_version>'3.8'"]
    assert "pip" in container["command"][2]
    one = spec["deploymentSpec"]["executors"]["exec-one"]["container"]
    assert one["image"] == f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"
    assert "pip" not in one["command"][2]
    config = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # Every executor runs as user 1000, never root, by default; only heavy has settings of its own.
    assert sorted(config) == ["exec-heavy", "exec-mlopsdsl-runtime", "exec-one"]
    assert config["exec-one"] == {"securityContext": NON_ROOT} == config["exec-mlopsdsl-runtime"]
    heavy = config["exec-heavy"]
    assert heavy["securityContext"] == NON_ROOT
    json_format.ParseDict(heavy, k8s.KubernetesExecutorConfig(), ignore_unknown_fields=False)
    assert heavy["activeDeadlineSeconds"] == "90"
    assert heavy["nodeSelector"] == {"labels": {"disk": "ssd"}}
    assert heavy["tolerations"] == [
        {"effect": "NoSchedule", "key": "gpu", "operator": "Exists", "tolerationSeconds": "60"}
    ]
    assert [(s["secretName"], s["keyToEnv"]) for s in heavy["secretAsEnv"]] == [
        ("db", [{"envVar": "PASSWORD", "secretKey": "password"}, {"envVar": "DB_USER", "secretKey": "user"}]),
        ("s3", [{"envVar": "KEY", "secretKey": "key"}]),
    ]
    assert heavy["pvcMount"][0]["constant"] == "shared" and heavy["pvcMount"][0]["mountPath"] == "/data"
    assert heavy["configMapAsVolume"][0]["configMapName"] == "conf"
    assert heavy["secretAsVolume"][0]["secretName"] == "creds"
    assert heavy["emptyDirMounts"] == [{"mountPath": "/scratch", "volumeName": "scratch-3"}]
    assert heavy["podMetadata"] == {"annotations": {"note": "x"}, "labels": {"team": "ml"}}


def test_caching_options_keep_kfps_cache_and_the_pods_cache_consistent() -> None:
    digest = next(s.digest for s in pipelines.configured.build().steps if s.name == "one")
    _, (spec, _) = compiled(pipelines.configured)
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["one"]["cachingOptions"] == {"enableCache": True}
    assert tasks["heavy"]["cachingOptions"] == {}  # the step has cache=False
    # The step's digest is in its command line, so KFP's cache key changes with the code (import mode too).
    assert call_spec(spec, "exec-one")[0]["cache"] == {"step": digest}
    assert "cache" not in call_spec(spec, "exec-heavy")[0]
    _, (spec, _) = compiled(pipelines.configured, cache_root="s3://bucket/cache")
    assert call_spec(spec, "exec-one")[0]["cache"] == {
        "step": digest,
        "store": "s3://bucket/cache",
        "read": True,
    }
    assert "cache" not in call_spec(spec, "exec-heavy")[0]
    _, (spec, _) = compiled(pipelines.configured, cache_root="/mnt/cache", cache=False)
    assert all(t["cachingOptions"] == {} for t in spec["root"]["dag"]["tasks"].values())
    assert call_spec(spec, "exec-one")[0]["cache"]["read"] is False  # no reuse; results still recorded


def test_runtime_ships_once_per_document() -> None:
    import base64
    import io
    import zipfile

    from mlopsdsl.runtime.bundle import unpack

    text, docs = compiled(pipelines.chain_of(20))
    runtime = docs[0]["deploymentSpec"]["executors"]["exec-mlopsdsl-runtime"]["container"]
    encoded = runtime["args"][1]
    assert text.count(encoded) == 1
    names = zipfile.ZipFile(io.BytesIO(unpack(base64.b64decode(encoded)))).namelist()
    assert "mlopsdsl/runtime/__init__.py" in names and "cloudpickle/__init__.py" in names
    image_mode, image_docs = compiled(pipelines.chain_of(20), runtime="image")
    assert "mlopsdsl-runtime" not in image_mode
    container = image_docs[0]["deploymentSpec"]["executors"]["exec-one"]["container"]
    # Every step writes its metrics' metadata to the executor output, so it reads {{$}} for the path.
    assert container["command"][:2] == ["python", "-c"]
    assert "runpy.run_module('mlopsdsl.runtime'" in container["command"][2]


def test_import_mode_names_the_function() -> None:
    _, docs = compiled(pipelines.chain_of(2), code="import")
    call, _ = call_spec(docs[0], "exec-one")
    assert call["code"] == {"mode": "import", "module": "kfp_pipelines", "qualname": "one"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, "unknown compile option(s) colour"),
        ({"code": "pickle"}, "code='pickle': choose one of 'value', 'import'"),
        ({"runtime": "pip"}, "runtime='pip': choose one of 'bundle', 'image'"),
        ({"cache": "no"}, "cache='no': give True or False"),
        ({"cache_root": "cache"}, "cache_root='cache': give an absolute folder in the pod"),
    ],
)
def test_bad_options_are_compile_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CompileError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        ml.compile(pipelines.chain_of(2), backend="kfp", **options)
    assert info.value.backend == "kfp"


def test_a_function_not_loaded_cannot_ship_by_value() -> None:
    from mlopsdsl import ir

    document = pipelines.chain_of(2).build()
    step = document.steps[0]
    moved = dataclasses.replace(step, code=dataclasses.replace(step.code, module="nowhere_module"))
    broken = dataclasses.replace(document, steps=[moved])
    with pytest.raises(CompileError, match=r"nowhere_module:one\) is not loaded in this process"):
        KfpBackend().compile(ir.Document.from_json(broken.to_json()))


@pytest.mark.parametrize(("name", "text"), PACKAGES, ids=[n for n, _ in PACKAGES])
def test_fast_serialisation_equals_the_generic_one(name: str, text: str) -> None:
    from mlopsdsl_kfp._emit import message_to_dict, to_yaml
    from mlopsdsl_kfp._lower import lower

    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        assert yaml.safe_load(to_yaml(doc)) == doc
    message = json_format.ParseDict(docs[0], pb.PipelineSpec())
    assert message_to_dict(message) == json_format.MessageToDict(message)
    document = pipelines.configured.build()
    lowered = lower(document, KfpBackend()._settings({}, document.pipeline.location))
    assert message_to_dict(lowered.pipeline) == json_format.MessageToDict(lowered.pipeline)


def test_the_marker_is_keyed_by_the_output_artifact_of_the_task_execution() -> None:
    _, (spec, *_) = compiled(pipelines.stopping, store="s3://bucket/markers")
    component = spec["components"]["comp-careful"]
    assert component["outputDefinitions"]["artifacts"]["mlopsdsl--retry"]["artifactType"] == {
        "schemaTitle": "system.Artifact",
        "schemaVersion": "0.0.1",
    }
    executor = spec["deploymentSpec"]["executors"]["exec-careful"]["container"]
    call = json.loads(executor["args"][executor["args"].index("--spec-json") + 1])
    assert call["retry"] == {
        "stop_on": ["kfp_pipelines.Unusable"],
        "marker": {
            "root": "s3://bucket/markers",
            "key": "{{$.outputs.artifacts['mlopsdsl--retry'].uri}}",
            "touch": "{{$.outputs.artifacts['mlopsdsl--retry'].path}}",
        },
    }
    # Steps without stop_on keep their outputs as they were, store or not.
    _, (plain, *_) = compiled(pipelines.configured, store="s3://bucket/markers")
    assert "mlopsdsl--retry" not in json.dumps(plain)


def test_a_tolerant_element_that_retries_counts_its_attempts_and_skips_kfps_cache() -> None:
    _, (spec, *_) = compiled(pipelines.tolerant, store="s3://bucket/markers")
    executor = spec["deploymentSpec"]["executors"]["exec-careful"]["container"]
    call = json.loads(executor["args"][executor["args"].index("--spec-json") + 1])
    marker = call["retry"]["marker"]
    assert call["tolerant"] == {
        "outcome": "mlopsdsl-outcome",
        "attempts": 3,
        "placeholders": {"output": 0},
        "counter": marker,  # the same key: one per task execution, the same for all of its attempts
    }
    outputs = spec["components"]["comp-careful"]["outputDefinitions"]["parameters"]
    assert outputs["mlopsdsl-outcome"]["parameterType"] == "STRING"
    # KFP's own cache would reuse a tolerated failure (its pod succeeded): off for the elements only.
    elements = _find_task(spec, "careful-elements")
    assert elements.get("cachingOptions", {}).get("enableCache") is not True
    assert _find_task(spec, "careful")["cachingOptions"]["enableCache"] is True


def _find_task(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The task ``name`` wherever it is (the root DAG or a loop's)."""
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]
    return next(dag["tasks"][name] for dag in dags if name in dag["tasks"])


def test_a_tolerant_element_that_retries_needs_a_store() -> None:
    with pytest.raises(
        CompileError, match=r"allow_failures/min_success and retries.*give the compile option store"
    ) as raised:
        ml.compile(pipelines.tolerant, backend="kfp")
    assert raised.value.location is not None and raised.value.location.line > 0


@pytest.mark.parametrize("store", ["relative/folder", 3, 's3://b/"quoted"'])
def test_a_store_is_a_url_or_an_absolute_folder(store: Any) -> None:
    with pytest.raises(CompileError, match=r"store=.*give an fsspec URL"):
        ml.compile(pipelines.stopping, backend="kfp", store=store)
