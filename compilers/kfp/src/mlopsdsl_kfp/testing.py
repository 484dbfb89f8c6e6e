"""An emulator of Kubeflow Pipelines v2 for the documents mlopsdsl compiles: run them here, as subprocesses.

``run_kfp(text, params, workdir=...)`` reads a compiled pipeline package (YAML, no kfp needed) and does what
the KFP driver and launcher do for the constructs ``mlopsdsl-kfp`` emits:

* **DAGs**: each DAG's tasks in dependency order (``dependentTasks`` and the producers of their inputs);
  sub-DAG components (sub-pipelines, loops, conditions, the exit-handler body) recursively.
* **Parameters**: pipeline inputs with their defaults, component defaults, ``componentInputParameter``,
  ``taskOutputParameter``, ``runtimeValue.constant``; output parameter files read back by declared type.
  Values are held as KFP holds them, ``google.protobuf.Value``s, so every number is a double (an int beyond
  2**53 is rounded, as on a cluster). On command lines they are rendered as the launcher renders them
  (``PBValueToText``): strings as they are, numbers as Go's ``FormatFloat(v, 'f', -1, 64)`` (``1.0`` is
  ``1``, ``1e23`` is ``100000000000000000000000``), null as empty text, lists and structs as protobuf JSON
  (keys sorted, exponent form below 1e-6 and from 1e21) compacted by Go's ``encoding/json``.
* **Artifacts**: ``componentInputArtifact``, ``taskOutputArtifact``, artifact lists (``isArtifactList``);
  each output artifact is a local file or folder, its URI the ``file://`` URL of it. An artifact list
  reaches a container or DAG task of the DAG that holds its producer whole; read from a DAG's inputs
  (``componentInputArtifact``) KFP keeps one artifact per name, so a list of any other length is refused.
* **Executor input and output**: the driver's ``ExecutorInput`` (parameter values; input artifacts with
  their URI and metadata; output parameter files, output artifacts and ``outputs.outputFile``), which
  ``{{$}}`` gives as protobuf JSON. After the command, the launcher's reading of the executor output file:
  parsed strictly (a field ``ExecutorOutput`` does not have fails the task), its ``parameterValues``
  taking precedence over the parameter files, its artifacts' ``metadata`` merged into the output artifacts
  (and a ``uri`` replacing theirs). What was recorded per output artifact is in ``EmulatedRun.artifacts``.
* **Kubernetes**: ``$(VAR)`` expansion (:func:`mlopsdsl.testing.kube_expand`) of each env value, then of
  the command, the args and the executor input, which the driver passes on the launcher's own command
  line: all before the launcher fills in placeholders. The pod's env holds ``KFP_POD_NAME``,
  ``KFP_POD_UID`` and the executor's ``env``.
* **Placeholders**: ``{{$.inputs.parameters['x']}}``, ``{{$.inputs.artifacts['x'].path|uri}}``,
  ``{{$.outputs.parameters['x'].output_file}}``, ``{{$.outputs.artifacts['x'].path|uri}}``, ``{{$}}``,
  ``{{$.pipeline_task_name}}`` (the task's name) and ``{{$.pipeline_job_name}}`` (``NAME-emulated``),
  filled in one pass (the launcher replaces them one after the other in Go map order, so a value holding
  another placeholder's text can be changed on a cluster; the emulator does not model that order).
* **Loops**: ``parameterIterator`` over ``items.raw`` or an input parameter, run one iteration after the
  other (``iteratorPolicy`` is read and ignored); an iteration's DAG gets the loop's inputs without that
  list parameter, plus its item; each output of the loop's DAG is collected into a list in
  iteration order (parameters into a list, artifacts into an artifact list); no iterations give ``[]``.
* **Conditions**: ``triggerPolicy.condition`` in exactly the CEL subset mlopsdsl emits (operands
  ``inputs.parameter_values['x']`` with ``[...]`` selections, literals ``true``/``false``/``null``, numbers,
  double-quoted strings; ``== != < <= > >=``, ``&& || !`` and parentheses). Anything else raises
  :class:`EmulatorError` naming it. A task whose condition is false is ``Skipped``.
* **OneOf**: ``valueFromOneof`` and several ``artifactSelectors`` take the first producer that has the value.
* **Retries**: ``retryPolicy`` as KFP's backend runs it: handed to Argo as a ``retryStrategy`` (whole
  seconds of ``backoffDuration`` and ``backoffMaxDuration``, the latter a retry window from the first
  attempt's start, ``0`` when absent; ``backoffFactor`` as Go prints it, read as a whole number; no
  expression, so every failure is retried) and decided by :mod:`mlopsdsl.testing._retries`. Each
  execution of a task keeps its output artifact URIs across attempts, as KFP's driver allocates them
  once. Backoff is recorded in ``waits``, not slept.
* **Caching**: a container task with ``cachingOptions.enableCache`` is looked up, as KFP's driver does,
  by a fingerprint of its image, command and arguments (before substitution), its input parameter values,
  the *identity* (URI) of its input artifacts and its output definitions; a hit reuses the recorded
  outputs without starting the command (artifacts by reference, not checked). Successful runs of such
  tasks are recorded under ``workdir/kfp-cache``, so runs sharing a ``workdir`` share the cache; a task
  without ``enableCache`` neither looks up nor records. Hits are listed in ``EmulatedRun.cached`` as
  ``"kfp"``; a command whose step runtime reused its own cache (``cache_root``) as ``"runtime"``. Task
  folders are numbered on from earlier runs in the same ``workdir``.
* **Exit handler**: a task with ``triggerPolicy.strategy: ALL_UPSTREAM_TASKS_COMPLETED`` runs whatever its
  upstream tasks did, and its ``taskFinalStatus`` input gets ``{"state": "SUCCEEDED"|"FAILED", ...}``.
* **Failure**: a failed task fails its DAG and the run; tasks needing it are ``Omitted``; other tasks,
  and other loop iterations, still run.

Every container command runs with ``python`` replaced by this interpreter under ``-I -S`` (no
site-packages: only what the package ships is importable), in ``workdir``, with the pod's env. A step's
``packages=`` are installed once per set into a cache folder and added to its ``sys.path`` (not into this
interpreter), as are the folders given as ``site_packages`` (the image's own), the same way as the Argo
emulator does (:mod:`mlopsdsl.testing._site`).
Not covered: cache staleness (``maxCacheStaleness``), resources, timeouts, Kubernetes settings (the
PlatformSpec is ignored),
``parameterExpressionSelector``, ``artifactIterator``, importers, and anything kfp's own compiler emits that
mlopsdsl does not; they are refused with :class:`EmulatorError` rather than guessed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from mlopsdsl._dataclass import dataclass
from mlopsdsl.runtime._cache import HIT
from mlopsdsl.runtime._tolerance import OUTCOME, failure_of
from mlopsdsl.testing import EmulatedRun, EmulatorError, kube_expand
from mlopsdsl.testing._retries import Attempt, decide, kfp_strategy
from mlopsdsl.testing._site import PackagesError, Sites, install_packages, sites_for, with_sites

from ._executors import METRICS_OUTPUT, PIP_PRELUDE
from ._types import META as _META  # the compiler's own suffix of an output record's parameter

__all__ = ["run_kfp"]

_PLACEHOLDER = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](?:\.(path|uri|output_file))?\}\}"
)
_EXECUTOR_INPUT = "{{$}}"


def run_kfp(
    text: str,
    params: dict[str, Any],
    *,
    workdir: Path,
    isolated: bool = True,
    site_packages: Sites = (),
    packages_cache: Path | None = None,
) -> EmulatedRun:
    """Run a compiled KFP pipeline package on this machine.

    Args:
        text: The package, as ``ml.compile(pipeline, backend="kfp")`` wrote it.
        params: Pipeline parameters; the others take their defaults. Numbers become doubles, as in a KFP
            run. A value that is not a str for a ``STRING`` parameter (``None`` for an ``Optional``) is
            sent as JSON text, as ``mlopsdsl submit`` sends it; a str is sent as it is.
        workdir: A folder for the tasks' files (created if missing).
        isolated: Run commands under ``-I -S``, with nothing installed importable, as in a stock image.
            ``False`` keeps this interpreter's site-packages, for steps that need libraries (numpy,
            pandas) that the real image or ``packages=`` would provide.
        site_packages: Folders standing for the image's site-packages (``pip install --target`` of an
            image's lock): for every container, or by image name (``{tag: [folder]}``).
        packages_cache: Where each distinct set of a step's ``packages=`` is installed once
            (:func:`mlopsdsl.testing._site.default_cache` when left out).

    Raises:
        EmulatorError: The document uses a KFP feature the emulator does not cover, or is malformed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    return _Emulator(text, workdir, isolated, site_packages, packages_cache).run(params)


@dataclass
class _Artifact:
    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)
    """What the launcher records for it: the executor output's metadata merged in (MLMD, the KFP UI)."""
    location: str | None = None
    """A URI the executor output gave it instead of its own."""

    @property
    def uri(self) -> str:
        return self.location or self.path.absolute().as_uri()


@dataclass
class _Result:
    state: str
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- values as KFP holds them


def held(value: Any) -> Any:
    """A JSON value as KFP holds it, a ``google.protobuf.Value``: every number a double."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise EmulatorError(f"{value!r} cannot be a KFP value: protobuf JSON has no NaN or infinity")
        return number
    if isinstance(value, list):
        return [held(v) for v in value]
    if isinstance(value, dict):
        return {str(k): held(v) for k, v in value.items()}
    raise EmulatorError(f"{value!r} is not a JSON value")


def render(value: Any) -> str:
    """A parameter value as the KFP launcher puts it on a command line (``PBValueToText``): a string as it
    is, a number as Go's ``FormatFloat(v, 'f', -1, 64)`` (shortest digits, never an exponent, no ``.0``),
    a bool as ``true``/``false``, null as empty text, lists and structs as compact protobuf JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return _fixed(float(value))
    return to_json(value)


def to_json(value: Any) -> str:
    """A held value as protobuf's JSON writer gives it, compacted by Go's ``encoding/json`` (which escapes
    ``<``, ``>``, ``&``, U+2028 and U+2029): numbers in shortest form, in exponent form below 1e-6 and from
    1e21, map keys sorted."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise EmulatorError(f"{number!r} is not a value protobuf JSON can hold")
        size = abs(number)
        return _exponent(number) if size and (size < 1e-6 or size >= 1e21) else _fixed(number)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for char, escape in _GO_ESCAPES.items():
            text = text.replace(char, escape)
        return text
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(k)}:{to_json(value[k])}" for k in sorted(value)) + "}"
    raise EmulatorError(f"{value!r} is not a JSON value")


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _digits(number: float) -> tuple[str, str, int]:
    """Sign, shortest decimal digits and the exponent of the first digit of ``number``."""
    from decimal import Decimal

    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    text = "".join(map(str, digits)) or "0"
    assert isinstance(exponent, int)
    return ("-" if sign else ""), text, exponent + len(text) - 1


def _fixed(number: float) -> str:
    sign, digits, point = _digits(number)
    if digits == "0":
        return sign + "0"
    if point < 0:
        return f"{sign}0.{'0' * (-point - 1)}{digits}"
    whole, fraction = digits[: point + 1].ljust(point + 1, "0"), digits[point + 1 :]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _exponent(number: float) -> str:
    sign, digits, point = _digits(number)
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}".replace("e-0", "e-")


def read_parameter(text: str, kind: str) -> Any:
    """An output parameter file read back by its declared type, as the launcher does (``TextToPbValue``)."""
    if kind == "STRING":
        return text
    if kind in ("NUMBER_INTEGER", "NUMBER_DOUBLE"):
        return float(text)
    if kind == "BOOLEAN":
        return {"true": True, "false": False}[text.strip().lower()]
    return held(json.loads(text))


class _Emulator:
    def __init__(
        self,
        text: str,
        workdir: Path,
        isolated: bool = True,
        sites: Sites = (),
        packages_cache: Path | None = None,
    ) -> None:
        self.flags = ["-I", "-S"] if isolated else ["-I"]
        self.sites = sites
        self.packages_cache = packages_cache
        try:
            docs = list(yaml.safe_load_all(text))
            self.spec: dict[str, Any] = docs[0]
            self.components: dict[str, Any] = self.spec.get("components", {})
            self.executors: dict[str, Any] = self.spec["deploymentSpec"]["executors"]
        except (yaml.YAMLError, LookupError, TypeError) as exc:
            raise EmulatorError(f"not a KFP pipeline package: {exc!r}") from None
        self.workdir = workdir
        self.run_state = EmulatedRun("Succeeded")
        self.run_name = f"{self.spec.get('pipelineInfo', {}).get('name', 'pipeline')}-emulated"
        """What ``{{$.pipeline_job_name}}`` gives: the run's name."""
        # Task folders are numbered on from those of earlier runs in the same workdir (a cache hit may
        # refer to their artifacts).
        taken = [int(m.group(1)) for p in workdir.iterdir() if (m := re.match(r"(\d+)-", p.name))]
        self._count = max(taken, default=0)
        self.cache = workdir / "kfp-cache"
        self.clock = 0.0
        """Seconds since the run started: the attempts' real durations plus the backoff waited (not slept)."""

    def run(self, arguments: dict[str, Any]) -> EmulatedRun:
        root = self.spec["root"]
        params: dict[str, Any] = {}
        for name, spec in root.get("inputDefinitions", {}).get("parameters", {}).items():
            if name in arguments:
                value = arguments[name]
                if spec.get("parameterType") == "STRING" and not isinstance(value, str):
                    # What ``mlopsdsl submit`` sends for values that travel as JSON text (Optional, Any).
                    value = json.dumps(value, ensure_ascii=False, sort_keys=True)
                params[name] = held(value)
            elif "defaultValue" in spec:
                params[name] = held(spec["defaultValue"])
            elif not spec.get("isOptional"):
                raise EmulatorError(f"the pipeline parameter {name!r} is required")
        unknown = sorted(set(arguments) - set(params))
        if unknown:
            raise EmulatorError(f"the pipeline has no parameter(s) {', '.join(unknown)}")
        result = self._dag(root, params, {}, "", "")
        run = self.run_state
        run.status = result.state
        if result.state == "Succeeded":
            declared = root.get("outputDefinitions", {})
            for key, value in result.params.items():
                if key.endswith(_META) and key.removesuffix(_META) in result.artifacts:
                    continue
                kind = declared.get("parameters", {}).get(key, {}).get("parameterType")
                run.outputs[key] = int(value) if kind == "NUMBER_INTEGER" else value
            for key, value in result.artifacts.items():
                run.outputs[key] = _load(value, result.params.get(key + _META))
        return run

    # ------------------------------------------------------------------ DAGs

    def _dag(
        self,
        component: dict[str, Any],
        params: dict[str, Any],
        artifacts: dict[str, Any],
        prefix: str,
        suffix: str,
    ) -> _Result:
        tasks: dict[str, Any] = component["dag"].get("tasks", {})
        results: dict[str, _Result] = {}
        for name in _order(tasks):
            path = f"{prefix}{name}{suffix}"
            results[name] = self._task(tasks[name], results, params, artifacts, path)
            self.run_state.tasks[path] = results[name].state
        failed = any(r.state in ("Failed", "Omitted") for r in results.values())
        out = _Result("Failed" if failed else "Succeeded")
        outputs = component["dag"].get("outputs", {})
        for key, spec in outputs.get("parameters", {}).items():
            if "valueFromParameter" in spec:
                selectors = [spec["valueFromParameter"]]
            elif "valueFromOneof" in spec:
                selectors = spec["valueFromOneof"].get("parameterSelectors", [])
            else:
                raise EmulatorError(f"DAG output parameter {key!r}: {sorted(spec)} is not covered")
            for ref in selectors:
                produced = results.get(ref["producerSubtask"])
                if produced is not None and ref["outputParameterKey"] in produced.params:
                    out.params[key] = produced.params[ref["outputParameterKey"]]
                    break
        for key, spec in outputs.get("artifacts", {}).items():
            for ref in spec.get("artifactSelectors", []):
                produced = results.get(ref["producerSubtask"])
                if produced is not None and ref["outputArtifactKey"] in produced.artifacts:
                    out.artifacts[key] = produced.artifacts[ref["outputArtifactKey"]]
                    break
        return out

    def _task(
        self,
        task: dict[str, Any],
        results: dict[str, _Result],
        params: dict[str, Any],
        artifacts: dict[str, Any],
        path: str,
    ) -> _Result:
        unknown = sorted(set(task) - _TASK_KEYS)
        if unknown:
            raise EmulatorError(f"task {path!r}: {', '.join(unknown)} is not covered by the emulator")
        policy = task.get("triggerPolicy", {})
        strategy = policy.get("strategy", "ALL_UPSTREAM_TASKS_SUCCEEDED")
        if strategy not in ("ALL_UPSTREAM_TASKS_SUCCEEDED", "ALL_UPSTREAM_TASKS_COMPLETED"):
            raise EmulatorError(f"task {path!r}: trigger strategy {strategy!r} is not covered")
        upstream = [results[d].state for d in _dependencies(task) if d in results]
        if strategy == "ALL_UPSTREAM_TASKS_SUCCEEDED" and any(s in ("Failed", "Omitted") for s in upstream):
            return _Result("Omitted")
        task_params, task_artifacts = self._inputs(task, results, params, artifacts, path)
        ref = task.get("componentRef", {}).get("name")
        callee = self.components.get(ref or "")
        if callee is None:
            raise EmulatorError(f"task {path!r}: unknown component {ref!r}")
        for key, spec in callee.get("inputDefinitions", {}).get("parameters", {}).items():
            if key not in task_params and "defaultValue" in spec:
                task_params[key] = held(spec["defaultValue"])  # the driver applies component defaults
        if "condition" in policy and not _Condition(policy["condition"], task_params).value():
            return _Result("Skipped")
        if "artifactIterator" in task:
            raise EmulatorError(f"task {path!r}: artifactIterator is not covered")
        if "parameterIterator" in task:
            return self._loop(task, callee, task_params, task_artifacts, path)
        if "dag" in callee:
            return self._dag(callee, task_params, task_artifacts, path + "/", "")
        return self._container(task, path, callee, task_params, task_artifacts)

    def _inputs(
        self,
        task: dict[str, Any],
        results: dict[str, _Result],
        params: dict[str, Any],
        artifacts: dict[str, Any],
        path: str,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        inputs = task.get("inputs", {})
        task_params: dict[str, Any] = {}
        for key, binding in inputs.get("parameters", {}).items():
            if "parameterExpressionSelector" in binding:
                raise EmulatorError(f"task {path!r}: parameterExpressionSelector is not covered")
            if "componentInputParameter" in binding:
                if binding["componentInputParameter"] in params:
                    task_params[key] = params[binding["componentInputParameter"]]
            elif "taskOutputParameter" in binding:
                ref = binding["taskOutputParameter"]
                produced = results[ref["producerTask"]].params
                if ref["outputParameterKey"] in produced:
                    task_params[key] = produced[ref["outputParameterKey"]]
            elif "runtimeValue" in binding:
                task_params[key] = held(binding["runtimeValue"]["constant"])
            elif "taskFinalStatus" in binding:
                producer = binding["taskFinalStatus"]["producerTask"]
                ok = results[producer].state == "Succeeded"
                task_params[key] = {
                    "state": "SUCCEEDED" if ok else "FAILED",
                    "pipelineJobResourceName": "emulated-run",
                    "pipelineTaskName": producer,
                    **({} if ok else {"error": {"code": 2, "message": f"{producer} failed"}}),
                }
            else:
                raise EmulatorError(
                    f"task {path!r}: input parameter {key!r} {sorted(binding)} is not covered"
                )
        task_artifacts: dict[str, Any] = {}
        for key, binding in inputs.get("artifacts", {}).items():
            if "componentInputArtifact" in binding:
                if binding["componentInputArtifact"] in artifacts:
                    value = artifacts[binding["componentInputArtifact"]]
                    if isinstance(value, list) and len(value) != 1:
                        # The driver records every artifact of a DAG's input list but reads them back one
                        # per name (metadata.GetInputArtifactsByExecutionID), so a task inside gets one
                        # artifact of several, or none; kubeflow/pipelines#13900.
                        raise EmulatorError(
                            f"task {path!r}: input artifact {key!r} reads a list of {len(value)} artifacts "
                            "from its DAG's inputs; KFP passes a sub-DAG one artifact per input name"
                        )
                    task_artifacts[key] = value
            elif "taskOutputArtifact" in binding:
                ref = binding["taskOutputArtifact"]
                produced = results[ref["producerTask"]].artifacts
                if ref["outputArtifactKey"] in produced:
                    task_artifacts[key] = produced[ref["outputArtifactKey"]]
            else:
                raise EmulatorError(f"task {path!r}: input artifact {key!r} {sorted(binding)} is not covered")
        return task_params, task_artifacts

    def _loop(
        self,
        task: dict[str, Any],
        callee: dict[str, Any],
        params: dict[str, Any],
        artifacts: dict[str, Any],
        path: str,
    ) -> _Result:
        iterator = task["parameterIterator"]
        items_spec = iterator.get("items", {})
        if "raw" in items_spec:
            items = held(json.loads(items_spec["raw"]))
        elif "inputParameter" in items_spec:
            items = params.get(items_spec["inputParameter"])
        else:
            raise EmulatorError(f"task {path!r}: iterator items {sorted(items_spec)} are not covered")
        if not isinstance(items, list):
            raise EmulatorError(f"task {path!r}: the loop runs over {items!r}, not a list")
        if "dag" not in callee:
            raise EmulatorError(f"task {path!r}: a loop's component must be a DAG")
        declared = callee.get("outputDefinitions", {})
        result = _Result("Succeeded")
        result.params = {k: [] for k in declared.get("parameters", {})}
        result.artifacts = {k: [] for k in declared.get("artifacts", {})}
        # An iteration's DAG has the loop's inputs with the list swapped for its item, as the driver does.
        inner = {k: v for k, v in params.items() if k != items_spec.get("inputParameter")}
        for index, item in enumerate(items):
            scope = {**inner, iterator["itemInput"]: item}
            one = self._dag(callee, scope, artifacts, path + "/", f"[{index}]")
            if one.state != "Succeeded":
                result.state = "Failed"
                continue
            for key in result.params:
                result.params[key].append(one.params.get(key))
            for key in result.artifacts:
                result.artifacts[key].append(one.artifacts.get(key))
        if result.state != "Succeeded":
            return _Result("Failed")
        return result

    # ------------------------------------------------------------------ containers

    def _container(
        self,
        task: dict[str, Any],
        path: str,
        component: dict[str, Any],
        params: dict[str, Any],
        artifacts: dict[str, Any],
    ) -> _Result:
        executor = self.executors.get(component.get("executorLabel", ""))
        if executor is None or "container" not in executor:
            raise EmulatorError(f"task {path!r}: its executor is not a container")
        container = executor["container"]
        policy = task.get("retryPolicy")
        strategy = kfp_strategy(policy) if policy is not None else None
        outputs = component.get("outputDefinitions", {})
        fingerprint = None
        if task.get("cachingOptions", {}).get("enableCache"):
            fingerprint = _fingerprint(container, component, params, artifacts)
            cached = self._cached(fingerprint, path)
            if cached is not None:
                self.run_state.cached[path] = "kfp"
                return cached
        logs: list[str] = []
        failed: list[Attempt] = []
        # KFP's driver gives each execution of a task its output artifact URIs once; every attempt (a new
        # pod with empty scratch folders) writes to the same ones.
        self._count += 1
        execution = self.workdir / f"{self._count:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', path)}"
        artifact_out = {k: _Artifact(execution / "artifacts" / k) for k in outputs.get("artifacts", {})}
        while True:
            attempt = len(failed) + 1
            self.run_state.attempts[path] = attempt
            folder = execution / f"attempt-{attempt}"
            shutil.rmtree(execution / "artifacts", ignore_errors=True)
            pod = _Pod(
                params=params,
                artifacts=artifacts,
                param_files={k: folder / "parameters" / k for k in outputs.get("parameters", {})},
                # The same URIs on every attempt of this execution (see above).
                artifact_out={k: _Artifact(a.path) for k, a in artifact_out.items()},
                output_file=folder / "executor_output.json",
                env=_environment(container, f"emulated-{self._count}-{attempt}"),
                names={
                    "{{$.pipeline_job_name}}": self.run_name,
                    "{{$.pipeline_task_name}}": task.get("taskInfo", {}).get("name", path),
                },
            )
            started, begun = self.clock, time.monotonic()
            done: subprocess.CompletedProcess[str] | None = None
            rest: list[str] | None = None
            try:
                argv = pod.command(container, path)
            except _LauncherError as exc:
                logs.append(str(exc))
            else:
                if not argv or argv[0] != "python":
                    raise EmulatorError(f"task {path!r}: the command must start with python, got {argv[:1]}")
                pod.prepare()
                try:
                    rest = self._with_packages(argv[1:], path, container.get("image", ""))
                except PackagesError as exc:
                    rest = None
                    logs.append(str(exc))
            if rest is not None:
                done = subprocess.run(
                    [sys.executable, *self.flags, *rest],
                    capture_output=True,
                    text=True,
                    cwd=self.workdir,
                    env=pod.env,
                    timeout=300,
                )
            self.clock += time.monotonic() - begun
            if done is not None and done.returncode == 0:
                try:
                    values = pod.collect(outputs)
                    missing = [k for k, a in pod.artifact_out.items() if not a.path.exists()]
                    if missing:  # the launcher's upload fails
                        raise _LauncherError(f"the task wrote no output artifact(s) {', '.join(missing)}")
                except _LauncherError as exc:
                    logs.append(str(exc))
                else:
                    for name, artifact in pod.artifact_out.items():
                        self.run_state.artifacts.setdefault(path, {})[name] = {
                            "uri": artifact.uri,
                            "metadata": artifact.metadata,
                        }
                    if OUTCOME in values and failure_of(values[OUTCOME]) is not None:
                        self.run_state.tolerated[path] = str(failure_of(values[OUTCOME]))
                    if pod.artifact_out.get(METRICS_OUTPUT) is not None:
                        self.run_state.metrics[path] = dict(pod.artifact_out[METRICS_OUTPUT].metadata)
                    if any(line.startswith(HIT) for line in done.stderr.splitlines()):
                        self.run_state.cached[path] = "runtime"
                    if fingerprint is not None:
                        self._record(fingerprint, values, pod.artifact_out)
                    return _Result("Succeeded", values, dict(pod.artifact_out))
            elif done is not None:
                logs.append(done.stderr)
            # The launcher fails the main container either way: the attempt is Failed.
            failed.append(Attempt("Failed", "1", logs[-1][-200:], started, self.clock))
            if strategy is None:
                break
            verdict = decide(strategy, failed, self.clock, _no_expression)
            if verdict.wait > 0:
                self.run_state.waits.setdefault(path, []).append(verdict.wait)
                self.clock += verdict.wait
            if not verdict.retry:
                if verdict.phase == "Error":
                    logs.append(f"the controller: {verdict.message}")
                break
        self.run_state.logs[path] = "\n".join(logs)
        self.run_state.failed.append(path)
        return _Result("Failed")

    def _with_packages(self, argv: list[str], path: str, image: str) -> list[str]:
        """``argv`` with the step's ``packages=`` (``PIP_PRELUDE`` and its ``N PKG...`` arguments) installed
        into the shared cache instead of into this interpreter, and the image's site folders added."""
        sites = sites_for(self.sites, image)
        if argv[:1] == ["-c"] and len(argv) > 2 and argv[1].startswith(PIP_PRELUDE):
            count = int(argv[2])
            sites.append(install_packages(argv[3 : 3 + count], path, self.packages_cache))
            argv = ["-c", argv[1][len(PIP_PRELUDE) :], *argv[3 + count :]]
        return with_sites(argv, sites)

    def _cached(self, fingerprint: str, path: str) -> _Result | None:
        """The outputs KFP would reuse for ``fingerprint``, or ``None``."""
        entry = self.cache / f"{fingerprint}.json"
        if not entry.exists():
            return None
        recorded = json.loads(entry.read_text())
        artifacts = {
            k: _Artifact(Path(a["path"]), a["metadata"], a["location"])
            for k, a in recorded["artifacts"].items()
        }
        for name, artifact in artifacts.items():
            self.run_state.artifacts.setdefault(path, {})[name] = {
                "uri": artifact.uri,
                "metadata": artifact.metadata,
            }
        return _Result("Succeeded", recorded["params"], dict(artifacts))

    def _record(self, fingerprint: str, params: dict[str, Any], artifacts: dict[str, _Artifact]) -> None:
        self.cache.mkdir(exist_ok=True)
        kept = {
            k: {"path": str(a.path), "metadata": a.metadata, "location": a.location}
            for k, a in artifacts.items()
        }
        (self.cache / f"{fingerprint}.json").write_text(json.dumps({"params": params, "artifacts": kept}))


def _fingerprint(
    container: dict[str, Any], component: dict[str, Any], params: dict[str, Any], artifacts: dict[str, Any]
) -> str:
    """KFP's cache key: the container as written, the input values, the input artifacts by identity (their
    URIs: the outputs of another execution are other artifacts, even with the same bytes), the outputs."""

    def identity(value: Any) -> Any:
        return [identity(v) for v in value] if isinstance(value, list) else value.uri

    key = {
        "image": container.get("image"),
        "command": [*container.get("command", []), *container.get("args", [])],
        "parameters": to_json(params),
        "artifacts": {k: identity(v) for k, v in sorted(artifacts.items())},
        "outputs": component.get("outputDefinitions", {}),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


class _LauncherError(Exception):
    """What makes KFP's launcher fail a task: input or output it cannot read."""


_RUNTIME_ARTIFACT_KEYS = {"name", "type", "uri", "properties", "customProperties", "metadata"}


def _environment(container: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The container's environment: what KFP sets for every pod, then the executor's ``env``, each value
    expanded by Kubernetes against the variables defined before it."""
    env = {"KFP_POD_NAME": pod_name, "KFP_POD_UID": f"{pod_name}-uid"}
    for item in container.get("env", []):
        env[item["name"]] = kube_expand(str(item.get("value", "")), env)
    return env


@dataclass
class _Pod:
    """One attempt of a container task, as KFP's driver and launcher see it."""

    params: dict[str, Any]
    artifacts: dict[str, Any]
    param_files: dict[str, Path]
    artifact_out: dict[str, _Artifact]
    output_file: Path
    env: dict[str, str]
    names: dict[str, str] = field(default_factory=dict)
    """The run's and the task's name, by their placeholders (``{{$.pipeline_job_name}}``)."""

    def executor_input(self) -> dict[str, Any]:
        """The ``ExecutorInput`` message (its JSON form) the driver hands to the launcher."""
        listed: dict[str, Any] = {}
        for key, value in self.artifacts.items():
            values = value if isinstance(value, list) else [value]
            listed[key] = {"artifacts": [{"uri": a.uri, "metadata": a.metadata} for a in values]}
        return {
            "inputs": {"parameterValues": self.params, "artifacts": listed},
            "outputs": {
                "parameters": {k: {"outputFile": str(f)} for k, f in self.param_files.items()},
                "artifacts": {k: {"artifacts": [{"uri": a.uri}]} for k, a in self.artifact_out.items()},
                "outputFile": str(self.output_file),
            },
        }

    def command(self, container: dict[str, Any], path: str) -> list[str]:
        """The command the launcher runs: Kubernetes expands ``$(VAR)`` in the pod's command and args (the
        executor input is one of the launcher's own arguments), then the launcher fills in placeholders."""
        text = kube_expand(to_json(self.executor_input()), self.env)
        try:
            seen = json.loads(text)
        except ValueError as exc:
            raise _LauncherError(f"failed to unmarshal executor input: {exc}") from None
        whole = to_json(seen)
        values = seen["inputs"]["parameterValues"]
        return [
            self._substitute(kube_expand(item, self.env), path, values, whole)
            for item in [*container.get("command", []), *container.get("args", [])]
        ]

    def _substitute(self, item: str, path: str, values: dict[str, Any], whole: str) -> str:
        if item == _EXECUTOR_INPUT:
            return whole
        for placeholder, name in self.names.items():
            item = item.replace(placeholder, name)
        if "{{$}}" in item:
            raise EmulatorError(f"task {path!r}: {{{{$}}}} is covered only as a whole argument")

        def substitute(match: re.Match[str]) -> str:
            where, kind, key, attribute = match.groups()
            try:
                if where == "inputs" and kind == "parameters":
                    return render(values[key])
                if where == "inputs":
                    artifact = self.artifacts[key]
                    if isinstance(artifact, list):
                        raise EmulatorError(f"task {path!r}: artifact list {key!r} has no single {attribute}")
                    return str(artifact.path) if attribute == "path" else artifact.uri
                if kind == "parameters":
                    return str(self.param_files[key])
                out = self.artifact_out[key]
                return str(out.path) if attribute == "path" else out.uri
            except KeyError:
                raise EmulatorError(f"task {path!r}: {match.group(0)} names nothing it has") from None

        return _PLACEHOLDER.sub(substitute, item)

    def prepare(self) -> None:
        for file in self.param_files.values():
            file.parent.mkdir(parents=True, exist_ok=True)
        for art in self.artifact_out.values():
            art.path.parent.mkdir(parents=True, exist_ok=True)
        self.output_file.parent.mkdir(parents=True, exist_ok=True)

    def collect(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """The task's output parameters, as the launcher collects them: from the executor output file when
        it names them, else from their files, read by declared type; the executor output's artifact
        metadata (and URI) merged into the output artifacts."""
        declared = outputs.get("parameters", {})
        given, artifacts = self._executor_output()
        values: dict[str, Any] = {}
        for key, file in self.param_files.items():
            if key in given:
                values[key] = held(given[key])
            elif file.exists():
                values[key] = read_parameter(
                    file.read_bytes().decode("utf-8"), declared[key]["parameterType"]
                )
            else:
                raise _LauncherError(f"the task wrote no output parameter {key!r}")
        for key, listed in artifacts.items():
            if key in self.artifact_out and listed:
                first = listed[0]
                self.artifact_out[key].location = first.get("uri") or None
                self.artifact_out[key].metadata.update(first.get("metadata") or {})
        return values

    def _executor_output(self) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
        """The ``ExecutorOutput`` the step wrote, read as strictly as protobuf JSON is (unknown fields are
        an error); nothing when there is no file."""
        if not self.output_file.exists():
            return {}, {}
        where = f"failed to unmarshal ExecutorOutput in file {str(self.output_file)!r}"
        try:
            data = json.loads(self.output_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise _LauncherError(f"{where}: {exc}") from None
        if not isinstance(data, dict) or set(data) - {"parameterValues", "artifacts"}:
            raise _LauncherError(f"{where}: not an ExecutorOutput: {str(data)[:200]}")
        params = data.get("parameterValues", {})
        artifacts: dict[str, list[dict[str, Any]]] = {}
        for name, entry in (data.get("artifacts") or {}).items():
            if not isinstance(entry, dict) or set(entry) - {"artifacts"}:
                raise _LauncherError(f"{where}: artifacts[{name!r}] is not an ArtifactList")
            listed = entry.get("artifacts", [])
            for artifact in listed:
                if not isinstance(artifact, dict) or set(artifact) - _RUNTIME_ARTIFACT_KEYS:
                    raise _LauncherError(f"{where}: artifacts[{name!r}] holds {artifact!r}")
                if not isinstance(artifact.get("metadata", {}), dict):
                    raise _LauncherError(f"{where}: the metadata of artifacts[{name!r}] is not a Struct")
            artifacts[name] = listed
        if not isinstance(params, dict):
            raise _LauncherError(f"{where}: parameterValues is not a map")
        return params, artifacts


_TASK_KEYS = {
    "taskInfo", "componentRef", "inputs", "dependentTasks", "cachingOptions", "retryPolicy",
    "triggerPolicy", "parameterIterator", "iteratorPolicy",
}  # fmt: skip


def _no_expression(expression: str, scope: dict[str, Any]) -> Any:
    raise EmulatorError(f"KFP gives Argo no retry expression, yet there is {expression!r}")


def _dependencies(task: dict[str, Any]) -> set[str]:
    deps = set(task.get("dependentTasks", []))
    for kind in ("parameters", "artifacts"):
        for binding in task.get("inputs", {}).get(kind, {}).values():
            ref = binding.get("taskOutputParameter") or binding.get("taskOutputArtifact")
            if ref:
                deps.add(ref["producerTask"])
            if "taskFinalStatus" in binding:
                deps.add(binding["taskFinalStatus"]["producerTask"])
    return deps


def _order(tasks: dict[str, Any]) -> list[str]:
    """Tasks in an order where each comes after everything it depends on."""
    done: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise EmulatorError(f"the tasks form a cycle through {name!r}")
        state[name] = 1
        for dep in sorted(_dependencies(tasks[name])):
            if dep not in tasks:
                raise EmulatorError(f"task {name!r} depends on {dep!r}, which is not a task of its DAG")
            visit(dep)
        state[name] = 2
        done.append(name)

    for name in sorted(tasks):
        visit(name)
    return done


def _load(value: Any, record: Any) -> Any:
    """A stored output as a Python value: the object it holds, or the artifact class with its path."""
    if isinstance(value, list):
        records = record if isinstance(record, list) else [None] * len(value)
        return [_load(v, r) for v, r in zip(value, records, strict=False)]
    record = record if isinstance(record, dict) else {}
    if record.get("kind") == "object":
        from mlopsdsl.runtime import serializers

        return serializers.load(str(value.path), record.get("format", "pickle"))
    from mlopsdsl import artifacts

    cls = getattr(artifacts, str(record.get("type", "Artifact")), artifacts.Artifact)
    return cls(path=str(value.path), uri=value.uri, metadata=dict(value.metadata))


# --------------------------------------------------------------------------- conditions

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ref>inputs\.parameter_values)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<quoted>'(?:[^'\\]|\\.)*')
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\[|\])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "'": "'"}


class _Condition:
    """A recursive-descent evaluator for the CEL subset in the module docstring."""

    def __init__(self, text: str, params: dict[str, Any]) -> None:
        self.text = text
        self.params = params
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise EmulatorError(f"condition {text!r}: {text[pos:]!r} is outside the CEL subset covered")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0

    def value(self) -> bool:
        result = self._or()
        if self.pos != len(self.tokens):
            self._refuse()
        if not isinstance(result, bool):
            raise EmulatorError(f"condition {self.text!r} is not a boolean")
        return result

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def _take(self, text: str) -> None:
        if self._peek()[1] != text:
            self._refuse()
        self.pos += 1

    def _refuse(self) -> None:
        kind, text = self._peek()
        shown = "the end" if kind == "end" else repr(text)
        raise EmulatorError(f"condition {self.text!r}: {shown} is outside the CEL subset covered")

    def _or(self) -> Any:
        left = self._and()
        while self._peek()[1] == "||":
            self.pos += 1
            right = self._and()
            left = _bool(left, self.text) or _bool(right, self.text)
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek()[1] == "&&":
            self.pos += 1
            right = self._compare()
            left = _bool(left, self.text) and _bool(right, self.text)
        return left

    def _compare(self) -> Any:
        left = self._unary()
        op = self._peek()[1]
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self.pos += 1
            right = self._unary()
            return _compare(op, left, right, self.text)
        return left

    def _unary(self) -> Any:
        kind, text = self._peek()
        if text == "!":
            self.pos += 1
            return not _bool(self._unary(), self.text)
        if text == "(":
            self.pos += 1
            value = self._or()
            self._take(")")
            return value
        self.pos += 1
        if kind == "ref":
            self._take("[")
            name = self._literal()
            self._take("]")
            if name not in self.params:
                raise EmulatorError(f"condition {self.text!r}: the task has no input {name!r}")
            value = self.params[name]
            while self._peek()[1] == "[":
                self.pos += 1
                part = self._literal()
                self._take("]")
                value = value[int(part) if isinstance(part, float) else part]
            return value
        self.pos -= 1
        return self._literal()

    def _literal(self) -> Any:
        kind, text = self._peek()
        self.pos += 1
        if kind in ("string", "quoted"):
            return re.sub(r"\\x([0-9a-fA-F]{2})|\\(.)", _unescape, text[1:-1])
        if kind == "number":
            return float(text)
        if kind == "word" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        self.pos -= 1
        self._refuse()
        return None


def _unescape(match: re.Match[str]) -> str:
    if match.group(1):
        return chr(int(match.group(1), 16))
    char = match.group(2)
    if char not in _ESCAPES:
        raise EmulatorError(f"the escape \\{char} is outside the CEL subset covered")
    return _ESCAPES[char]


def _bool(value: Any, text: str) -> bool:
    if not isinstance(value, bool):
        raise EmulatorError(f"condition {text!r}: {value!r} is not a boolean")
    return value


def _compare(op: str, left: Any, right: Any, text: str) -> bool:
    def kind(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        if isinstance(v, str):
            return "string"
        raise EmulatorError(f"condition {text!r}: {v!r} is not a value CEL compares here")

    kinds = {kind(left), kind(right)}
    if op in ("==", "!="):
        if len(kinds) != 1 and "null" not in kinds:
            raise EmulatorError(f"condition {text!r}: no such overload {left!r} {op} {right!r}")
        equal = left == right
        return equal if op == "==" else not equal
    if len(kinds) != 1 or kinds & {"null", "bool"}:
        raise EmulatorError(f"condition {text!r}: no such overload {left!r} {op} {right!r}")
    result: bool = {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]
    return result
