"""Compiling to Argo: the peers' own strict checks (hera's models, Argo's JSON schema), our semantic
validator, determinism, names, options and the errors for what Argo cannot express."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import argo_pipelines as pipes
import pytest
import yaml
from mlopsdsl_argo import ArgoBackend, S3Repository, SecretKey
from mlopsdsl_argo._check import check
from mlopsdsl_argo._naming import Names
from mlopsdsl_argo._values import armor, is_armored_safe

import mlopsdsl as ml
from mlopsdsl.errors import CompileError

ROOT = Path(__file__).parents[3]
SCHEMA = ROOT.parent / "shared" / "argo" / "workflow-schema.json"
BACKEND = ArgoBackend()
KINDS = {"workflow": "Workflow", "template": "WorkflowTemplate", "cron": "CronWorkflow"}


def schema_available() -> bool:
    """Argo's schema is project data kept beside the repository (``../shared/argo``), not in it.

    On a machine without it the schema check is skipped (``test_argo_schema_is_beside_the_checkout`` says
    so); CI has it and sets ``MLOPSDSL_REQUIRE_SHARED``, which makes a missing copy an error there.
    """
    return SCHEMA.exists() or bool(os.environ.get("MLOPSDSL_REQUIRE_SHARED"))


def test_argo_schema_is_beside_the_checkout() -> None:
    if not schema_available():
        pytest.skip(f"Argo's JSON schema is not at {SCHEMA}: compiled documents are checked by hera only")
    assert json.loads(SCHEMA.read_text())["definitions"]


@cache
def strict_schema(kind: str) -> Any:
    """Argo's schema with every open object closed: an unknown property is an error."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text())

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    schema.pop("oneOf")
    schema["$ref"] = f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}"
    return jsonschema.Draft7Validator(schema)


def assert_valid(text: str) -> dict[str, Any]:
    """The document passes hera's strict models, Argo's closed JSON schema and our own checks."""
    from hera.workflows import models

    data = yaml.safe_load(text)
    model = getattr(models, data["kind"])
    model.model_validate(copy.deepcopy(data), strict=True, extra="forbid")
    assert check(data) == []
    if schema_available():
        errors = sorted(strict_schema(data["kind"]).iter_errors(data), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message[:300]}" for e in errors[:5])
    return data  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("pipeline", [pipes.hostile, pipes.options, pipes.chain, pipes.pods])
def test_every_kind_passes_hera_argo_schema_and_our_checks(pipeline: Any, kind: str) -> None:
    text = ml.compile(
        pipeline, backend=BACKEND, kind=kind, schedule="*/5 * * * *" if kind == "cron" else None
    )
    data = assert_valid(text)
    assert data["kind"] == KINDS[kind]


def test_quickstart_example_is_valid_in_every_kind() -> None:
    from mlopsdsl._target import load_pipeline

    quickstart = load_pipeline(str(ROOT / "examples" / "quickstart.py"))
    for kind in ("workflow", "template"):
        assert_valid(ml.compile(quickstart, backend="argo", kind=kind))
    assert_valid(ml.compile(quickstart, backend="argo", kind="cron", schedule="0 * * * *"))


def test_one_template_per_step_reused_by_tasks_and_a_dag_per_pipeline() -> None:
    data = yaml.safe_load(ml.compile(pipes.chain, backend=BACKEND))
    templates = data["spec"]["templates"]
    assert [t["name"] for t in templates] == ["chain", "echo"]
    tasks = templates[0]["dag"]["tasks"]
    assert [t["name"] for t in tasks] == ["echo", *(f"echo-{i}" for i in range(2, 7))]
    assert {t["template"] for t in tasks} == {"echo"}
    assert tasks[2]["depends"] == "echo-2"
    assert tasks[2]["arguments"]["parameters"][0] == {
        "name": "text",
        "value": "{{tasks.echo-2.outputs.parameters.output}}",
    }


def test_parameters_defaults_outputs_and_subpipelines() -> None:
    data = yaml.safe_load(ml.compile(pipes.hostile, backend=BACKEND))
    spec = data["spec"]
    args = {p["name"]: p.get("value") for p in spec["arguments"]["parameters"]}
    assert json.loads(args["text"]) == pipes.HOSTILE and args["n"] == "3"
    assert spec["entrypoint"] == "hostile"
    templates = {t["name"]: t for t in spec["templates"]}
    inner = templates["inner"]
    assert inner["inputs"] == {"parameters": [{"name": "text"}, {"name": "mark"}]}
    assert inner["outputs"] == {
        "parameters": [
            {"name": "second", "valueFrom": {"parameter": "{{tasks.echo.outputs.parameters.output}}"}}
        ]
    }
    tasks = {t["name"]: t for t in templates["hostile"]["dag"]["tasks"]}
    # ``nested.first`` is the sub-pipeline's parameter passed through: it resolves to what was passed in.
    again = tasks["echo-3"]
    assert again["depends"] == "inner && measure && pair"
    assert again["arguments"]["parameters"][0]["value"] == "{{tasks.pair.outputs.parameters.first}}"
    assert tasks["echo-4"]["depends"] == "echo-3 && inner"  # ml.after(again)
    # Objects travel as artifacts; dataclass outputs are selected by the runtime.
    assert tasks["norm"]["arguments"]["artifacts"] == [
        {"name": "p", "from": "{{tasks.make-point.outputs.artifacts.output}}"}
    ]
    assert templates["make-point"]["outputs"]["artifacts"][0]["archive"] == {"none": {}}
    assert (
        tasks["echo-3"]["arguments"]["parameters"][1]["value"]
        == "{{tasks.measure.outputs.parameters.output}}"
    )
    spec_arg = json.loads(templates["echo-2"]["container"]["args"][1])
    assert spec_arg["inputs"][1]["select"] == ["label"]


def test_no_user_text_is_ever_left_for_argo_or_kubernetes_to_expand() -> None:
    text = ml.compile(pipes.hostile, backend=BACKEND)
    data = yaml.safe_load(text)
    for template in data["spec"]["templates"]:
        # Template metrics hold only Argo's own variables ({{duration}}, {{status}}), never user text.
        for value in _strings({k: v for k, v in template.items() if k != "metrics"}):
            for tag in value.split("{{")[1:]:
                assert tag.split("}}")[0].split(".")[0] in ("inputs", "tasks", "workflow", "pod"), value[:200]
            assert "$(" not in value.replace("$$(", "") or value.startswith("$$"), value
    assert "日本" not in text and "\\n" not in json.dumps(_strings_of_args(data))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _strings_of_args(data: dict[str, Any]) -> list[str]:
    return [a for t in data["spec"]["templates"] if "container" in t for a in t["container"]["args"]]


@pytest.mark.parametrize(
    "value",
    [pipes.HOSTILE, "{{", "}}", "{{{{", "$", "$(A)", "\\{", "\\\\{{", {"{{k}}": ["$(x)", 1.5, None]}, [], {}],
)
def test_armored_json_is_safe_and_reads_back_exactly(value: Any) -> None:
    text = armor(value)
    assert is_armored_safe(text)
    assert json.loads(text) == value


def test_step_options_map_onto_argo() -> None:
    data = yaml.safe_load(ml.compile(pipes.options, backend=BACKEND, service_account="runner"))
    spec = data["spec"]
    assert spec["serviceAccountName"] == "runner"
    assert spec["securityContext"]["runAsNonRoot"] is True
    heavy = next(t for t in spec["templates"] if t["name"] == "heavy")
    assert heavy["retryStrategy"] == {
        "limit": "3",
        "retryPolicy": "Always",
        "expression": "lastRetry.exitCode != '2'",
        "backoff": {"duration": "10s", "factor": "3"},
    }
    assert heavy["activeDeadlineSeconds"] == "5400"
    assert heavy["nodeSelector"] == {"disktype": "ssd"}
    assert heavy["tolerations"] == [{"effect": "NoSchedule", "key": "gpu", "operator": "Exists"}]
    assert heavy["metadata"] == {"labels": {"team": "ml"}, "annotations": {"owner": "ann@example.com"}}
    assert heavy["volumes"] == [
        {"name": "volume-1", "persistentVolumeClaim": {"claimName": "data-claim"}},
        {"name": "volume-2", "emptyDir": {}},
    ]
    container = heavy["container"]
    assert container["image"] == "python:3.11-slim"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    env = {e["name"]: e for e in container["env"]}
    assert json.loads(env["MLOPSDSL_PACKAGES"]["value"]) == ["six==1.16.0"]
    assert env["PRICE"]["value"] == "$$(HOME) costs $$5"  # Kubernetes reads it back as written
    assert env["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
    }
    assert container["volumeMounts"] == [
        {"name": "volume-1", "mountPath": "/data", "readOnly": True},
        {"name": "volume-2", "mountPath": "/scratch"},
    ]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    plain = yaml.safe_load(ml.compile(pipes.chain, backend=BACKEND))["spec"]["templates"][1]["container"]
    # no packages: nothing installed
    assert [e["name"] for e in plain["env"]] == ["MLOPSDSL_LAUNCHER", "MLOPSDSL_RUNTIME"]
    root = yaml.safe_load(ml.compile(pipes.options, backend=BACKEND, non_root=False))["spec"]
    assert "securityContext" not in root


def test_explicit_s3_repository_takes_credentials_from_secrets() -> None:
    repo = S3Repository(
        bucket="ml",
        endpoint="minio:9000",
        access_key=SecretKey("s3", "id"),
        secret_key=SecretKey("s3", "key"),
        insecure=True,
    )
    text = ml.compile(pipes.hostile, backend=BACKEND, artifact_repository=repo)
    data = assert_valid(text)
    point = next(t for t in data["spec"]["templates"] if t["name"] == "make-point")
    assert point["outputs"]["artifacts"][0]["s3"] == {
        "endpoint": "minio:9000",
        "bucket": "ml",
        "key": "mlopsdsl/{{workflow.name}}/{{pod.name}}/output",
        "accessKeySecret": {"name": "s3", "key": "id"},
        "secretKeySecret": {"name": "s3", "key": "key"},
        "insecure": True,
    }


def test_cron_schedule_from_the_pipeline_or_the_option() -> None:
    data = yaml.safe_load(ml.compile(pipes.hostile, backend=BACKEND, kind="cron"))
    assert data["spec"]["schedules"] == ["0 3 * * *"] and data["metadata"]["name"] == "hostile"
    data = yaml.safe_load(ml.compile(pipes.hostile, backend=BACKEND, kind="cron", schedule="@hourly"))
    assert data["spec"]["schedules"] == ["@hourly"]
    with pytest.raises(CompileError, match="needs a schedule"):
        ml.compile(pipes.chain, backend=BACKEND, kind="cron")
    with pytest.raises(CompileError, match="not a cron expression"):
        ml.compile(pipes.chain, backend=BACKEND, kind="cron", schedule="daily")


def test_the_pods_cache_is_in_the_call_spec_with_cache_root() -> None:
    def specs(**options: Any) -> list[dict[str, Any]]:
        data = yaml.safe_load(ml.compile(pipes.chain, backend=BACKEND, **options))
        args = [t["container"]["args"] for t in data["spec"]["templates"] if "container" in t]
        return [json.loads(a[a.index("--spec-json") + 1]) for a in args]

    digest = next(s.digest for s in pipes.chain.build().steps if s.name == "echo")
    assert all("cache" not in s for s in specs())  # Argo has no cache mlopsdsl uses
    assert [s["cache"] for s in specs(cache_root="/mnt/cache")] == [
        {"step": digest, "store": "/mnt/cache", "read": True}
    ]
    assert [s["cache"]["read"] for s in specs(cache_root="/mnt/cache", cache=False)] == [False]


def test_bad_options_are_compile_errors() -> None:
    with pytest.raises(CompileError, match=r"\[argo\] unknown option colour"):
        ml.compile(pipes.chain, backend=BACKEND, colour="red")
    with pytest.raises(CompileError, match="kind must be one of"):
        ml.compile(pipes.chain, backend=BACKEND, kind="job")
    with pytest.raises(CompileError, match="schedule applies to kind='cron' only"):
        ml.compile(pipes.chain, backend=BACKEND, schedule="0 3 * * *")
    with pytest.raises(CompileError, match="cache_root='rel/cache': give an absolute folder in the pod"):
        ml.compile(pipes.chain, backend=BACKEND, cache_root="rel/cache")
    with pytest.raises(CompileError, match="cache must be True or False"):
        ml.compile(pipes.chain, backend=BACKEND, cache="off")
    # runtime= as on KFP: the same choices, the same words, at the pipeline's definition
    for bad in ("pip", None, ["image"]):
        with pytest.raises(CompileError) as info:
            ml.compile(pipes.chain, backend=BACKEND, runtime=bad)
        assert info.value.message == f"[argo] runtime={bad!r}: choose one of 'bundle', 'image'"
        assert info.value.location is not None and info.value.location.file.endswith("argo_pipelines.py")
        assert info.value.location.line == pipes.chain.build().pipeline.location.line


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_runtime_image_ships_no_bundle_and_passes_the_strict_checks(kind: str) -> None:
    """``runtime="image"``: no bundle parameter, no bundle variable, and a launcher (once, in its workflow
    parameter) that imports the image's mlopsdsl; the same tasks, templates and call specs otherwise."""
    schedule = "*/5 * * * *" if kind == "cron" else None
    for pipeline in (pipes.hostile, pipes.options, pipes.chain, pipes.pods):
        text = ml.compile(pipeline, backend=BACKEND, kind=kind, schedule=schedule, runtime="image")
        data = assert_valid(text)
        spec = data["spec"].get("workflowSpec", data["spec"])
        parameters = [p["name"] for p in spec["arguments"]["parameters"]]
        assert "mlopsdsl-runtime" not in parameters and "MLOPSDSL_RUNTIME" not in text
        bundled = yaml.safe_load(ml.compile(pipeline, backend=BACKEND, kind=kind, schedule=schedule))
        bundled_spec = bundled["spec"].get("workflowSpec", bundled["spec"])
        assert parameters == [p["name"] for p in bundled_spec["arguments"]["parameters"]][:-1]
        program = next(
            p["value"] for p in spec["arguments"]["parameters"] if p["name"] == "mlopsdsl-launcher"
        )
        assert "runtime.zip" not in program and "bz2" not in program
        assert "from mlopsdsl.runtime import main" in program
        assert text.count("from mlopsdsl.runtime import main") == 1  # once, however many step templates
        for mine, theirs in zip(spec["templates"], bundled_spec["templates"], strict=True):
            if "container" not in mine:
                assert mine == theirs
                continue
            assert mine["container"]["command"] == theirs["container"]["command"]
            assert mine["container"]["args"] == theirs["container"]["args"]
            assert [e for e in theirs["container"]["env"] if e["name"] != "MLOPSDSL_RUNTIME"] == mine[
                "container"
            ].get("env", [])


def test_compiled_output_is_byte_identical_across_processes_and_hash_seeds() -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import mlopsdsl as ml; "
        "import argo_pipelines as p; sys.stdout.write(ml.compile(p.hostile, backend='argo'))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert ml.compile(pipes.hostile, backend=BACKEND) == ml.compile(pipes.hostile, backend=BACKEND)


def test_names_are_dns_labels_and_unique_after_sanitising() -> None:
    names = Names()
    got = [names.claim(n) for n in ("train_model", "TrainModel", "train-model", "x" * 80, "x" * 80)]
    assert got[:3] == ["train-model", "train-model-2", "train-model-3"]
    assert len(set(got)) == 5 and all(len(n) <= 63 for n in got)
    assert got[3] != got[4] and got[4].endswith("-2")


def test_the_validator_reports_broken_references_cycles_and_missing_arguments() -> None:
    data = yaml.safe_load(ml.compile(pipes.hostile, backend=BACKEND))
    spec = data["spec"]
    dag = spec["templates"][0]["dag"]["tasks"]
    dag[1]["depends"] = "ghost"
    dag[0]["depends"] = "pair"
    dag[2]["depends"] = "echo"  # echo -> pair -> echo-2?  pair needs echo-2 too: a cycle via echo
    dag[3]["template"] = "nowhere"
    dag[4]["arguments"]["parameters"].append({"name": "bogus", "value": "1"})
    dag[4]["arguments"]["parameters"][0]["value"] = "{{tasks.echo.outputs.parameters.nope}}"
    spec["entrypoint"] = "missing"
    spec["templates"][-1]["container"]["args"].append("{{inputs.parameters.zzz}}")
    messages = sorted(str(p) for p in check(data))
    joined = "\n".join(messages)
    assert "the entrypoint 'missing' is not a template" in joined
    assert "depends on unknown task 'ghost'" in joined
    assert "calls no template 'nowhere'" in joined
    assert "passes parameter 'bogus'" in joined
    assert "names no output parameter of template 'echo'" in joined
    assert "{{inputs.parameters.zzz}} names no input parameter" in joined
    assert "in a cycle: " in joined
    assert "reads from task 'echo-2' without depending on it" in joined
    assert BACKEND.validate_compiled("kind: [") != []


def test_validate_command_checks_the_argo_output(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlopsdsl.cli import app

    result = CliRunner().invoke(
        app, ["validate", str(ROOT / "examples" / "quickstart.py"), "--backend", "argo"]
    )
    assert result.exit_code == 0, result.output
    assert "checked the IR and the argo output" in result.output


def test_core_never_imports_the_argo_backend() -> None:
    code = "import mlopsdsl, mlopsdsl.ir, mlopsdsl.backends, sys; assert not any(m.startswith('mlopsdsl_argo') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
    code = (
        "import sys, mlopsdsl_argo; from mlopsdsl_argo import _manifest, _check; "
        "assert 'argo_workflows' not in sys.modules and 'hera' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("pipeline", [pipes.hostile, pipes.options, pipes.chain, pipes.pods])
def test_yaml_reads_back_to_exactly_the_manifest(pipeline: Any) -> None:
    document = pipeline.build()
    assert yaml.safe_load(BACKEND.compile(document)) == BACKEND.manifest(document)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " lead",
        "trail ",
        "a: b",
        "#x",
        "- x",
        "yes",
        "No",
        "null",
        "~",
        "1.0",
        "0o17",
        "1e3",
        ".inf",
        "-c",
        "a\u2028b",
        "\x7f\x85",
        "😀 ünï",
        "x\n",
        "x\n\n",
        "  x\ny\n",
        "line\n  indented\n",
        "{a}",
        "[1]",
        "*ref",
        "&a",
        "!tag",
        "%d",
        "@x",
        "`x`",
        "'q'",
        '"dq"',
        "a #b",
        "a:b",
        "\t",
        "\\",
    ],
)
def test_yaml_writer_quotes_whatever_could_be_misread(value: str) -> None:
    from mlopsdsl_argo._yaml import dump

    data = {"k": value, "l": [value, {"m": value}], "n": {"o": [value]}}
    assert yaml.safe_load(dump(data)) == data


def test_step_templates_carry_argo_template_metrics() -> None:
    from mlopsdsl_argo._check import check

    data = yaml.safe_load(ml.compile(pipes.hostile, backend=BACKEND))
    containers = [t for t in data["spec"]["templates"] if "container" in t]
    assert containers
    for template in containers:
        duration, runs = template["metrics"]["prometheus"]
        assert duration["histogram"]["value"] == "{{duration}}"
        assert runs["counter"] == {"value": "1"}
        assert {"key": "status", "value": "{{status}}"} in duration["labels"]
    containers[0]["metrics"]["prometheus"][1]["counter"]["value"] = "{{inputs.parameters.nope}}"
    assert any("is not a metric variable" in p.message for p in check(data))
