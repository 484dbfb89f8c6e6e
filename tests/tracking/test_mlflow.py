"""MLflow tracking against a real ``mlflow server`` (sqlite): a parent run per pipeline run and a nested run
per task, with inputs as params, metrics with their steps, tags and output URIs, read back through
``MlflowClient``; the same from the local runner and from the KFP and Argo emulators' pods."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl.testing import run_argo, run_kfp

sys.path.insert(0, str(Path(__file__).parent))
from tracking_pipelines import tracked


def _runs(uri: str, run_id: str) -> tuple[Any, dict[str, Any]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tracked")
    assert experiment is not None
    parents = client.search_runs(
        [experiment.experiment_id], f"tags.`mlopsdsl.run_id` = '{run_id}' and tags.`mlopsdsl.level` = 'run'"
    )
    assert len(parents) == 1
    parent = parents[0]
    children = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    return parent, {c.data.tags["mlopsdsl.task"]: c for c in children}


def _check_tasks(uri: str, tasks: dict[str, Any], backend: str, epochs: int) -> None:
    from mlflow.tracking import MlflowClient

    assert set(tasks) >= {"train", "quiet", "where"}
    train = tasks["train"]
    assert train.info.status == "FINISHED"
    assert train.data.params == {"epochs": str(epochs)}
    assert train.data.metrics == {"loss": 0.5**epochs, "accuracy": 0.75, "f1": 0.5}
    history = MlflowClient(uri).get_metric_history(train.info.run_id, "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (i, 0.5 ** (i + 1)) for i in range(epochs)
    ]
    assert train.data.tags["mlopsdsl.backend"] == backend
    assert len(train.data.tags["mlopsdsl.step_digest"]) == 64
    assert train.data.tags["mlopsdsl.code_version"]
    assert "x" in tasks["quiet"].data.params


def test_local_run(mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    result = ml.run(tracked, home=tmp_path, progress=False, epochs=2)
    parent, tasks = _runs(mlflow_server, result.run_id)
    assert parent.info.status == "FINISHED" and parent.data.params == {"epochs": "2"}
    _check_tasks(mlflow_server, tasks, "local", 2)


@pytest.mark.parametrize("backend", ["kfp", "argo"])
def test_pods_record_themselves(backend: str, mlflow_server: str, tmp_path: Path) -> None:
    text = ml.compile(tracked, backend=backend, cache=False, tracking_uri=mlflow_server)
    runner = run_kfp if backend == "kfp" else run_argo
    # Not isolated: the image of a tracked pipeline has mlflow installed.
    run = runner(text, {"epochs": 3}, workdir=tmp_path, isolated=False)
    assert run.succeeded, run.logs
    _, tasks = _runs(mlflow_server, "tracked-emulated" if backend == "kfp" else "emulated")
    _check_tasks(mlflow_server, tasks, backend, 3)


def test_a_config_file_turns_tracking_on(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # where; the config says whether
    (tmp_path / "config.toml").write_text('tracking = "none"\n')
    result = ml.run(tracked, home=tmp_path, progress=False, epochs=1)
    from mlflow.tracking import MlflowClient

    experiment = MlflowClient(mlflow_server).get_experiment_by_name("tracked")
    if experiment is not None:
        found = MlflowClient(mlflow_server).search_runs(
            [experiment.experiment_id], f"tags.`mlopsdsl.run_id` = '{result.run_id}'"
        )
        assert found == []
    (tmp_path / "config.toml").write_text('tracking = "colour"\n')
    with pytest.raises(ml.RunError, match="tracking must be"):
        ml.run(tracked, home=tmp_path, progress=False, epochs=1)
