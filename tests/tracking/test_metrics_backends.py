"""``ml.log_metric`` and ``ml.current()`` mean the same on every backend: the local runner (both executors)
and the KFP and Argo documents run by their emulators record the same metrics for the same tasks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl.testing import run_argo, run_kfp

sys.path.insert(0, str(Path(__file__).parent))
from tracking_pipelines import tracked

EXPECTED = {"train": {"loss": 0.125, "accuracy": 0.75, "f1": 0.5}}
"""What every backend shows: each metric's last value, for the task that logged any."""


def _local(tmp_path: Path, in_process: bool) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    result = ml.run(tracked, home=tmp_path / "home", progress=False, cache=False, in_process=in_process)
    return result.output, result.metrics


def _emulated(backend: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    text = ml.compile(tracked, backend=backend, cache=False)
    runner = run_kfp if backend == "kfp" else run_argo
    run = runner(text, {}, workdir=tmp_path / backend)
    assert run.succeeded, run.logs
    # Tasks that logged nothing still carry an (empty) metrics output on the engines.
    assert run.metrics["quiet"] == {}
    return run.outputs["output"], {t: m for t, m in run.metrics.items() if m}


@pytest.mark.parametrize("path", ["local", "in-process", "kfp", "argo"])
def test_metrics_and_context_agree(path: str, tmp_path: Path) -> None:
    if path in ("local", "in-process"):
        here, metrics = _local(tmp_path, in_process=path == "in-process")
        backend = "local"
    else:
        here, metrics = _emulated(path, tmp_path)
        backend = path
    assert metrics == EXPECTED
    assert here == {"backend": backend, "pipeline": "tracked", "step": "where", "has_run_id": "True"}


def test_local_records_the_series_and_the_context(tmp_path: Path) -> None:
    result = ml.run(tracked, home=tmp_path / "home", progress=False, epochs=2)
    points = result.step("train").metric_points
    assert [(p["name"], p["value"], p["step"]) for p in points] == [
        ("loss", 0.5, 0),
        ("loss", 0.25, 1),
        ("accuracy", 0.75, None),
        ("f1", 0.5, None),
    ]
    assert result.step("quiet").metrics == {}
    assert "quiet" not in result.metrics
    # A cache hit did not run the step: it logged nothing this time.
    again = ml.run(tracked, home=tmp_path / "home", progress=False, epochs=2)
    assert again.step("train").cache_hit and again.step("train").metric_points == []
