"""Compiling to Airflow, checked by Airflow itself: every file imports in a ``DagBag`` without errors,
every pod the operator builds passes the Kubernetes models, the settings land where Airflow reads them, the
output is deterministic, and what Airflow cannot run is refused at the user's line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import airflow_pipelines as pipes
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlopsdsl_airflow import AirflowBackend
from mlopsdsl_airflow.local import validate_pod
from mlopsdsl_airflow.testing import run_airflow

import mlopsdsl as ml
from mlopsdsl.errors import CompileError, ValidationError

ROOT = Path(__file__).parents[3]
sys.path.insert(0, str(ROOT / "tests" / "conformance"))
import pipelines as conformance  # noqa: E402


def bag_of(folder: Path, texts: dict[str, str]) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.py").write_text(text)
    return DagBag(str(folder))


def pod_of(task: Any) -> Any:
    """The pod a task's operator builds (a mapped task: with its first element's arguments)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    if not isinstance(task, KubernetesPodOperator):
        kwargs = dict(task.partial_kwargs)
        kwargs.pop("task_id", None)
        expand = task.expand_input.value.get("arguments")
        args = expand[0] if isinstance(expand, list) else ["--arg", "x=1"]
        task = KubernetesPodOperator(task_id=task.task_id, arguments=args, **kwargs)
    return task.build_pod_request_obj(dry_run=True)


def test_every_conformance_pipeline_imports_and_builds_valid_pods(tmp_path: Path) -> None:
    backend = AirflowBackend()
    texts: dict[str, str] = {}
    for case in conformance.CASES:
        document = case.pipeline.build()
        if [g for g in __import__("mlopsdsl.lowering", fromlist=["gaps"]).gaps(document, backend)]:
            continue  # a declared gap: refused before anything is written (below)
        # A case whose steps use this venv's libraries runs on an image said to have them (the image check).
        image = {} if case.isolated else {"image": "registry.example/this-venv:1"}
        texts[document.pipeline.name] = ml.compile(
            case.pipeline, backend="airflow", store="s3://bucket/mlopsdsl", **image
        )
    bag = bag_of(tmp_path / "dags", texts)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == sorted(texts)
    pods = 0
    for dag in bag.dags.values():
        for task in dag.tasks:
            if task.task_type in ("StepOperator", "MappedOperator") and "PODS" not in task.task_id:
                if getattr(task, "operator_class", type(task)).__name__ in (
                    "PythonOperator",
                    "BranchPythonOperator",
                ):
                    continue
                body = validate_pod(pod_of(task))
                container = body["spec"]["containers"][0]
                assert container["command"][:2] == ["python", "-c"]
                assert {e["name"] for e in container["env"]} >= {"MLOPSDSL_RUNTIME"}
                pods += 1
    assert pods > 100


def test_settings_land_where_airflow_reads_them(tmp_path: Path) -> None:
    bag = bag_of(
        tmp_path / "dags", {"settings": ml.compile(pipes.settings, backend="airflow", namespace="ml")}
    )
    assert bag.import_errors == {}
    dag = bag.dags["settings"]
    assert dag.schedule == "0 3 * * *"
    assert dag.params.dump() == {"x": 1, "label": "a", "ratio": None, "flags": [True]}
    assert dag.params.get_param("x").schema == {"type": "integer"}
    assert dag.params.get_param("ratio").schema == {"type": ["number", "null"]}
    heavy = dag.get_task("heavy")
    assert (heavy.retries, heavy.retry_delay.total_seconds(), heavy.retry_exponential_backoff) == (3, 10, 3.0)
    assert heavy.max_retry_delay.total_seconds() == 120
    assert heavy.execution_timeout.total_seconds() == 300
    assert [
        heavy.retry_policy.evaluate(Exception(), n, 4).retry_delay.total_seconds() for n in (1, 2, 3)
    ] == [
        10,
        30,
        90,
    ]
    body = validate_pod(heavy.build_pod_request_obj(dry_run=True))
    spec = body["spec"]
    container = spec["containers"][0]
    assert container["image"] == "python:3.11-slim"
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
    }
    env = {e["name"]: e for e in container["env"]}
    assert env["MODE"]["value"] == "fast"
    assert env["MLOPSDSL_PACKAGES"]["value"] == '["tqdm==4.66.0"]'
    assert env["API_TOKEN"]["valueFrom"] == {"secretKeyRef": {"key": "token", "name": "creds"}}
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["tolerations"] == [{"effect": "NoSchedule", "key": "gpu", "operator": "Exists"}]
    assert {"name": "volume-1", "persistentVolumeClaim": {"claimName": "shared"}} in spec["volumes"]
    assert {"mountPath": "/data", "name": "volume-1"} in container["volumeMounts"]
    assert body["metadata"]["namespace"] == "ml"
    assert body["metadata"]["labels"]["team"] == "ml"
    assert body["metadata"]["annotations"] == {"note": "trains"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_exit_status_two_fails_without_a_retry(tmp_path: Path) -> None:
    """On a cluster: a pod that exits 2 (failed for good) fails the task; AirflowFailException is never
    retried, whatever ``retries`` says."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
    from kubernetes.client import models as k8s

    bag = bag_of(tmp_path / "dags", {"settings": ml.compile(pipes.settings, backend="airflow")})
    heavy = bag.dags["settings"].get_task("heavy")
    heavy.on_finish_action = "keep_pod"
    heavy.log_events_on_failure = False

    def ended(code: int) -> Any:
        state = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=code))
        status = k8s.V1ContainerStatus(
            name="base", state=state, image="i", image_id="", ready=False, restart_count=0
        )
        return k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(name="p", namespace="n"),
            status=k8s.V1PodStatus(phase="Failed", container_statuses=[status]),
        )

    heavy.patch_already_checked = lambda *args, **kwargs: None
    heavy.process_pod_deletion = lambda *args, **kwargs: None
    heavy.is_istio_enabled = lambda pod: False  # no cluster to ask
    with pytest.raises(AirflowFailException, match="failed for good"):
        heavy.cleanup(ended(2), ended(2))
    with pytest.raises(AirflowException) as raised:
        heavy.cleanup(ended(1), ended(1))
    assert not isinstance(raised.value, AirflowFailException)


def test_compiling_is_deterministic_across_processes() -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import mlopsdsl as ml, airflow_pipelines as p; "
        "sys.stdout.write(ml.compile(p.settings, backend='airflow'))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs.pop() == ml.compile(pipes.settings, backend="airflow")


def test_bad_options_are_located() -> None:
    where = f"{Path(pipes.__file__).name}:"
    with pytest.raises(CompileError, match="unknown option colour") as raised:
        ml.compile(pipes.settings, backend="airflow", colour="red")
    assert where in str(raised.value)
    with pytest.raises(CompileError, match="operator must be one of kubernetes, local"):
        ml.compile(pipes.settings, backend="airflow", operator="docker")
    with pytest.raises(CompileError, match=r"store=.*absolute folder"):
        ml.compile(pipes.settings, backend="airflow", store="relative/dir")
    for bad in ("pip", None):  # runtime= as on KFP and Argo: the same choices and words
        with pytest.raises(CompileError) as raised:
            ml.compile(pipes.settings, backend="airflow", runtime=bad)
        assert raised.value.message == f"[airflow] runtime={bad!r}: choose one of 'bundle', 'image'"
        assert where in str(raised.value)


def test_runtime_image_ships_no_bundle_and_runs_on_the_images_mlopsdsl(tmp_path: Path) -> None:
    """``runtime="image"``: no ``RUNTIME`` in the file, no variable in the pods, a launcher that imports the
    image's mlopsdsl (the worker's, for the local operator), and the same result as the bundled file."""
    text = ml.compile(pipes.chain, backend="airflow", operator="local", runtime="image")
    bundled = ml.compile(pipes.chain, backend="airflow", operator="local")
    assert "RUNTIME = " in bundled and "MLOPSDSL_RUNTIME" in bundled
    assert "RUNTIME = " not in text and "MLOPSDSL_RUNTIME" not in text and "runtime.zip" not in text
    bag = bag_of(tmp_path / "dags", {"chain": text})
    assert bag.import_errors == {}
    for task in bag.dags["chain"].tasks:
        container = validate_pod(pod_of(task))["spec"]["containers"][0]
        assert "from mlopsdsl.runtime import main" in container["command"][2]
        assert not container.get("env")  # the step sets none, and nothing is shipped
    image = run_airflow(text, {"x": 2}, workdir=tmp_path / "image")
    assert image.succeeded, image.logs
    bundle = run_airflow(bundled, {"x": 2}, workdir=tmp_path / "bundle")
    assert image.outputs == bundle.outputs == {"output": 7}


def test_stored_values_need_a_store() -> None:
    with pytest.raises(CompileError, match="give the store= option") as raised:
        ml.compile(conformance.fan_artifacts, backend="airflow")
    assert "pipelines.py:" in str(raised.value)


def test_jinja_openers_in_settings_are_refused_and_in_values_escaped() -> None:
    @ml.step(env={"GREETING": "{{ dag }}"})
    def greet(x: int) -> int:
        return x

    @ml.pipeline
    def greeting(x: int = 1) -> int:
        return greet(x=x)

    with pytest.raises(CompileError, match="Jinja opener"):
        ml.compile(greeting, backend="airflow")
    text = ml.compile(conformance.hostile, backend="airflow")
    assert "{{workflow.name}}" in text  # the param's default, a Python literal: never rendered
    assert "{{inputs" not in text.split("SPECS = {", 1)[1].split("\n}", 1)[0]


def test_a_mapped_sub_pipeline_is_refused_at_the_users_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlopsdsl.cli import app

    with pytest.raises(ValidationError, match="maps sub-pipeline 'per_item'") as raised:
        ml.compile(conformance.nested_map, backend="airflow")
    assert "pipelines.py:" in str(raised.value)
    target = f"{ROOT / 'tests' / 'conformance' / 'pipelines.py'}:nested_map"
    result = CliRunner().invoke(app, ["validate", target, "--backend", "airflow"])
    assert result.exit_code == 2
    assert "pipelines.py:" in result.output and "maps sub-pipeline" in result.output


def test_the_runtime_cache_reuses_across_runs(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    text = ml.compile(pipes.cached, backend="airflow", operator="local", cache_root=str(tmp_path / "cache"))
    first = run_airflow(text, {"folder": str(folder)}, workdir=tmp_path / "one")
    second = run_airflow(text, {"folder": str(folder)}, workdir=tmp_path / "two")
    assert first.succeeded and second.succeeded
    assert first.outputs == second.outputs == {"output": 5}
    assert first.cached == {}
    assert second.cached == {"count": "runtime", "count-2": "runtime", "plus": "runtime"}
    assert sorted((folder / "runs.log").read_text().splitlines()) == ["abc", "de"]  # either may run first
    uncached = ml.compile(
        pipes.cached, backend="airflow", operator="local", cache_root=str(tmp_path / "cache"), cache=False
    )
    third = run_airflow(uncached, {"folder": str(folder)}, workdir=tmp_path / "three")
    assert third.cached == {}
    assert len((folder / "runs.log").read_text().splitlines()) == 4


def test_only_local_files_run_on_this_machine(tmp_path: Path) -> None:
    from mlopsdsl.testing import EmulatorError

    with pytest.raises(EmulatorError, match="operator='local'"):
        run_airflow(ml.compile(pipes.chain, backend="airflow"), {}, workdir=tmp_path)


def test_validate_compiled_reads_specs_and_the_tasks_they_name() -> None:
    backend = AirflowBackend()
    text = ml.compile(conformance.branch, backend="airflow")
    assert backend.validate_compiled(text) == []
    broken = text.replace("SPECS['double']", "SPECS['nope']").replace("'when-1': (", "'when-9': (")
    assert [p.message for p in backend.validate_compiled(broken)] == [
        "a task runs SPECS['nope'], which the file does not define",
        "block 'when-9' has no branch task",
    ]
    spec = text.split("SPECS = {", 1)[1].split("\n", 2)[1]
    bad_spec = text.replace(spec, spec.replace('"version": 1', '"version": 99'))
    assert "is not a call spec the runtime reads" in backend.validate_compiled(bad_spec)[0].message
    assert "not valid Python" in backend.validate_compiled("def (")[0].message


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from("{}%#ab\\\"' \n$é")),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=8,
    )
)
def test_values_pass_through_airflow_templating_unchanged(value: Any) -> None:
    """What Airflow's Jinja renders from a value written by ``jinja_safe`` is that value's JSON, exactly."""
    import json

    import jinja2
    from mlopsdsl_airflow._launch import jinja_safe

    text = jinja_safe(value)
    assert json.loads(jinja2.Environment().from_string(text).render()) == value


def test_pod_settings_reach_the_pod_the_operator_builds(tmp_path: Path) -> None:
    bag = bag_of(tmp_path / "dags", {"pods": ml.compile(pipes.pods, backend="airflow")})
    assert bag.import_errors == {}
    dag = bag.dags["pods"]
    loader = validate_pod(dag.get_task("loader").build_pod_request_obj(dry_run=True))
    spec = loader["spec"]
    # The same Kubernetes JSON as Argo's template for the same rules (one function writes both).
    assert spec["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}]
            },
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In",
                                                                   "values": ["a"]}]}}
            ],
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"job": "train"}}, "namespaces": ["ml"],
                 "topologyKey": "kubernetes.io/hostname"}
            ]
        },
    }  # fmt: skip
    assert spec["serviceAccountName"] == "runner" and spec["priorityClassName"] == "high"
    # Unlike Argo, Airflow sets pull secrets per pod: the pipeline's, then the step's.
    assert spec["imagePullSecrets"] == [{"name": "regcred"}, {"name": "team"}]
    assert spec["securityContext"]["runAsUser"] == 2000 and spec["securityContext"]["runAsNonRoot"] is True
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in spec["volumes"]
    container = spec["containers"][0]
    assert {"name": "shm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # The patch is merged last, as Argo merges podSpecPatch: "main" is the step's container, and its env
    # list merges by name into the runtime's variables rather than replacing them.
    assert spec["dnsPolicy"] == "ClusterFirst"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GREETING"] == "patched" and "MLOPSDSL_RUNTIME" in env
    assert "main" not in [c["name"] for c in spec["containers"]]  # the patch named the step's container
    root = validate_pod(dag.get_task("as_root").build_pod_request_obj(dry_run=True))["spec"]
    assert root["serviceAccountName"] == "builder"  # the step's own wins over the pipeline's
    assert root["securityContext"]["runAsUser"] == 0 and root["securityContext"]["runAsNonRoot"] is False
    assert "securityContext" not in root["containers"][0]  # root keeps its capabilities
    assert root["imagePullSecrets"] == [{"name": "regcred"}]


def test_a_pod_patch_reaches_the_step_when_airflow_runs_it(tmp_path: Path) -> None:
    text = ml.compile(pipes.pods, backend="airflow", operator="local")
    result = run_airflow(text, {"x": 4}, workdir=tmp_path)
    assert result.status == "Succeeded", result.logs
    assert result.outputs == {"output": "PATCHED-4"}


def test_a_patch_that_is_no_pod_spec_is_an_error_at_the_line_that_wrote_it() -> None:
    with pytest.raises(CompileError) as info:
        ml.compile(pipes.bad_patch, backend="airflow")
    message = str(info.value)
    assert "[airflow] step 'misspelled': pod patch is not a Kubernetes PodSpec" in message
    assert "patch.hostNetwrk is not a field of PodSpec" in message
    assert "patch.containers[0] needs a name ('main' is the step's container)" in message
    assert info.value.location is not None
    assert info.value.location.file.endswith("airflow_pipelines.py")


def test_a_schedule_becomes_the_dags_timetable(tmp_path: Path) -> None:
    from airflow.timetables.trigger import CronTriggerTimetable

    bag = bag_of(tmp_path / "dags", {"weekdays": ml.compile(pipes.weekdays, backend="airflow")})
    assert bag.import_errors == {}
    dag = bag.dags["weekdays"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    serialized = dag.timetable.serialize()
    assert (serialized["expression"], serialized["timezone"]) == ("0 3 * * 1-5", "Europe/Paris")
    assert (dag.catchup, dag.max_active_runs, dag.is_paused_upon_creation) == (True, 3, True)


def test_schedule_settings_airflow_lacks_are_errors_at_the_pipeline() -> None:
    with pytest.raises(CompileError) as info:
        ml.compile(pipes.replacing, backend="airflow")
    assert "replace_running, keep_failed is not run by the airflow backend" in str(info.value)
    assert info.value.location is not None and info.value.location.file.endswith("airflow_pipelines.py")


@pytest.mark.parametrize("runtime", ["bundle", "image"])
def test_the_variables_the_airflow_pods_read_are_reserved(runtime: str) -> None:
    """A step's env or secret of the same name would replace them (validation refuses it)."""
    import re

    from mlopsdsl_airflow._launch import launcher

    from mlopsdsl.options import RESERVED_ENV

    read = set(re.findall(r"MLOPSDSL_[A-Z_]+", launcher(runtime)))
    assert "MLOPSDSL_XCOM" in read and read <= RESERVED_ENV
