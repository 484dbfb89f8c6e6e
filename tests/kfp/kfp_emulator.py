"""A test helper that runs a compiled KFP package's containers as local subprocesses.

It does what the KFP driver and launcher do for the parts our compiler uses, and nothing more: walks each
DAG in dependency order, resolves task inputs (component inputs, task outputs, constants), substitutes the
``{{$.inputs...}}``/``{{$.outputs...}}`` placeholders in each argv item the way the launcher renders values
(strings as they are, numbers as float64 text, booleans as ``true``/``false``, lists and structs as JSON),
runs the command with ``python`` replaced by this interpreter under ``-I -S`` (no site-packages: only what
the package ships is importable), and reads output parameter files back by their declared type. Not an
orchestrator: no retries, caching, resources or Kubernetes settings.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER = re.compile(
    r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](?:\.(path|uri|output_file))?\}\}"
)


class StepFailed(AssertionError):
    pass


def render(value: Any) -> str:
    """A parameter value as the KFP launcher puts it on a command line."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        number = float(value)  # KFP holds every number as a float64
        return str(int(number)) if number.is_integer() else repr(number)
    return json.dumps(value, separators=(",", ":"))


def read_parameter(text: str, kind: str) -> Any:
    """An output parameter file read back by its declared type, as the launcher does."""
    if kind == "STRING":
        return text
    if kind in ("NUMBER_INTEGER", "NUMBER_DOUBLE"):
        return float(text)
    if kind == "BOOLEAN":
        return {"true": True, "false": False}[text.strip().lower()]
    return json.loads(text)


class Emulator:
    def __init__(self, text: str, workdir: Path) -> None:
        docs = list(yaml.safe_load_all(text))
        self.spec = docs[0]
        self.components = self.spec["components"]
        self.executors = self.spec["deploymentSpec"]["executors"]
        self.workdir = workdir
        self.commands: list[list[str]] = []
        self._count = 0

    def run(self, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        root = self.spec["root"]
        params: dict[str, Any] = {}
        for name, spec in root.get("inputDefinitions", {}).get("parameters", {}).items():
            if arguments and name in arguments:
                params[name] = arguments[name]
            elif "defaultValue" in spec:
                params[name] = spec["defaultValue"]
        out_params, out_artifacts = self._dag(root, params, {})
        return {**out_params, **out_artifacts}

    def _dag(self, component: dict[str, Any], params: dict[str, Any], artifacts: dict[str, Path]) -> Any:
        tasks = component["dag"]["tasks"]
        results: dict[str, tuple[dict[str, Any], dict[str, Path]]] = {}
        for name in _order(tasks):
            task = tasks[name]
            inputs = task.get("inputs", {})
            task_params: dict[str, Any] = {}
            for key, binding in inputs.get("parameters", {}).items():
                if "componentInputParameter" in binding:
                    if binding["componentInputParameter"] in params:
                        task_params[key] = params[binding["componentInputParameter"]]
                elif "taskOutputParameter" in binding:
                    ref = binding["taskOutputParameter"]
                    task_params[key] = results[ref["producerTask"]][0][ref["outputParameterKey"]]
                else:
                    task_params[key] = binding["runtimeValue"]["constant"]
            task_artifacts: dict[str, Path] = {}
            for key, binding in inputs.get("artifacts", {}).items():
                if "componentInputArtifact" in binding:
                    task_artifacts[key] = artifacts[binding["componentInputArtifact"]]
                else:
                    ref = binding["taskOutputArtifact"]
                    task_artifacts[key] = results[ref["producerTask"]][1][ref["outputArtifactKey"]]
            callee = self.components[task["componentRef"]["name"]]
            for key, spec in callee.get("inputDefinitions", {}).get("parameters", {}).items():
                if key not in task_params and "defaultValue" in spec:
                    task_params[key] = spec["defaultValue"]  # the driver applies component defaults
            if "dag" in callee:
                results[name] = self._dag(callee, task_params, task_artifacts)
            else:
                results[name] = self._container(name, callee, task_params, task_artifacts)
        outputs = component["dag"].get("outputs", {})
        out_params = {
            key: results[spec["valueFromParameter"]["producerSubtask"]][0][
                spec["valueFromParameter"]["outputParameterKey"]
            ]
            for key, spec in outputs.get("parameters", {}).items()
        }
        out_artifacts = {}
        for key, spec in outputs.get("artifacts", {}).items():
            ref = spec["artifactSelectors"][0]
            out_artifacts[key] = results[ref["producerSubtask"]][1][ref["outputArtifactKey"]]
        return out_params, out_artifacts

    def _container(
        self, name: str, component: dict[str, Any], params: dict[str, Any], artifacts: dict[str, Path]
    ) -> tuple[dict[str, Any], dict[str, Path]]:
        self._count += 1
        folder = self.workdir / f"{self._count:03d}-{name}"
        outputs = component.get("outputDefinitions", {})
        param_files = {k: folder / "parameters" / k for k in outputs.get("parameters", {})}
        artifact_paths = {k: folder / "artifacts" / k for k in outputs.get("artifacts", {})}

        def substitute(match: re.Match[str]) -> str:
            where, kind, key, attribute = match.groups()
            if where == "inputs" and kind == "parameters":
                return render(params[key])
            if where == "inputs":
                return str(artifacts[key]) if attribute == "path" else f"file://{artifacts[key]}"
            if kind == "parameters":
                return str(param_files[key])
            return str(artifact_paths[key])

        container = self.executors[component["executorLabel"]]["container"]
        argv = [
            PLACEHOLDER.sub(substitute, item) for item in [*container["command"], *container.get("args", [])]
        ]
        assert argv[0] == "python", argv[0]
        argv = [sys.executable, "-I", "-S", *argv[1:]]
        self.commands.append(argv)
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.workdir, env=env, timeout=60)
        if done.returncode != 0:
            raise StepFailed(f"task {name} exited {done.returncode}:\n{done.stderr}")
        values = {
            key: read_parameter(path.read_text(), outputs["parameters"][key]["parameterType"])
            for key, path in param_files.items()
        }
        return values, artifact_paths


def _order(tasks: dict[str, Any]) -> list[str]:
    """Tasks in an order where each comes after everything it depends on."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        task = tasks[name]
        deps = set(task.get("dependentTasks", []))
        for kind in ("parameters", "artifacts"):
            for binding in task.get("inputs", {}).get(kind, {}).values():
                ref = binding.get("taskOutputParameter") or binding.get("taskOutputArtifact")
                if ref:
                    deps.add(ref["producerTask"])
        for dep in sorted(deps):
            visit(dep)
        done.append(name)

    for name in sorted(tasks):
        visit(name)
    return done
