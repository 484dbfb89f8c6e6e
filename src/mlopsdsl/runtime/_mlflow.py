"""MLflow tracking, done by the step runtime so that every backend gets the same: one MLflow run per
pipeline run, a nested run per task.

Configured by ``MLOPSDSL_TRACKING=mlflow`` or ``MLFLOW_TRACKING_URI`` in the step's environment (the local
runner sets the first from ``tracking = "mlflow"`` in its config); ``mlflow`` is imported only then, so a
step without tracking pays one environment lookup. Per pipeline run, the experiment is named after the
pipeline and the parent run after the run id (tag ``mlopsdsl.run_id``): the first task to look for it
creates it (the local runner creates it before any step starts). Each task's attempt is a nested run
(``mlflow.parentRunId``) named after the task, with the task's inputs as params (JSON values as received,
stored values by URI or digest), its ``ml.log_metric`` points as metrics (with their steps), tags
(``mlopsdsl.step_digest``, ``mlopsdsl.code_version``, ``mlopsdsl.backend``, ``mlopsdsl.attempt``) and each
stored output by URI (``mlopsdsl.output.NAME``: the artifact stays where the backend stored it). Tracking
never fails a step: a problem is a warning on standard error.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._spec import CallSpec
    from .tracking import Current

ENV = "MLOPSDSL_TRACKING"
RUN_TAG = "mlopsdsl.run_id"
MAX_PARAM = 500
"""Longest param value kept (MLflow's own limit is larger; long values are cut with an ellipsis)."""


def configured() -> bool:
    """``MLOPSDSL_TRACKING=mlflow``, or ``MLFLOW_TRACKING_URI`` set and tracking not turned off
    (``MLOPSDSL_TRACKING=none``, which the local runner sets when its config says so)."""
    choice = os.environ.get(ENV)
    return choice == "mlflow" or (choice != "none" and bool(os.environ.get("MLFLOW_TRACKING_URI")))


def client() -> Any:
    from mlflow.tracking import MlflowClient  # type: ignore[import-not-found, unused-ignore]

    return MlflowClient()


def parent_run(
    mlflow: Any, pipeline: str, run_id: str, backend: str, params: dict[str, Any] | None = None
) -> str:
    """The MLflow run of pipeline run ``run_id`` (in the experiment named ``pipeline``), made if missing."""
    experiment = mlflow.get_experiment_by_name(pipeline)
    experiment_id = experiment.experiment_id if experiment is not None else _experiment(mlflow, pipeline)
    found = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.`{RUN_TAG}` = '{_quoted(run_id)}' and tags.`mlopsdsl.level` = 'run'",
    )
    if found:
        return str(found[0].info.run_id)
    run = mlflow.create_run(
        experiment_id,
        run_name=run_id,
        tags={
            RUN_TAG: run_id,
            "mlopsdsl.level": "run",
            "mlopsdsl.pipeline": pipeline,
            "mlopsdsl.backend": backend,
        },
    )
    if params:
        from mlflow.entities import Param  # type: ignore[import-not-found, unused-ignore]

        mlflow.log_batch(run.info.run_id, params=[Param(k, _text(v)) for k, v in sorted(params.items())])
    return str(run.info.run_id)


def _experiment(mlflow: Any, name: str) -> str:
    try:
        return str(mlflow.create_experiment(name))
    except Exception:  # another task made it first
        return str(mlflow.get_experiment_by_name(name).experiment_id)


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_PARAM else text[: MAX_PARAM - 1] + "…"


def log_attempt(spec: CallSpec, args: dict[str, str], record: dict[str, Any], current: Current) -> None:
    """Record one attempt of a task as a nested MLflow run. Never raises."""
    from contextlib import redirect_stdout

    try:
        with redirect_stdout(sys.stderr):  # mlflow prints links on stdout, which is the step's own
            _log(spec, args, record, current)
    except Exception as exc:
        print(f"mlopsdsl: could not record the step in MLflow: {type(exc).__name__}: {exc}", file=sys.stderr)


def _log(spec: CallSpec, args: dict[str, str], record: dict[str, Any], current: Current) -> None:
    from mlflow.entities import Metric, Param, RunTag  # type: ignore[import-not-found, unused-ignore]

    mlflow = client()
    pipeline = current.pipeline or spec.step
    run_id = current.run_id or "unknown"
    parent = os.environ.get("MLOPSDSL_MLFLOW_PARENT") or parent_run(
        mlflow, pipeline, run_id, str(current.backend)
    )
    experiment_id = mlflow.get_run(parent).info.experiment_id
    digest = (spec.context.fields.get("step_digest") if spec.context else None) or (
        spec.cache.step if spec.cache is not None else None
    )
    code = f"{spec.code.module}:{spec.code.qualname}" if spec.code.mode == "import" else "by value"
    tags = {
        "mlflow.parentRunId": parent,
        RUN_TAG: run_id,
        "mlopsdsl.level": "task",
        "mlopsdsl.task": current.task or spec.step,
        "mlopsdsl.step": spec.step,
        "mlopsdsl.backend": str(current.backend),
        "mlopsdsl.code_version": f"{code}; python {sys.version.split()[0]}",
    }
    if digest:
        tags["mlopsdsl.step_digest"] = str(digest)
    if current.attempt is not None:
        tags["mlopsdsl.attempt"] = str(current.attempt)
    if current.map_index is not None:
        tags["mlopsdsl.map_index"] = str(current.map_index)
    for name, out in (record.get("outputs") or {}).items():
        if out.get("kind") != "json":
            tags[f"mlopsdsl.output.{name}"] = str(
                out.get("uri") or out.get("file") or f"sha256:{out.get('sha256')}"
            )
    run = mlflow.create_run(experiment_id, run_name=current.task or spec.step, tags=tags)
    params = [Param(name, _text(value)) for name, value in sorted(_inputs(spec, args).items())]
    metrics = [
        Metric(p["name"], p["value"], int(p["time"] * 1000), p["step"] if p["step"] is not None else 0)
        for p in record.get("metrics") or []
    ]
    extra = []
    if not record.get("ok") and isinstance(record.get("error"), dict):
        error = record["error"]
        extra.append(RunTag("mlopsdsl.error", f"{error.get('type')}: {error.get('message')}"[:MAX_PARAM]))
    mlflow.log_batch(run.info.run_id, metrics=metrics, params=params, tags=extra)
    mlflow.set_terminated(run.info.run_id, "FINISHED" if record.get("ok") else "FAILED")


def _inputs(spec: CallSpec, args: dict[str, str]) -> dict[str, Any]:
    """Each input as a param: a JSON value as received, a stored value by URI (or digest)."""
    from ._io import read_text
    from ._values import select

    params: dict[str, Any] = {}
    for item in spec.inputs:
        try:
            if item.kind == "json":
                value = item.value if item.has_value else read_text(item, args)
                if not item.has_value and not item.raw and isinstance(value, str):
                    value = json.loads(value)
                params[item.name] = select(value, item.select)
            elif item.kind == "collected":
                params[item.name] = f"{len(item.items or [])} stored values"
            else:
                params[item.name] = item.uri or (f"sha256:{item.sha256}" if item.sha256 else item.file)
        except Exception:  # a param is a courtesy: what cannot be read here is left out
            continue
    return params
