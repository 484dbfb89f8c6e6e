"""Pod settings on Argo: template fields checked by hera's models and Argo's closed schema, a patch checked
against the Kubernetes models at the user's line, and a run through the emulator."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import argo_pipelines as pipes
import pytest
from test_argo_compile import assert_valid

import mlopsdsl as ml
from mlopsdsl.errors import CompileError
from mlopsdsl.testing import run_argo


def templates(data: dict[str, Any]) -> dict[str, Any]:
    return {t["name"]: t for t in data["spec"]["templates"]}


def test_pod_settings_become_template_fields() -> None:
    data = assert_valid(ml.compile(pipes.pods, backend="argo"))
    spec = data["spec"]
    assert spec["serviceAccountName"] == "runner"
    # Argo has no pull secrets per template: the workflow lists every step's, the pipeline's first.
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "team"}]
    loader = templates(data)["loader"]
    assert loader["serviceAccountName"] == "runner" and loader["priorityClassName"] == "high"
    assert loader["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "gpu", "operator": "In", "values": ["a100"]},
                            {"key": "cores", "operator": "Gt", "values": ["8"]},
                        ]
                    }
                ]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In",
                                                                   "values": ["a"]}]}}
            ],
        },
        "podAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}},
                                                   "topologyKey": "kubernetes.io/hostname"}}
            ]
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"job": "train"}}, "namespaces": ["ml"],
                 "topologyKey": "kubernetes.io/hostname"}
            ]
        },
    }  # fmt: skip
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in loader["volumes"]
    assert {"name": "shm", "mountPath": "/dev/shm"} in loader["container"]["volumeMounts"]
    assert loader["container"]["imagePullPolicy"] == "IfNotPresent"
    assert loader["securityContext"]["runAsUser"] == 2000 and loader["securityContext"]["runAsNonRoot"]
    assert loader["container"]["securityContext"]["allowPrivilegeEscalation"] is False
    assert json.loads(loader["podSpecPatch"]) == {
        "containers": [{"name": "main", "stdin": True}],
        "dnsPolicy": "ClusterFirst",
    }
    root = templates(data)["as-root"]
    assert root["serviceAccountName"] == "builder"  # the step's own wins over the pipeline's
    assert root["securityContext"]["runAsUser"] == 0 and root["securityContext"]["runAsNonRoot"] is False
    assert "securityContext" not in root["container"]  # root keeps its capabilities


def test_a_pipeline_without_pod_settings_compiles_as_before() -> None:
    data = assert_valid(ml.compile(pipes.chain, backend="argo"))
    assert "imagePullSecrets" not in data["spec"]
    for template in data["spec"]["templates"]:
        assert not {"affinity", "podSpecPatch", "priorityClassName", "serviceAccountName"} & set(template)


@ml.step(
    pod=ml.Pod(patch={"hostNetwrk": True, "containers": [{"name": "main", "tty": "yes"}, {"image": "x"}]})
)
def misspelled(x: int) -> int:
    return x


@ml.pipeline
def bad_patch(x: int = 1) -> int:
    return misspelled(x=x)


@ml.step
def quiet(x: int) -> int:
    return x


@ml.pipeline(pod=ml.Pod(patch={"volumes": [{"name": "v", "emptyDir": {"medium": 3}}]}))
def bad_default(x: int = 1) -> int:
    return quiet(x=x)


def test_a_patch_that_is_no_pod_spec_is_an_error_at_the_line_that_wrote_it() -> None:
    with pytest.raises(CompileError) as info:
        ml.compile(bad_patch, backend="argo")
    message = str(info.value)
    assert "step 'misspelled': pod patch is not a Kubernetes PodSpec" in message
    assert "patch.hostNetwrk is not a field of PodSpec" in message
    assert "patch.containers[0].tty must be bool, not 'yes'" in message
    assert "patch.containers[1] needs a name" in message
    assert info.value.location is not None
    assert info.value.location.file.endswith(Path(__file__).name)
    assert info.value.location.line == inspect.getsourcelines(misspelled.fn)[1]
    with pytest.raises(CompileError) as info:
        ml.compile(bad_default, backend="argo")
    assert "pipeline 'bad_default': pod patch is not a Kubernetes PodSpec: " in str(info.value)
    assert "patch.volumes[0].emptyDir.medium must be str, not 3" in str(info.value)
    assert info.value.location is not None
    assert info.value.location.line == inspect.getsourcelines(bad_default.fn)[1]


def test_the_emulator_runs_a_pipeline_with_pod_settings(tmp_path: Path) -> None:
    result = run_argo(ml.compile(pipes.pods, backend="argo"), {"x": 4}, workdir=tmp_path)
    assert result.status == "Succeeded", result.logs
    assert result.outputs == {"output": 10}


@pytest.mark.parametrize("runtime", ["bundle", "image"])
def test_the_variables_the_argo_pods_read_are_reserved(runtime: str) -> None:
    """A step's env or secret of the same name would replace them (validation refuses it)."""
    import re

    from mlopsdsl_argo._launch import BOOT, ITEM_ENV, launcher

    from mlopsdsl.options import RESERVED_ENV

    read = set(re.findall(r"MLOPSDSL_[A-Z_]+", BOOT + launcher(runtime)))
    assert ITEM_ENV in read and read <= RESERVED_ENV
