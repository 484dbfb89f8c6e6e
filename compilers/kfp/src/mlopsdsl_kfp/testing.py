"""An emulator of Kubeflow Pipelines v2 for the documents mlopsdsl compiles: run them here, as subprocesses.

``run_kfp(text, params, workdir=...)`` reads a compiled pipeline package (YAML, no kfp needed) and does what
the KFP driver and launcher do for the constructs ``mlopsdsl-kfp`` emits:

* **DAGs**: each DAG's tasks in dependency order (``dependentTasks`` and the producers of their inputs);
  sub-DAG components (sub-pipelines, loops, conditions, the exit-handler body) recursively.
* **Parameters**: pipeline inputs with their defaults, component defaults, ``componentInputParameter``,
  ``taskOutputParameter``, ``runtimeValue.constant``; output parameter files read back by declared type
  (numbers as float64, as KFP holds them). Values on command lines are rendered as the launcher does:
  strings as they are, numbers without a needless ``.0``, lists and structs as JSON.
* **Artifacts**: ``componentInputArtifact``, ``taskOutputArtifact``, artifact lists (``isArtifactList``);
  each output artifact is a local file or folder, its URI the ``file://`` URL of it.
* **Placeholders**: ``{{$.inputs.parameters['x']}}``, ``{{$.inputs.artifacts['x'].path|uri}}``,
  ``{{$.outputs.parameters['x'].output_file}}``, ``{{$.outputs.artifacts['x'].path|uri}}`` and ``{{$}}``
  (the executor input: ``inputs.parameterValues`` and ``inputs.artifacts[...].artifacts[].uri`` only).
* **Loops**: ``parameterIterator`` over ``items.raw`` or an input parameter, run one iteration after the
  other (``iteratorPolicy`` is read and ignored); each output of the loop's DAG is collected into a list in
  iteration order (parameters into a list, artifacts into an artifact list); no iterations give ``[]``.
* **Conditions**: ``triggerPolicy.condition`` in exactly the CEL subset mlopsdsl emits (operands
  ``inputs.parameter_values['x']`` with ``[...]`` selections, literals ``true``/``false``/``null``, numbers,
  double-quoted strings; ``== != < <= > >=``, ``&& || !`` and parentheses). Anything else raises
  :class:`EmulatorError` naming it. A task whose condition is false is ``Skipped``.
* **OneOf**: ``valueFromOneof`` and several ``artifactSelectors`` take the first producer that has the value.
* **Retries**: ``retryPolicy.maxRetryCount`` more attempts after a failure (backoff is not waited).
* **Exit handler**: a task with ``triggerPolicy.strategy: ALL_UPSTREAM_TASKS_COMPLETED`` runs whatever its
  upstream tasks did, and its ``taskFinalStatus`` input gets ``{"state": "SUCCEEDED"|"FAILED", ...}``.
* **Failure**: a failed task fails its DAG and the run; tasks needing it are ``Omitted``; other tasks,
  and other loop iterations, still run.

Every container command runs with ``python`` replaced by this interpreter under ``-I -S`` (no
site-packages: only what the package ships is importable), in ``workdir``, with the executor's ``env``.
Not covered: caching, resources, timeouts, Kubernetes settings (the PlatformSpec is ignored),
``parameterExpressionSelector``, ``artifactIterator``, importers, and anything kfp's own compiler emits that
mlopsdsl does not; they are refused with :class:`EmulatorError` rather than guessed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlopsdsl.testing import EmulatedRun, EmulatorError

__all__ = ["run_kfp"]

_PLACEHOLDER = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](?:\.(path|uri|output_file))?\}\}"
)
_EXECUTOR_INPUT = "{{$}}"
_META = "--meta"


def run_kfp(text: str, params: dict[str, Any], *, workdir: Path, isolated: bool = True) -> EmulatedRun:
    """Run a compiled KFP pipeline package on this machine.

    Args:
        text: The package, as ``ml.compile(pipeline, backend="kfp")`` wrote it.
        params: Pipeline parameters; the others take their defaults.
        workdir: A folder for the tasks' files (created if missing).
        isolated: Run commands under ``-I -S``, with nothing installed importable, as in a stock image.
            ``False`` keeps this interpreter's site-packages, for steps that need libraries (numpy,
            pandas) that the real image or ``packages=`` would provide.

    Raises:
        EmulatorError: The document uses a KFP feature the emulator does not cover, or is malformed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    return _Emulator(text, workdir, isolated).run(params)


@dataclass
class _Artifact:
    path: Path

    @property
    def uri(self) -> str:
        return self.path.absolute().as_uri()


@dataclass
class _Result:
    state: str
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)


def render(value: Any) -> str:
    """A parameter value as the KFP launcher puts it on a command line."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)  # KFP holds every number as a float64
        return str(int(number)) if number.is_integer() else repr(number)
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """Integral floats as ints, as protobuf's JSON writer gives them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read_parameter(text: str, kind: str) -> Any:
    """An output parameter file read back by its declared type, as the launcher does."""
    if kind == "STRING":
        return text
    if kind in ("NUMBER_INTEGER", "NUMBER_DOUBLE"):
        return float(text)
    if kind == "BOOLEAN":
        return {"true": True, "false": False}[text.strip().lower()]
    return json.loads(text)


class _Emulator:
    def __init__(self, text: str, workdir: Path, isolated: bool = True) -> None:
        self.flags = ["-I", "-S"] if isolated else ["-I"]
        try:
            docs = list(yaml.safe_load_all(text))
            self.spec: dict[str, Any] = docs[0]
            self.components: dict[str, Any] = self.spec.get("components", {})
            self.executors: dict[str, Any] = self.spec["deploymentSpec"]["executors"]
        except (yaml.YAMLError, LookupError, TypeError) as exc:
            raise EmulatorError(f"not a KFP pipeline package: {exc!r}") from None
        self.workdir = workdir
        self.run_state = EmulatedRun("Succeeded")
        self._count = 0

    def run(self, arguments: dict[str, Any]) -> EmulatedRun:
        root = self.spec["root"]
        params: dict[str, Any] = {}
        for name, spec in root.get("inputDefinitions", {}).get("parameters", {}).items():
            if name in arguments:
                params[name] = arguments[name]
            elif "defaultValue" in spec:
                params[name] = spec["defaultValue"]
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
                task_params[key] = spec["defaultValue"]  # the driver applies component defaults
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
                task_params[key] = binding["runtimeValue"]["constant"]
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
                    task_artifacts[key] = artifacts[binding["componentInputArtifact"]]
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
            items = json.loads(items_spec["raw"])
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
        for index, item in enumerate(items):
            one = self._dag(
                callee, {**params, iterator["itemInput"]: item}, artifacts, path + "/", f"[{index}]"
            )
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
        retries = int(task.get("retryPolicy", {}).get("maxRetryCount", 0))
        outputs = component.get("outputDefinitions", {})
        logs: list[str] = []
        for attempt in range(1, retries + 2):
            self.run_state.attempts[path] = attempt
            self._count += 1
            folder = self.workdir / f"{self._count:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', path)}"
            param_files = {k: folder / "parameters" / k for k in outputs.get("parameters", {})}
            artifact_out = {k: _Artifact(folder / "artifacts" / k) for k in outputs.get("artifacts", {})}
            argv = [
                self._substitute(item, path, params, artifacts, param_files, artifact_out)
                for item in [*container.get("command", []), *container.get("args", [])]
            ]
            if not argv or argv[0] != "python":
                raise EmulatorError(f"task {path!r}: the command must start with python, got {argv[:1]}")
            for file in param_files.values():
                file.parent.mkdir(parents=True, exist_ok=True)
            for art in artifact_out.values():
                art.path.parent.mkdir(parents=True, exist_ok=True)
            env = {e["name"]: e.get("value", "") for e in container.get("env", [])}
            done = subprocess.run(
                [sys.executable, *self.flags, *argv[1:]],
                capture_output=True,
                text=True,
                cwd=self.workdir,
                env=env,
                timeout=300,
            )
            if done.returncode == 0:
                missing = [k for k, f in param_files.items() if not f.exists()]
                if not missing:
                    values = {
                        k: read_parameter(f.read_text(), outputs["parameters"][k]["parameterType"])
                        for k, f in param_files.items()
                    }
                    return _Result("Succeeded", values, dict(artifact_out))
                logs.append(f"the task wrote no output parameter(s) {', '.join(missing)}")
            else:
                logs.append(done.stderr)
        self.run_state.logs[path] = "\n".join(logs)
        self.run_state.failed.append(path)
        return _Result("Failed")

    def _substitute(
        self,
        item: str,
        path: str,
        params: dict[str, Any],
        artifacts: dict[str, Any],
        param_files: dict[str, Path],
        artifact_out: dict[str, _Artifact],
    ) -> str:
        if item == _EXECUTOR_INPUT:
            listed: dict[str, Any] = {}
            for key, value in artifacts.items():
                values = value if isinstance(value, list) else [value]
                listed[key] = {"artifacts": [{"uri": a.uri, "metadata": {}} for a in values]}
            return json.dumps({"inputs": {"parameterValues": _plain(params), "artifacts": listed}})
        if "{{$}}" in item:
            raise EmulatorError(f"task {path!r}: {{{{$}}}} is covered only as a whole argument")

        def substitute(match: re.Match[str]) -> str:
            where, kind, key, attribute = match.groups()
            try:
                if where == "inputs" and kind == "parameters":
                    return render(params[key])
                if where == "inputs":
                    artifact = artifacts[key]
                    if isinstance(artifact, list):
                        raise EmulatorError(f"task {path!r}: artifact list {key!r} has no single {attribute}")
                    return str(artifact.path) if attribute == "path" else artifact.uri
                if kind == "parameters":
                    return str(param_files[key])
                out = artifact_out[key]
                return str(out.path) if attribute == "path" else out.uri
            except KeyError:
                raise EmulatorError(f"task {path!r}: {match.group(0)} names nothing it has") from None

        return _PLACEHOLDER.sub(substitute, item)


_TASK_KEYS = {
    "taskInfo", "componentRef", "inputs", "dependentTasks", "cachingOptions", "retryPolicy",
    "triggerPolicy", "parameterIterator", "iteratorPolicy",
}  # fmt: skip


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
    return cls(path=str(value.path), uri=value.uri, metadata=record.get("metadata") or {})


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
