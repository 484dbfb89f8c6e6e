"""What ``ml.run`` returns: the run's outputs as Python values, and a record per step.

Outputs come back as the types the pipeline declares: JSON values rebuilt into their enum, dataclass or
pydantic class when that class can be imported, stored objects unpickled, artifacts as ``ml.Artifact``
objects whose path is the stored file. In a notebook the result shows as a table of steps.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import field
from pathlib import Path
from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass


@dataclass
class StepRun:
    """One step of a run, as recorded."""

    task: str
    step: str
    status: str
    """``succeeded``, ``cached`` (skipped: a cache hit or a step reused by ``--resume``), ``failed``,
    ``skipped`` (an upstream step failed) or ``pending`` (the run stopped before it)."""
    attempts: int = 0
    cache_hit: bool = False
    seconds: float | None = None
    location: str | None = None
    error: str | None = None
    """The error with the step's own traceback, for a failed step."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Output records: ``{"kind": "json", "value": ...}``, or a stored blob's ``sha256`` and ``size``."""
    metric_points: list[dict[str, Any]] = field(default_factory=list)
    """Every metric the step logged (``ml.log_metric``) in its last attempt, in order: ``name``, ``value``,
    ``step`` (or ``None``) and ``time`` (Unix seconds). Empty for a cache hit: the step did not run."""
    waits: list[float] = field(default_factory=list)
    """The backoff waited before each retry, in seconds (``Retry.delay``), for the retries that waited (as
    the emulators' ``EmulatedRun.waits``)."""
    failed_elements: list[dict[str, Any]] = field(default_factory=list)
    """For a tolerant map: each element that failed (``index``, ``task``, ``error``), left out of its
    results."""

    @property
    def metrics(self) -> dict[str, float]:
        """Each metric's last logged value, by name (``metric_points`` has the whole series)."""
        return {p["name"]: p["value"] for p in self.metric_points}


@dataclass
class RunResult:
    """The result of :func:`mlopsdsl.run`."""

    run_id: str
    pipeline: str
    status: str
    outputs: dict[str, Any]
    """The pipeline's outputs by name (``output`` for a single return value), as Python values."""
    steps: list[StepRun]
    run_dir: Path
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Each step's metrics, last value per name, by task (steps that logged none are left out)."""
        return {s.task: s.metrics for s in self.steps if s.metric_points}

    @property
    def output(self) -> Any:
        """The pipeline's only output. Raises ``KeyError`` when it has none or several."""
        if len(self.outputs) != 1:
            raise KeyError(f"pipeline {self.pipeline!r} has {len(self.outputs)} outputs; use .outputs[name]")
        return next(iter(self.outputs.values()))

    def step(self, task: str) -> StepRun:
        for step in self.steps:
            if step.task == task:
                return step
        raise KeyError(task)

    def __repr__(self) -> str:
        lines = [f"<RunResult {self.run_id}: {self.status} in {self.seconds:.2f}s>"]
        width = max((len(s.task) for s in self.steps), default=4)
        for s in self.steps:
            took = f"{s.seconds:.2f}s" if s.seconds is not None else ""
            note = " (cache hit)" if s.cache_hit else ""
            tries = f" after {s.attempts} attempts" if s.attempts > 1 else ""
            lines.append(f"  {s.task.ljust(width)}  {s.status:<9} {took:>8}{tries}{note}")
        for name, value in self.outputs.items():
            lines.append(f"  -> {name} = {_short(value)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The run report (``mlopsdsl runs show RUN --html``), drawn from the run's records."""
        from mlopsdsl.errors import MlopsDslError
        from mlopsdsl.local._config import trust
        from mlopsdsl.local._records import RunFolder
        from mlopsdsl.local._report import render

        root = self.run_dir.parent.parent
        try:
            folder = RunFolder(root, self.run_id, trust(root).key)
            run, steps = folder.read_run(), folder.read_steps()
        except (OSError, ValueError, MlopsDslError):  # records moved, removed or refused: the table
            return self._table_html()
        return render(run, steps, page=False)

    def _table_html(self) -> str:
        import html

        colour = {"succeeded": "#1a7f37", "cached": "#0969da", "failed": "#cf222e", "skipped": "#6e7781"}
        rows = []
        for s in self.steps:
            took = f"{s.seconds:.2f}s" if s.seconds is not None else ""
            status = f'<span style="color:{colour.get(s.status, "inherit")}">{html.escape(s.status)}</span>'
            error = f"<pre>{html.escape(s.error)}</pre>" if s.error else ""
            rows.append(
                f"<tr><td><code>{html.escape(s.task)}</code></td><td>{status}</td><td>{took}</td>"
                f"<td>{s.attempts}</td><td>{'yes' if s.cache_hit else ''}</td>"
                f"<td>{html.escape(s.location or '')}</td><td>{error}</td></tr>"
            )
        outputs = "".join(
            f"<li><code>{html.escape(k)}</code> = <code>{html.escape(_short(v))}</code></li>"
            for k, v in self.outputs.items()
        )
        return (
            f"<div><b>{html.escape(self.pipeline)}</b> run <code>{html.escape(self.run_id)}</code>: "
            f"{html.escape(self.status)} in {self.seconds:.2f}s"
            "<table><thead><tr><th>step</th><th>status</th><th>time</th><th>attempts</th><th>cached</th>"
            f"<th>call site</th><th>error</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"{'<ul>' + outputs + '</ul>' if outputs else ''}</div>"
        )


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- output records to values


def python_value(
    record: dict[str, Any], type_: ir.TypeSpec | None, blob_path: Path | None, allow_pickle: bool = True
) -> Any:
    """The Python value of an output record, as its declared type asks (``blob_path`` already checked
    against its digest; a pickled value is refused unless ``allow_pickle``)."""
    kind = record.get("kind")
    if kind == "json":
        return _rebuild(type_, record.get("value"))
    assert blob_path is not None
    if kind == "object":
        from mlopsdsl.runtime import serializers

        select = list(record.get("select", []))
        annotation = _import_type(type_.name) if type_ is not None and type_.name and not select else None
        return serializers.load(
            str(blob_path), str(record.get("format", "pickle")), annotation, select, allow_pickle
        )
    from mlopsdsl import artifacts

    cls = getattr(artifacts, str(record.get("type", "Artifact")), artifacts.Artifact)
    uri = record.get("uri") or blob_path.as_uri()
    return cls(path=str(blob_path), uri=uri, metadata=dict(record.get("metadata") or {}))


def _rebuild(type_: ir.TypeSpec | None, value: Any) -> Any:
    if type_ is None or value is None:
        return value
    if type_.kind in ("list", "dict", "optional") and type_.items is not None:
        if type_.kind == "list" and isinstance(value, list):
            return [_rebuild(type_.items, v) for v in value]
        if type_.kind == "dict" and isinstance(value, dict):
            return {k: _rebuild(type_.items, v) for k, v in value.items()}
        return _rebuild(type_.items, value) if type_.kind == "optional" else value
    if type_.kind in ("enum", "model", "dataclass") and type_.name:
        cls = _import_type(type_.name)
        if cls is not None:
            from mlopsdsl.runtime._values import from_json

            try:
                return from_json(cls, value)
            except Exception:  # a class that changed since the run: the JSON is still the truth
                return value
    return value


def _import_type(path: str) -> Any:
    """The class at a dotted import path, or ``None`` (never imports a module that is not loaded yet
    unless it can, and never raises)."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        module = sys.modules.get(module_name)
        if module is None:
            try:
                module = importlib.import_module(module_name)
            except Exception:
                continue
        obj: Any = module
        for part in parts[cut:]:
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, type):
            return obj
    return None
