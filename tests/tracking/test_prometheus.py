"""Metrics reach a real Prometheus through a real Pushgateway: from the local runner, and from the step
runtime in the KFP and Argo emulators' pods."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import mlopsdsl as ml
from mlopsdsl.testing import run_argo, run_kfp

sys.path.insert(0, str(Path(__file__).parent))
from tracking_pipelines import flaky, tracked
from tracking_servers import Prometheus


def _value(series: list[dict[str, object]]) -> float:
    assert len(series) == 1, series
    value = series[0]["value"]
    assert isinstance(value, list)
    return float(value[1])


def test_local_run_pushes_standard_and_user_metrics(prometheus: Prometheus, tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = ml.run(tracked, home=home, progress=False, pushgateway=prometheus.pushgateway, epochs=4)
    run = f'run="{result.run_id}"'
    loss = prometheus.wait_for(f'mlopsdsl_metric{{{run},name="loss",task="train"}}')
    assert _value(loss) == 0.0625
    assert _value(prometheus.wait_for(f'mlopsdsl_step_attempts_total{{{run},task="train"}}')) == 1
    assert _value(prometheus.wait_for(f'mlopsdsl_step_duration_seconds_count{{{run},task="where"}}')) == 1
    statuses = prometheus.wait_for(f"mlopsdsl_step_status{{{run}}}", count=3)
    assert {s["metric"]["task"]: s["metric"]["status"] for s in statuses} == {
        "train": "succeeded",
        "quiet": "succeeded",
        "where": "succeeded",
    }
    assert _value(prometheus.wait_for(f'mlopsdsl_pipeline_runs_total{{{run},status="succeeded"}}')) == 1
    # The same call again: every step is a cache hit, and says so.
    again = ml.run(tracked, home=home, progress=False, pushgateway=prometheus.pushgateway, epochs=4)
    hits = prometheus.wait_for(f'mlopsdsl_step_cache_hits_total{{run="{again.run_id}"}} == 1', count=3)
    assert len(hits) == 3


def test_retries_and_failures_by_reason(prometheus: Prometheus, tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    result = ml.run(
        flaky, home=tmp_path / "home", progress=False, pushgateway=prometheus.pushgateway, folder=str(folder)
    )
    run = f'run="{result.run_id}"'
    assert _value(prometheus.wait_for(f'mlopsdsl_step_retries_total{{{run},task="wobbly"}}')) == 2
    assert _value(prometheus.wait_for(f'mlopsdsl_step_failures_total{{{run},reason="call"}}')) == 2
    assert _value(prometheus.wait_for(f'mlopsdsl_metric{{{run},name="tries"}}')) == 3


@pytest.mark.parametrize("backend", ["kfp", "argo"])
def test_pods_push_through_the_runtime(backend: str, prometheus: Prometheus, tmp_path: Path) -> None:
    text = ml.compile(tracked, backend=backend, cache=False, pushgateway=prometheus.pushgateway)
    runner = run_kfp if backend == "kfp" else run_argo
    run = runner(text, {"epochs": 5}, workdir=tmp_path / backend)
    assert run.succeeded, run.logs
    run_id = "tracked-emulated" if backend == "kfp" else "emulated"
    loss = prometheus.wait_for(f'mlopsdsl_metric{{run="{run_id}",name="loss",pipeline="tracked"}}')
    assert _value(loss) == 0.03125
    written = prometheus.wait_for(f'mlopsdsl_step_status{{run="{run_id}",status="succeeded"}}', count=3)
    assert len(written) == 3
