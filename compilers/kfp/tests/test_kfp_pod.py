"""Pod settings on KFP: what kfp-kubernetes' PlatformSpec carries, checked by its own strict parse; what it
cannot carry, a located error; the pipeline's service account goes with the run through ``kfp.Client``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import kfp_pipelines as pipelines
import pytest
import yaml
from conftest import TOKEN
from kfp_server import StandInServer, check_package
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl.cli import app
from mlopsdsl.errors import CompileError

NON_ROOT = {"runAsGroup": "1000", "runAsNonRoot": True, "runAsUser": "1000"}


def executors(pipeline: Any, **options: Any) -> dict[str, Any]:
    docs = list(yaml.safe_load_all(ml.compile(pipeline, backend="kfp", **options)))
    check_package(docs)  # PipelineSpec, PlatformSpec and each KubernetesExecutorConfig, strictly
    if len(docs) == 1:
        return {}
    found: dict[str, Any] = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    return found


def test_pod_settings_become_kfp_kubernetes_fields() -> None:
    config = executors(pipelines.pods)
    loader = config["exec-loader"]
    # Required node rules share one term (Kubernetes ORs separate terms); a preference is its own.
    assert loader["nodeAffinity"] == [
        {
            "matchExpressions": [
                {"key": "gpu", "operator": "In", "values": ["a100", "h100"]},
                {"key": "pool", "operator": "Exists"},
            ]
        },
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}], "weight": 10.0},
    ]
    assert loader["podAffinity"] == [
        {"matchPodLabels": {"app": "db"}, "topologyKey": "topology.kubernetes.io/zone", "weight": 50.0},
        {"anti": True, "matchPodLabels": {"job": "train"}, "namespaces": ["ml"],
         "topologyKey": "kubernetes.io/hostname"},
    ]  # fmt: skip
    assert loader["enabledSharedMemory"] == {"size": "2Gi", "volumeName": "shm"}
    assert loader["imagePullPolicy"] == "Always"
    assert [s["secretName"] for s in loader["imagePullSecret"]] == ["regcred", "team"]
    assert loader["securityContext"] == {**NON_ROOT, "runAsUser": "2000"}
    assert config["exec-as-root"]["securityContext"] == {
        "runAsGroup": "0",
        "runAsNonRoot": False,
        "runAsUser": "0",
    }
    assert [s["secretName"] for s in config["exec-as-root"]["imagePullSecret"]] == ["regcred"]
    assert config["exec-mlopsdsl-runtime"] == {"securityContext": NON_ROOT}


def test_non_root_false_leaves_the_user_to_the_image_unless_a_step_chooses() -> None:
    config = executors(pipelines.pods, non_root=False)
    assert "exec-mlopsdsl-runtime" not in config
    assert config["exec-loader"]["securityContext"] == {**NON_ROOT, "runAsUser": "2000"}
    assert executors(pipelines.chain_of(2), non_root=False) == {}
    with pytest.raises(CompileError, match="non_root='no': give True or False"):
        ml.compile(pipelines.pods, backend="kfp", non_root="no")


@ml.step(pod=ml.Pod(priority_class="urgent", patch={"hostIPC": True}))
def demanding(x: int) -> int:
    return x


@ml.step(pod=ml.Pod(service_account="own"))
def own_account(x: int) -> int:
    return x


@ml.pipeline(pod=ml.Pod(priority_class="batch"))
def unsupported(x: int = 1) -> int:
    return own_account(x=demanding(x=x))


def test_what_the_platform_spec_cannot_carry_is_an_error_at_the_line_that_set_it() -> None:
    with pytest.raises(ml.ValidationError) as info:
        ml.compile(unsupported, backend="kfp")
    lines = {(p.location.line if p.location else None, p.message) for p in info.value.problems}
    here = Path(__file__).name
    demanding_line = inspect.getsourcelines(demanding.fn)[1]
    own_line = inspect.getsourcelines(own_account.fn)[1]
    pipeline_line = inspect.getsourcelines(unsupported.fn)[1]
    assert lines == {
        (demanding_line, "step 'demanding' sets pod patch=, which the kfp backend cannot set on a step"),
        (demanding_line, "step 'demanding' sets pod priority_class=, which the kfp backend cannot set on a step"),
        (own_line, "step 'own_account' sets pod service_account=, which the kfp backend cannot set on a step; "
                   "set it on the pipeline for the whole run, @ml.pipeline(pod=ml.Pod(service_account=...))"),
        (pipeline_line, "pipeline 'unsupported' sets pod priority_class=, which the kfp backend cannot set on "
                        "a step"),
    }  # fmt: skip
    assert all(p.location is not None and p.location.file.endswith(here) for p in info.value.problems)


def test_submit_runs_under_the_pipelines_service_account(kfp_server: StandInServer) -> None:
    target = f"{Path(pipelines.__file__)}:pods"
    result = CliRunner().invoke(
        app, ["submit", target, "--backend", "kfp", "--host", kfp_server.url], env={"MLOPSDSL_TOKEN": TOKEN}
    )
    assert result.exit_code == 0, result.output
    (run,) = kfp_server.state.runs.values()
    assert run["service_account"] == "runner"


def test_the_emulator_runs_a_pipeline_with_pod_settings(tmp_path: Path) -> None:
    from mlopsdsl.testing import run_kfp

    result = run_kfp(ml.compile(pipelines.pods, backend="kfp"), {"x": 4}, workdir=tmp_path)
    assert result.status == "Succeeded", result.logs
    assert result.outputs == {"output": 5}
