"""``ml.run``: run a pipeline on this machine and get its outputs back as Python values.

This is the only place the runner touches authoring objects: it asks the pipeline for its IR
(``build()``) and, to ship code by value, for its step functions. Everything after that reads the IR.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsdsl import ir
from mlopsdsl.errors import Location, ParameterError, RunError
from mlopsdsl.local import _progress
from mlopsdsl.local._cache import Cache
from mlopsdsl.local._config import ENV_OPTIONS, trust
from mlopsdsl.local._config import resolve as resolve_storage
from mlopsdsl.local._config import tracking as resolve_tracking
from mlopsdsl.local._executors import Executor, InProcessExecutor, SubprocessExecutor
from mlopsdsl.local._plan import Plan, build_plan
from mlopsdsl.local._records import RunFolder, home, new_run_id, now, sweep
from mlopsdsl.local._result import RunResult, StepRun, python_value
from mlopsdsl.local._scheduler import Scheduler, Settings, code_specs
from mlopsdsl.local._store import BlobStore, RemoteStore, open_store
from mlopsdsl.local._telemetry import Publisher
from mlopsdsl.lowering import desugar, is_builtin
from mlopsdsl.runtime import push
from mlopsdsl.runtime.serializers import ENV_PICKLE

if TYPE_CHECKING:
    from mlopsdsl._pipeline import Pipeline

Locate = Callable[["ir.SourceLocation | None"], "Location | None"]


def run(
    pipeline: Pipeline[..., Any],
    /,
    *,
    params: Mapping[str, Any] | None = None,
    max_parallel: int | None = None,
    cache: bool = True,
    in_process: bool = False,
    code: str = "value",
    resume: str | None = None,
    home: str | os.PathLike[str] | None = None,
    artifact_root: str | os.PathLike[str] | None = None,
    progress: bool | _progress.Progress | None = None,
    check: bool = True,
    secrets: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = None,
    clean_env: bool = True,
    executor: str | None = None,
    pushgateway: str | None = None,
    **values: Any,
) -> RunResult:
    """Run a pipeline locally and return its outputs.

    Parameter values are keyword arguments (``ml.run(train, lr=0.1)``); ``params={...}`` does the same
    for a parameter whose name is also an option of this function.

    Args:
        pipeline: An ``@ml.pipeline`` function.
        params: Parameter values, merged with the keyword arguments.
        max_parallel: Most steps running at once; the number of CPUs by default.
        cache: Reuse the outputs of earlier runs of the same code on the same inputs, after checking them
            by digest; identical calls in this run are computed once. ``False`` runs every step, identical
            calls each (results are still recorded for later runs). Steps with ``cache=False`` never reuse.
        in_process: Run steps in this process (breakpoints work) instead of one subprocess per step.
        code: How step code reaches the step's process: ``"value"`` (cloudpickle; works for code in
            ``__main__`` and notebooks) or ``"import"`` (by ``module:qualname``).
        resume: A run id: run again only the steps of that run that did not succeed, reusing the rest.
        home: Where runs, outputs and the cache live; ``$MLOPSDSL_HOME`` or ``./.mlopsdsl`` by default.
        artifact_root: Where stored objects and artifacts go: a folder, or an fsspec URL such as
            ``s3://bucket/prefix``. By default ``$MLOPSDSL_ARTIFACT_ROOT``, then the config files, then
            ``<home>/blobs`` (see ``docs/storage.md``).
        progress: ``None``: a live table on a terminal, log lines elsewhere; ``False``: quiet.
        check: Raise :class:`~mlopsdsl.errors.RunError` when the run fails (else return the result).
        secrets: Values of the ``ml.Secret`` keys steps declare, by ``"NAME.KEY"``; a key not given is read
            from ``env_file``, then from this process's environment (the variable the step reads). A step
            sees only its own; values are never written anywhere.
        env_file: A ``.env`` file to read secrets from; ``./.env`` when there is one.
        clean_env: Start each step's process from a clean environment, as a pod does (Python, locale,
            ``MLOPSDSL_*`` and ``AWS_*`` kept); ``False`` passes this process's whole environment.
        executor: How each step gets its own process: ``"fork"`` (the default on Linux: forked from a
            server that has the step runtime imported, a few ms per step), ``"subprocess"`` (a new
            ``python -m mlopsdsl.runtime`` per attempt; the default elsewhere), or ``"in-process"``
            (the same as ``in_process=True``). See ``docs/local.md``.
        pushgateway: A Prometheus Pushgateway URL to push each step's and the run's metrics to
            (``docs/observability.md``); ``$MLOPSDSL_PUSHGATEWAY`` by default, none when unset.

    Returns:
        A :class:`RunResult`: ``.outputs`` (Python values by output name), ``.run_id``, ``.steps``.

    Raises:
        ValidationError: The pipeline has problems.
        ParameterError: A value does not fit its parameter, or a required one is missing.
        RunError: A step failed (with its call site and traceback), or the run could not start.
    """
    document = pipeline.build()
    return run_document(
        document,
        {**(params or {}), **values},
        functions=pipeline.step_functions(),
        locate=pipeline.locate,
        max_parallel=max_parallel,
        cache=cache,
        in_process=in_process,
        code=code,
        resume=resume,
        home=home,
        artifact_root=artifact_root,
        progress=progress,
        check=check,
        secrets=secrets,
        env_file=env_file,
        clean_env=clean_env,
        executor=executor,
        pushgateway=pushgateway,
    )


EXECUTORS = ("fork", "subprocess", "in-process")


def _executor_name(executor: str | None, in_process: bool) -> str:
    """The executor to use: the one asked for, else ``in-process`` or the platform's default."""
    from mlopsdsl.local._fork import fork_available

    if executor is None:
        return "in-process" if in_process else ("fork" if fork_available() else "subprocess")
    if executor not in EXECUTORS:
        raise RunError(f"executor must be one of {', '.join(map(repr, EXECUTORS))}, not {executor!r}")
    if in_process and executor != "in-process":
        raise RunError(f"in_process=True and executor={executor!r} disagree: give one of them")
    if executor == "fork" and not fork_available():
        raise RunError("the 'fork' executor needs os.fork (Linux); use executor='subprocess'")
    return executor


def _executor(name: str) -> Executor:
    if name == "fork":
        from mlopsdsl.local._fork import ForkExecutor

        return ForkExecutor()
    return InProcessExecutor() if name == "in-process" else SubprocessExecutor()


def _portable(where: ir.SourceLocation | None) -> Location | None:
    return Location(where.file, where.line) if where is not None else None


def run_document(
    document: ir.Document,
    values: Mapping[str, Any] | None = None,
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    locate: Locate = _portable,
    max_parallel: int | None = None,
    cache: bool = True,
    in_process: bool = False,
    code: str = "value",
    resume: str | None = None,
    home: str | os.PathLike[str] | None = None,
    artifact_root: str | os.PathLike[str] | None = None,
    progress: bool | _progress.Progress | None = None,
    check: bool = True,
    secrets: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = None,
    clean_env: bool = True,
    executor: str | None = None,
    pushgateway: str | None = None,
) -> RunResult:
    """Run an IR document. :func:`run` is this with the document and functions taken from a pipeline;
    without ``functions``, by-value mode finds step functions by their import path in loaded modules."""
    from mlopsdsl._compile import with_defaults

    if code not in ("value", "import"):
        raise RunError(f"code must be 'value' or 'import', not {code!r}")
    if max_parallel is not None and max_parallel < 1:
        raise RunError(f"max_parallel must be at least 1, got {max_parallel}")
    root = _home(home)
    trusted = trust(root)
    values = dict(values or {})
    previous: dict[str, dict[str, Any]] = {}
    old_record: dict[str, Any] = {}
    if resume is not None:
        folder = RunFolder.existing(root, resume, trusted.key)
        old_record = folder.read_run()
        if old_record.get("pipeline") != document.root:
            raise RunError(f"run {resume} ran pipeline {old_record.get('pipeline')!r}, not {document.root!r}")
        values = {**old_record.get("params", {}), **values}
        previous = folder.read_steps()
    else:
        folder = RunFolder(root, new_run_id(document.root), trusted.key)
    values = _local_imports(document, values, locate)
    if values:
        document = with_defaults(document, values, locate)
    from mlopsdsl.local._secrets import default_env_file, step_secrets

    # Every declared secret has a value before anything is created (or the run stops, naming the step).
    secret_values = step_secrets(
        document, dict(secrets or {}), default_env_file(env_file), os.environ, locate
    )
    # Conditions on stored values are decided by a task, as on every backend (written lists the plan
    # gathers itself).
    document = desugar(document, gather=False, settle=False)
    plan = build_plan(document, {})
    needed = {step.name for step in document.steps}  # maps add nodes as the run goes
    funcs = dict(functions or {})
    name = _executor_name(executor, in_process)
    in_process = name == "in-process"
    # Storage before the executor: a bad artifact root or config file is refused before a fork server
    # exists (one started and never closed would outlive a failed ml.run in a long-lived process).
    storage = resolve_storage(artifact_root, root)
    blobs = open_store(storage, root)
    chosen = _executor(name)  # then: a fork server's start overlaps the work below
    step_env = {ENV_OPTIONS: json.dumps(storage.options)} if storage.options else {}
    if not trusted.pickle:
        step_env[ENV_PICKLE] = "false"
    settings = Settings(max_parallel or os.cpu_count() or 1, cache, code, step_env, secret_values, clean_env)
    started = time.monotonic()
    run_record: dict[str, Any] = {
        "run_id": folder.run_id,
        "pipeline": document.root,
        "document_digest": document.digest,
        "params": plan.params,
        "status": "running",
        "started": now(),
        "executor": chosen.name,
        "code": "live function" if in_process else code,
        "max_parallel": settings.max_parallel,
        "cache": cache,
        "clean_env": clean_env,
        "artifact_root": storage.root,
    }
    if resume is not None:
        run_record["started"] = old_record.get("started", run_record["started"])
        run_record["resumed"] = [*old_record.get("resumed", []), now()]
    # The run record comes first, in the same rename as the folder: a runner killed at any instant leaves
    # no run folder or one that --resume finds.
    sweep(root)
    folder.create(run_record)
    try:
        # Compact: json.dumps with an indent runs the pure-Python encoder, which cost as much per step as the
        # step's own records.
        folder.write_file(
            folder.path / "document.json",
            ir.canonical_json(ir.dump(document, exclude_none=True), None) + "\n",
        )
        specs = code_specs(document, funcs, "live" if in_process else code, folder, needed)
        if in_process:
            _ensure_functions(document, funcs, needed)
    except BaseException:  # the run never started: its record says so rather than "running" forever
        run_record.update(status="failed", ended=now())
        folder.write_run(run_record)
        chosen.close()
        raise
    shown = _progress.choose(progress)
    # Settings holds step_env itself: the MLflow run's id reaches every step started from here on.
    mlflow_run = _start_tracking(root, document.root, folder.run_id, plan.params, step_env, shown)
    gateway = pushgateway or os.environ.get(push.ENV) or None
    publisher = Publisher(gateway, document.root, folder.run_id, shown) if gateway else None
    scheduler = Scheduler(
        plan,
        folder,
        blobs,
        Cache(root / "cache", blobs, trusted.key),
        chosen,
        shown,
        settings,
        specs,
        funcs,
        locate,
        previous,
        publisher,
    )
    shown.start(folder.run_id, document.root, list(plan.nodes), resume is not None)
    try:
        scheduler.run()
        scheduler.run_exit()
    except BaseException:
        run_record.update(status="interrupted", ended=now())
        folder.write_run(run_record)
        shown.finish("interrupted", time.monotonic() - started)
        raise
    finally:
        chosen.close()
    seconds = time.monotonic() - started
    ok = all(scheduler.settled(n) for n in scheduler.status)
    status = "succeeded" if ok else "failed"
    output_records = {name: scheduler._record(source) for name, source in plan.outputs.items()} if ok else {}
    run_record.update(status=status, ended=now(), seconds=round(seconds, 6), outputs=output_records)
    folder.write_run(run_record)
    if publisher is not None:
        publisher.run(status, seconds)
    if mlflow_run is not None:
        _end_tracking(mlflow_run, status, shown)
    shown.finish(status, seconds)
    result = RunResult(
        run_id=folder.run_id,
        pipeline=document.root,
        status=status,
        outputs={
            name: _python(blobs, rec, plan.output_types.get(name), trusted.pickle)
            for name, rec in output_records.items()
        },
        steps=[_step_run(node_id, scheduler) for node_id in plan.nodes],
        run_dir=folder.path,
        seconds=seconds,
    )
    if not ok and check:
        raise _failure(result, scheduler, plan, locate)
    return result


def _start_tracking(
    root: Path, pipeline: str, run_id: str, params: dict[str, Any], step_env: dict[str, str], shown: Any
) -> str | None:
    """The MLflow run of this pipeline run, made before any step starts (so parallel steps never race to
    make it), and the steps' environment told about it; ``None`` without tracking."""
    from mlopsdsl.runtime import _mlflow

    if resolve_tracking(root) != "mlflow":
        if os.environ.get("MLFLOW_TRACKING_URI"):
            step_env[_mlflow.ENV] = "none"  # the config said no: steps must not track on their own
        return None

    try:
        parent = _mlflow.parent_run(_mlflow.client(), pipeline, run_id, "local", params)
    except Exception as exc:  # tracking never fails a run
        shown.line(pipeline, f"MLflow tracking is off for this run: {type(exc).__name__}: {exc}")
        return None
    step_env.update({_mlflow.ENV: "mlflow", "MLOPSDSL_MLFLOW_PARENT": parent})
    # Steps start from a clean environment: hand them where MLflow is, and its own settings.
    step_env.update({k: v for k, v in os.environ.items() if k.startswith("MLFLOW_") or k == "DO_NOT_TRACK"})
    return parent


def _end_tracking(parent: str, status: str, shown: Any) -> None:
    import contextlib
    import sys

    from mlopsdsl.runtime import _mlflow

    try:
        with contextlib.redirect_stdout(sys.stderr):  # mlflow prints links; stdout has the run's outputs
            _mlflow.client().set_terminated(parent, "FINISHED" if status == "succeeded" else "FAILED")
    except Exception as exc:
        shown.line("mlflow", f"could not close the MLflow run {parent}: {type(exc).__name__}: {exc}")


def _local_imports(document: ir.Document, values: dict[str, Any], locate: Locate) -> dict[str, Any]:
    """``values`` with each artifact parameter's local path made absolute (steps run elsewhere), after
    checking that it exists: a missing file is a parameter error before anything runs, not a failed run."""
    from mlopsdsl._types import is_artifact_parameter
    from mlopsdsl.artifacts import Artifact
    from mlopsdsl.runtime.builtins import local_path

    out = dict(values)
    for param in document.pipeline.params:
        value = out.get(param.name, param.default if param.optional else None)
        if not is_artifact_parameter(param.type) or value is None:
            continue
        if isinstance(value, Artifact):
            value = value.uri or value.path
        if not isinstance(value, str) or ("://" in value and not value.startswith("file://")):
            continue  # remote: read (and found missing, if it is) by the import task
        path = local_path(value)
        if not os.path.exists(path):
            raise ParameterError(
                f"pipeline parameter {param.name!r}: {value} does not exist", locate(param.location)
            )
        out[param.name] = value if value.startswith("file://") else os.path.abspath(path)
    return out


def _home(path: str | os.PathLike[str] | None) -> Path:
    return home(path)


def _ensure_functions(document: ir.Document, funcs: dict[str, Callable[..., Any]], needed: set[str]) -> None:
    import importlib

    from mlopsdsl.backends import find_function

    for step in document.steps:
        if step.name in needed and step.name not in funcs:
            if is_builtin(step):
                importlib.import_module(step.code.module)
            fn = find_function(step.code)
            if fn is None:
                raise RunError(
                    f"step {step.name!r}: its function {step.code.module}:{step.code.qualname} is not loaded "
                    "in this process; run the pipeline object with ml.run()"
                )
            funcs[step.name] = fn


def _blob(blobs: BlobStore | RemoteStore, record: dict[str, Any]) -> Path | None:
    """The blob of a stored output, verified before anything reads (or unpickles) it."""
    return blobs.checked_path(record) if record.get("kind") != "json" else None


def _python(
    blobs: BlobStore | RemoteStore, record: dict[str, Any], type_: ir.TypeSpec | None, allow_pickle: bool
) -> Any:
    """An output record as the Python value the pipeline declares; a collected list element by element."""
    if record.get("kind") == "collected":
        element = type_.items if type_ is not None and type_.kind == "list" else None
        return [_python(blobs, item, element, allow_pickle) for item in record["items"]]
    from mlopsdsl.runtime.serializers import PickleRefused

    try:
        return python_value(record, type_, _blob(blobs, record), allow_pickle)
    except PickleRefused as exc:
        raise RunError(str(exc)) from None


def _step_run(node_id: str, scheduler: Scheduler) -> StepRun:
    node = scheduler.plan.nodes[node_id]
    record = scheduler.records.get(node_id, {})
    error = record.get("error")
    return StepRun(
        task=node_id,
        step=node.label,
        status=record.get("status", scheduler.status[node_id]),
        attempts=len(record.get("attempts", [])),
        cache_hit=bool(record.get("cache_hit")),
        seconds=record.get("seconds"),
        location=record.get("location"),
        error=_error_text(error) if error else None,
        outputs=record.get("outputs", {}),
        metric_points=list(record.get("metrics") or []),
        waits=[a["waited"] for a in record.get("attempts", []) if a.get("waited")],
        failed_elements=list(record.get("failed_elements", [])),
    )


def _error_text(error: dict[str, Any]) -> str:
    trace = str(error.get("traceback") or "").rstrip()
    return trace or f"{error.get('type')}: {error.get('message')}"


def _failure(result: RunResult, scheduler: Scheduler, plan: Plan, locate: Locate) -> RunError:
    failed = [s for s in result.steps if s.status == "failed"]
    skipped = [s for s in result.steps if s.status == "skipped"]
    parts = []
    first: Location | None = None
    for index, step in enumerate(failed):
        where = locate(plan.nodes[step.task].task.location)
        if index == 0:
            first = where
        tries = f" after {step.attempts} attempts" if step.attempts > 1 else ""
        record = scheduler.records[step.task]
        error = record.get("error") or {}
        head = f"step {step.task!r} failed{tries}: {error.get('type')}: {_first(error.get('message'))}"
        if index > 0 and where is not None:
            head = f"{where}: {head}"
        parts.append(head + "\n" + _indent(step.error or ""))
    summary = f"{len(failed)} step{'s' if len(failed) != 1 else ''} failed"
    if skipped:
        summary += f", {len(skipped)} not run (" + ", ".join(s.task for s in skipped) + ")"
    parts.append(
        f"run {result.run_id}: {summary}; records in {result.run_dir}; "
        f"rerun what did not succeed with --resume {result.run_id}"
    )
    return RunError("\n".join(parts), first)


def _first(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())
