"""An emulator for the Argo Workflows documents mlopsdsl compiles: run one on this machine, no cluster.

``run_argo(text, params, workdir=...)`` reads a compiled ``Workflow`` (or ``WorkflowTemplate`` or
``CronWorkflow``: its workflow spec) and executes it the way Argo's controller would for the constructs
mlopsdsl emits, running every container's exact command as a local subprocess with the real step runtime
(``python -I -S``: no site-packages, no ``PYTHON*`` variables, as in a stock ``python`` image;
``isolated=False`` keeps site-packages, for steps that need a library the image would have). Each pod
gets its own folder standing in for the container's ``/tmp/mlopsdsl``; a folder stands in for the artifact
repository, whose keys are the ones the document names (a stored pipeline output read back carries the
``uri`` its record gives).

Semantics covered, and only these:

- **Templates**: DAG templates and container templates (no steps, scripts, resources, suspend, HTTP).
- **DAG order**: ``depends`` with task names, ``&&``, ``||``, ``!``, parentheses and the qualifiers
  ``.Succeeded``, ``.Failed``, ``.Errored``, ``.Skipped``, ``.Omitted`` (a bare name means Succeeded,
  Skipped or Daemoned). A task runs once everything it names is finished and the expression holds;
  otherwise it is ``Omitted``. Tasks run one at a time in document order among those ready; after a
  failure no new task starts in that DAG (Argo's ``failFast``).
- **Parameters**: Argo's one-pass ``{{...}}`` substitution (inserted text is not scanned again; an
  unresolvable tag is an error), ``workflow.parameters.*``, ``workflow.name``, ``workflow.status`` (in the
  exit handler), ``pod.name``, ``retries`` (the attempt, from 0, in a template with a ``retryStrategy``, as
  the controller binds it), ``inputs.*``, ``tasks.X.outputs.*`` and ``tasks.X.status``; then
  Kubernetes' ``$(VAR)`` expansion of ``args`` and ``env`` (``$$`` is a literal ``$``).
- **Expressions** (``{{=...}}``, ``valueFrom.expression``, ``fromExpression``, ``retryStrategy.expression``):
  a small subset of Argo's ``expr``: ``a ? b : c``, ``||``, ``&&``, ``!``, ``==``, ``!=``, parentheses,
  single-quoted strings, numbers, and the variables ``tasks['X'].status``,
  ``tasks['X'].outputs.parameters.P``, ``tasks['X'].outputs.artifacts.P``, ``workflow.status``, and in a
  retry expression ``retries`` and ``lastRetry.exitCode|status|duration|message``. ``when`` is evaluated
  (govaluate) only as ``WORD == WORD`` or ``WORD != WORD`` after substitution. Anything else raises
  :class:`EmulatorError` naming it.
- **Loops**: ``withItems`` and ``withParam`` (a JSON list); ``{{item}}`` is a string item as it is, any
  other item as JSON. The looped task's outputs are Argo's aggregates: ``tasks.X.outputs.parameters.P``
  is a JSON list of each successful run's text, in item order. A loop over an empty list is ``Skipped``.
  ``parallelism`` is accepted and has no effect (runs are sequential).
- **Skipped and Omitted tasks**: their declared output parameters read as empty text, as Argo does since
  it fills in outputs of skipped ancestors (argo-workflows PR #15841).
- **Artifacts**: ``from`` and ``fromExpression`` pass files between pods; ``s3`` locations (explicit or
  key-only) are keys in the repository folder: outputs are copied there, inputs read from there (a key
  that is a folder is read whole; a missing ``optional`` input is left out).
- **Retries**: ``retryStrategy`` as the controller applies it (:mod:`mlopsdsl.testing._retries`): ``limit``,
  ``retryPolicy``, ``expression`` (over ``retries`` and ``lastRetry.*``) and ``backoff`` (``duration``,
  ``factor``, ``cap``, ``maxDuration``). Backoff is not slept: each wait is recorded in ``waits``.
- **Exit handler**: ``spec.onExit`` runs after the entrypoint with ``workflow.status`` ``Succeeded`` or
  ``Failed``; if it fails, the workflow fails.
- **Caching**: Argo's own (``memoize``) is not used by mlopsdsl and not covered; the step runtime's cache
  works in the emulated pods as in real ones when the document was compiled with ``cache_root`` (a folder
  on this machine), and a pod whose runtime reused its cache is listed in ``EmulatedRun.cached`` as
  ``"runtime"``. Pod folders are numbered on from earlier runs in the same ``workdir``.

Not covered: timeouts (``activeDeadlineSeconds``), resources, volumes, secrets (``secretKeyRef`` env
variables get a placeholder), node selectors and the other pod settings (affinity, service account,
user, pull secrets, priority, ``podSpecPatch``), memoization, daemons, hooks, suspend, real concurrency.
"""

from __future__ import annotations

import json
import os
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
from mlopsdsl.lowering import PACKAGES_ENV
from mlopsdsl.runtime._cache import HIT
from mlopsdsl.runtime._tolerance import OUTCOME, failure_of
from mlopsdsl.testing import EmulatedRun, EmulatorError, kube_expand
from mlopsdsl.testing._retries import Attempt, Verdict, decide
from mlopsdsl.testing._site import PackagesError, Sites, install_packages, sites_for, with_sites
from mlopsdsl_argo._launch import METRICS, WORK
from mlopsdsl_argo._manifest import ANNOTATION_OUTPUTS as OUTPUTS_ANNOTATION
from mlopsdsl_argo._values import armor

# ``WORK`` (the launcher's folder in a pod, which each emulated pod maps to its own), the outputs
# annotation and ``armor`` (how literals and ``submit -p`` values are written) are the compiler's own: an
# emulator with copies of them could agree with a compiler that changed.

__all__ = ["ArgoEmulator", "armor", "kube_expand", "run_argo", "substitute"]

TAG = re.compile(r"{{\s*([^{}]*?)\s*}}")
_FINISHED = ("Succeeded", "Failed", "Error", "Skipped", "Omitted")


# --------------------------------------------------------------------------- substitution


def substitute(text: str, scope: dict[str, Any]) -> str:
    """Argo's template substitution: one pass, inserted text is not scanned again; ``{{=...}}`` is an
    expression (see :func:`evaluate`).

    Raises:
        EmulatorError: A tag that does not resolve, or an expression outside the covered subset.
    """

    def one(match: re.Match[str]) -> str:
        tag = match.group(1)
        if tag.startswith("="):
            value = evaluate(tag[1:], scope)
            if value is None:
                raise EmulatorError(f"failed to evaluate expression {{{{{tag}}}}}")
            return str(value)
        if tag not in scope or not isinstance(scope[tag], str):
            raise EmulatorError(f"failed to resolve {{{{{tag}}}}}")
        return str(scope[tag])

    return TAG.sub(one, text)


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'[^'\\]*')|(?P<op>==|!=|&&|\|\||\?|:|!|\(|\))|(?P<num>\d+(?:\.\d+)?)|"
    r"(?P<var>[A-Za-z_]\w*(?:\['[^'\\]*'\]|\.[A-Za-z_][\w-]*)*)|(?P<bad>\S))"
)


def evaluate(expression: str, scope: dict[str, Any]) -> Any:
    """An expression of the covered subset of Argo's ``expr`` language: ``cond ? a : b``, ``||``, ``&&``,
    ``!``, ``==``, ``!=``, parentheses, single-quoted strings, numbers and dotted variables
    (``tasks['x'].status``, ``lastRetry.exitCode``); an unknown variable is ``None``.

    Raises:
        EmulatorError: Anything outside that subset.
    """
    tokens: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(expression):
        kind = match.lastgroup
        if kind is None:
            continue
        if kind == "bad":
            raise EmulatorError(f"expression {expression!r} is outside the subset this emulator evaluates")
        tokens.append((kind, match.group(kind)))
    pos = 0

    def peek() -> str:
        return tokens[pos][1] if pos < len(tokens) and tokens[pos][0] == "op" else ""

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise EmulatorError(f"expression {expression!r} ends too early")
        pos += 1
        return tokens[pos - 1]

    def boolean(value: Any) -> bool:
        if not isinstance(value, bool):
            raise EmulatorError(f"expression {expression!r}: {value!r} is not a boolean")
        return value

    def atom() -> Any:
        kind, text = take()
        if kind == "str":
            return text[1:-1]
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "var":
            if text in ("true", "false"):
                return text == "true"
            if text == "nil":
                return None
            key = re.sub(r"\['([^']*)'\]", r".\1", text)
            return scope.get(key)
        if text == "(":
            value = ternary()
            if take()[1] != ")":
                raise EmulatorError(f"expression {expression!r}: expected ')'")
            return value
        if text == "!":
            return not boolean(atom())
        raise EmulatorError(f"expression {expression!r}: unexpected {text!r}")

    def comparison() -> Any:
        left = atom()
        if peek() in ("==", "!="):
            op = take()[1]
            right = atom()
            return (left == right) if op == "==" else (left != right)
        return left

    def conjunction() -> Any:
        value = comparison()
        while peek() == "&&":
            take()
            right = comparison()
            value = boolean(value) and boolean(right)
        return value

    def disjunction() -> Any:
        value = conjunction()
        while peek() == "||":
            take()
            right = conjunction()
            value = boolean(value) or boolean(right)
        return value

    def ternary() -> Any:
        cond = disjunction()
        if peek() == "?":
            take()
            yes = ternary()
            if take()[1] != ":":
                raise EmulatorError(f"expression {expression!r}: expected ':'")
            no = ternary()
            return yes if cond else no
        return cond

    value = ternary()
    if pos != len(tokens):
        raise EmulatorError(f"expression {expression!r} is outside the subset this emulator evaluates")
    return value


def _when(text: str) -> bool:
    match = re.fullmatch(r"\s*(true|false)\s*(==|!=)\s*(true|false)\s*", text)
    if match is None:
        raise EmulatorError(f"when {text!r} is outside the subset this emulator evaluates (WORD == WORD)")
    return (match.group(1) == match.group(3)) == (match.group(2) == "==")


_DEP = re.compile(r"\s*(?:(\(|\)|&&|\|\||!)|([A-Za-z0-9][-A-Za-z0-9_]*)(?:\.([A-Za-z]+))?)")
_QUALIFIERS = {
    None: ("Succeeded", "Skipped", "Daemoned"),
    "Succeeded": ("Succeeded",),
    "Failed": ("Failed",),
    "Errored": ("Error",),
    "Skipped": ("Skipped",),
    "Omitted": ("Omitted",),
}


def _depends_names(text: str) -> list[str]:
    return [m.group(2) for m in _DEP.finditer(text) if m.group(2)]


def _depends(text: str, phases: dict[str, str]) -> bool:
    """Evaluate an enhanced ``depends`` expression once every task it names has finished."""
    tokens: list[str | tuple[str, str | None]] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _DEP.match(text, pos)
        if match is None or match.end() == pos:
            raise EmulatorError(f"depends {text!r} is outside the subset this emulator evaluates")
        if match.group(1):
            tokens.append(match.group(1))
        else:
            if match.group(3) not in _QUALIFIERS:
                raise EmulatorError(f"depends qualifier .{match.group(3)} is not covered by this emulator")
            tokens.append((match.group(2), match.group(3)))
        pos = match.end()
    i = 0

    def disjunction() -> bool:
        nonlocal i
        value = conjunction()
        while i < len(tokens) and tokens[i] == "||":
            i += 1
            value = conjunction() or value
        return value

    def conjunction() -> bool:
        nonlocal i
        value = unary()
        while i < len(tokens) and tokens[i] == "&&":
            i += 1
            value = unary() and value
        return value

    def unary() -> bool:
        nonlocal i
        token = tokens[i]
        i += 1
        if token == "!":
            return not unary()
        if token == "(":
            value = disjunction()
            i += 1  # ')'
            return value
        assert isinstance(token, tuple)
        return phases[token[0]] in _QUALIFIERS[token[1]]

    return disjunction() if tokens else True


# --------------------------------------------------------------------------- the run


@dataclass
class _Node:
    phase: str
    parameters: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)


class ArgoEmulator:
    """One emulated run of a workflow spec; :func:`run_argo` is the usual way in."""

    def __init__(
        self,
        manifest: dict[str, Any],
        workdir: Path,
        params: dict[str, Any],
        isolated: bool = True,
        sites: Sites = (),
        packages_cache: Path | None = None,
    ) -> None:
        if not isinstance(manifest, dict) or manifest.get("kind") not in (
            "Workflow",
            "WorkflowTemplate",
            "CronWorkflow",
        ):
            raise EmulatorError("not a Workflow, WorkflowTemplate or CronWorkflow")
        spec = manifest.get("spec") or {}
        self.spec = spec.get("workflowSpec", {}) if manifest["kind"] == "CronWorkflow" else spec
        self.metadata = manifest.get("metadata") or {}
        for key in self.spec:
            if key not in _SPEC_KEYS:
                raise EmulatorError(f"spec.{key} is not covered by this emulator")
        self.templates = {t["name"]: t for t in self.spec.get("templates", [])}
        self.root = workdir
        self.repository = workdir / "repository"
        self.repository.mkdir(parents=True, exist_ok=True)
        self.globals: dict[str, Any] = {"workflow.name": "emulated", "workflow.namespace": "default"}
        declared = {p["name"]: p for p in (self.spec.get("arguments") or {}).get("parameters", [])}
        for name in params:
            if name not in declared:
                raise EmulatorError(f"the workflow has no parameter {name!r}")
        for name, p in declared.items():
            if name in params:
                value = armor(params[name])
            elif "value" in p:
                value = str(p["value"])
            else:
                raise EmulatorError(f"workflow parameter {name!r} has no value: pass it in params")
            self.globals[f"workflow.parameters.{name}"] = value
        # Numbered on from earlier runs in the same workdir, whose pods' files a later run may not reuse.
        taken = [int(p.name[4:]) for p in workdir.glob("pod-*") if p.name[4:].isdigit()]
        self.pods = max(taken, default=0)
        self.clock = 0.0
        """Seconds since the run started: the attempts' real durations plus the backoff waited (not slept)."""
        self.flags = ["-I", "-S"] if isolated else ["-I"]
        self.sites = sites
        self.packages_cache = packages_cache
        self.run = EmulatedRun(status="Running")

    # ------------------------------------------------------------------ workflow

    def execute(self) -> EmulatedRun:
        entry = str(self.spec.get("entrypoint"))
        if entry not in self.templates:
            raise EmulatorError(f"the entrypoint {entry!r} is not a template")
        args = {
            "parameters": {
                k.split(".", 2)[2]: v for k, v in self.globals.items() if k.startswith("workflow.p")
            },
            "artifacts": {},
        }
        node = self.template(entry, args, "", dict(self.globals))
        status = "Succeeded" if node.phase == "Succeeded" else "Failed"
        on_exit = self.spec.get("onExit")
        if on_exit:
            scope = {**self.globals, "workflow.status": status}
            exit_node = self.template(on_exit, {"parameters": {}, "artifacts": {}}, "onExit/", scope)
            if exit_node.phase != "Succeeded":
                status = "Failed"
        self.run.status = status
        if status == "Succeeded":
            self.run.outputs = self._outputs(node)
        return self.run

    def _outputs(self, node: _Node) -> dict[str, Any]:
        text = (self.metadata.get("annotations") or {}).get(OUTPUTS_ANNOTATION)
        how: dict[str, Any] = (
            json.loads(text) if text else {n: {"kind": "parameter"} for n in node.parameters}
        )
        outputs: dict[str, Any] = {}
        for name, entry in how.items():
            kind = entry["kind"]
            value: Any
            if kind == "literal":
                value = entry["value"]
            elif kind == "workflow-parameter":
                value = json.loads(self.globals[f"workflow.parameters.{entry['name']}"])
            elif kind == "parameter":
                raw = node.parameters[name]
                value = _gathered(raw) if entry.get("gathered") else json.loads(raw)
            elif kind == "artifact":
                value = _load(node.artifacts[name], json.loads(node.parameters[name + "-meta"]))
            elif kind == "collected":
                folder = self.repository / entry["prefix"].replace("{{workflow.name}}", "emulated")
                value = [_load(folder / r["file"], r) for r in _gathered(node.parameters[name + "-meta"])]
            else:
                raise EmulatorError(f"output {name!r}: unknown kind {kind!r} in {OUTPUTS_ANNOTATION}")
            for part in entry.get("path", []):
                value = value[part] if isinstance(value, dict | list) else getattr(value, part)
            outputs[name] = value
        return outputs

    # ------------------------------------------------------------------ templates

    def template(self, name: str, args: dict[str, dict[str, Any]], path: str, scope: dict[str, Any]) -> _Node:
        if name not in self.templates:
            raise EmulatorError(f"no template {name!r}")
        template = self.templates[name]
        for key in template:
            if key not in _TEMPLATE_KEYS:
                raise EmulatorError(f"template {name!r}: {key} is not covered by this emulator")
        local = dict(self.globals)
        if "workflow.status" in scope:
            local["workflow.status"] = scope["workflow.status"]
        inputs = template.get("inputs") or {}
        for p in inputs.get("parameters", []):
            if p["name"] in args["parameters"]:
                local[f"inputs.parameters.{p['name']}"] = args["parameters"][p["name"]]
            elif "value" in p or "default" in p:
                local[f"inputs.parameters.{p['name']}"] = str(p.get("value", p.get("default")))
            else:
                raise EmulatorError(f"template {name!r}: no value for input parameter {p['name']!r}")
        artifacts: dict[str, Path | None] = {}
        for a in inputs.get("artifacts", []):
            artifacts[a["name"]] = self._input_artifact(name, a, args["artifacts"], local)
        if "dag" in template:
            return self.dag(template, local, artifacts, path)
        if "container" in template:
            return self.container(template, local, artifacts, path.rstrip("/"))
        raise EmulatorError(f"template {name!r} is neither a DAG nor a container template")

    def _input_artifact(
        self, template: str, a: dict[str, Any], given: dict[str, Path], scope: dict[str, Any]
    ) -> Path | None:
        if a["name"] in given:
            return given[a["name"]]
        if "s3" in a:
            found = self.repository / substitute(a["s3"]["key"], scope)
            if found.exists():
                return found
        if a.get("optional"):
            return None
        raise EmulatorError(f"template {template!r}: no input artifact {a['name']!r}")

    def dag(
        self, template: dict[str, Any], scope: dict[str, Any], artifacts: dict[str, Path | None], path: str
    ) -> _Node:
        tasks = {t["name"]: t for t in template["dag"]["tasks"]}
        done: dict[str, _Node] = {}
        pending = list(tasks)
        failed = False
        while pending:
            ready = [
                n
                for n in pending
                if all(d in done for d in _depends_names(tasks[n].get("depends", "")))
                and all(d in tasks for d in _depends_names(tasks[n].get("depends", "")))
            ]
            if not ready:
                raise EmulatorError(
                    f"no task of {template['name']!r} can run: {pending} wait on unknown tasks"
                )
            name = ready[0]
            pending.remove(name)
            task = tasks[name]
            task_path = f"{path}{name}"
            phases = {k: v.phase for k, v in done.items()}
            if failed or not _depends(task.get("depends", ""), phases):
                done[name] = _Node("Omitted")
            else:
                local = self._task_scope(scope, artifacts, done, tasks)
                done[name] = self.task(task, local, task_path)
            self.run.tasks[task_path] = done[name].phase
            if done[name].phase in ("Failed", "Error"):
                failed = True
        outputs = _Node("Failed" if failed else "Succeeded")
        if failed:
            return outputs
        local = self._task_scope(scope, artifacts, done, tasks)
        for p in (template.get("outputs") or {}).get("parameters", []):
            source = p["valueFrom"]
            if "expression" in source:
                value = evaluate(source["expression"], local)
                if value is None:
                    raise EmulatorError(f"failed to evaluate output expression {source['expression']!r}")
                outputs.parameters[p["name"]] = str(value)
            else:
                outputs.parameters[p["name"]] = substitute(source["parameter"], local)
        for a in (template.get("outputs") or {}).get("artifacts", []):
            outputs.artifacts[a["name"]] = self._artifact_ref(a, local)
        return outputs

    def _task_scope(
        self,
        scope: dict[str, Any],
        artifacts: dict[str, Path | None],
        done: dict[str, _Node],
        tasks: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        local = dict(scope)
        for name, path in artifacts.items():
            if path is not None:
                local[f"inputs.artifacts.{name}"] = path
        for tname, node in done.items():
            local[f"tasks.{tname}.status"] = node.phase
            if node.phase in ("Skipped", "Omitted"):
                # Argo fills in the declared outputs of a skipped or omitted task with empty text.
                callee = self.templates.get(tasks[tname].get("template", ""), {})
                for p in (callee.get("outputs") or {}).get("parameters", []):
                    local[f"tasks.{tname}.outputs.parameters.{p['name']}"] = ""
            for pname, value in node.parameters.items():
                local[f"tasks.{tname}.outputs.parameters.{pname}"] = value
            for aname, file in node.artifacts.items():
                local[f"tasks.{tname}.outputs.artifacts.{aname}"] = file
        return local

    @staticmethod
    def _artifact_ref(a: dict[str, Any], scope: dict[str, Any]) -> Path:
        if "fromExpression" in a:
            value = evaluate(a["fromExpression"], scope)
        else:
            match = TAG.fullmatch(a.get("from", ""))
            value = scope.get(match.group(1)) if match else None
        if not isinstance(value, Path):
            raise EmulatorError(
                f"artifact {a['name']!r}: {a.get('from') or a.get('fromExpression')} is no artifact"
            )
        return value

    def task(self, task: dict[str, Any], scope: dict[str, Any], path: str) -> _Node:
        for key in task:
            if key not in _TASK_KEYS:
                raise EmulatorError(f"task {task['name']!r}: {key} is not covered by this emulator")
        if "when" in task and not _when(substitute(task["when"], scope)):
            return _Node("Skipped")
        if "withItems" in task or "withParam" in task:
            items = task.get("withItems")
            if items is None:
                items = json.loads(substitute(task["withParam"], scope))
                if not isinstance(items, list):
                    raise EmulatorError(f"task {task['name']!r}: withParam is not a JSON list")
            return self._loop(task, scope, items, path)
        return self._call(task, scope, path)

    def _call(self, task: dict[str, Any], scope: dict[str, Any], path: str) -> _Node:
        arguments = task.get("arguments") or {}
        params = {p["name"]: substitute(str(p["value"]), scope) for p in arguments.get("parameters", [])}
        arts = {a["name"]: self._artifact_ref(a, scope) for a in arguments.get("artifacts", [])}
        return self.template(task["template"], {"parameters": params, "artifacts": arts}, path + "/", scope)

    def _loop(self, task: dict[str, Any], scope: dict[str, Any], items: list[Any], path: str) -> _Node:
        if not items:
            return _Node("Skipped")
        runs: list[_Node] = []
        for i, item in enumerate(items):
            text = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
            node = self._call(task, {**scope, "item": text}, f"{path}[{i}]")
            self.run.tasks[f"{path}[{i}]"] = node.phase
            runs.append(node)
            if node.phase != "Succeeded":
                return _Node("Failed")
        group = _Node("Succeeded")
        for name in runs[0].parameters:
            group.parameters[name] = json.dumps([r.parameters[name] for r in runs])
        return group

    # ------------------------------------------------------------------ containers

    def container(
        self, template: dict[str, Any], scope: dict[str, Any], artifacts: dict[str, Path | None], path: str
    ) -> _Node:
        strategy = template.get("retryStrategy")
        failed: list[Attempt] = []
        while True:
            self.run.attempts[path] = len(failed) + 1
            started = self.clock
            begun = time.monotonic()
            # The controller binds {{retries}} (this attempt's number, from 0) in a template that retries.
            local = {**scope, "retries": str(len(failed))} if strategy else scope
            node, code, stderr = self._pod(template, local, artifacts, path)
            self.clock += time.monotonic() - begun
            if node.phase == "Succeeded":
                if OUTCOME in node.parameters:
                    error = failure_of(json.loads(node.parameters[OUTCOME]))
                    if error is not None:
                        self.run.tolerated[path] = error
                if any(line.startswith(HIT) for line in stderr.splitlines()):
                    self.run.cached[path] = "runtime"
                if METRICS in node.parameters:
                    self.run.metrics[path] = json.loads(node.parameters[METRICS])
                return node
            self.run.logs[path] = self.run.logs.get(path, "") + stderr
            message = f"Error (exit code {code})" if node.phase == "Failed" else stderr.strip()
            failed.append(Attempt(node.phase, str(code), message, started, self.clock))
            verdict = (
                decide(strategy, failed, self.clock, evaluate)
                if strategy
                else Verdict(0.0, False, node.phase, message)
            )
            if verdict.wait > 0:
                self.run.waits.setdefault(path, []).append(verdict.wait)
                self.clock += verdict.wait
            if not verdict.retry:
                if verdict.phase == "Error" and node.phase != "Error":
                    self.run.logs[path] += f"\nthe controller: {verdict.message}\n"
                self.run.failed.append(path)
                return _Node(verdict.phase or node.phase)

    def _pod(
        self, template: dict[str, Any], scope: dict[str, Any], artifacts: dict[str, Path | None], path: str
    ) -> tuple[_Node, int, str]:
        self.pods += 1
        pod = self.root / f"pod-{self.pods}"
        pod.mkdir(parents=True)
        local = {**scope, "pod.name": f"pod-{self.pods}"}

        def in_pod(container_path: str) -> Path:
            if not container_path.startswith(WORK + "/"):
                raise EmulatorError(f"path {container_path!r} is outside {WORK}, which this emulator maps")
            return pod / container_path[len(WORK) + 1 :]

        for a in (template.get("inputs") or {}).get("artifacts", []):
            source = artifacts.get(a["name"])
            if source is None:
                continue
            target = in_pod(a["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copyfile(source, target)
        container = template["container"]
        env: dict[str, str] = {}
        for item in container.get("env", []):
            if "value" in item:  # the launcher arrives here too: its folder is the pod's
                env[item["name"]] = kube_expand(substitute(item["value"], local), env).replace(WORK, str(pod))
            else:
                env[item["name"]] = "secret-value"
        command = [substitute(c, local) for c in container["command"]]
        args = [
            kube_expand(substitute(a, local), env).replace(WORK, str(pod)) for a in container.get("args", [])
        ]
        if command[:2] != ["python", "-c"]:
            raise EmulatorError(f"command {command[:2]} is not covered: this emulator runs `python -c`")
        program = command[2].replace(WORK, str(pod))
        sites = sites_for(self.sites, str(container.get("image", "")))
        packages = json.loads(env.pop(PACKAGES_ENV, "[]"))
        if packages:
            # Installed once per set into the shared cache, not by the launcher into this interpreter.
            try:
                sites.append(install_packages(packages, path, self.packages_cache))
            except PackagesError as exc:
                return _Node("Failed"), 1, f"{exc}\n"
        done = subprocess.run(
            [sys.executable, *self.flags, *with_sites(["-c", program, *command[3:], *args], sites)],
            env={**env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            return _Node("Failed"), done.returncode, done.stderr
        node = _Node("Succeeded")
        outputs = template.get("outputs") or {}
        for p in outputs.get("parameters", []):
            file = in_pod(p["valueFrom"]["path"])
            if not file.exists():
                return _Node("Error"), 1, f"output parameter {p['name']!r}: {file.name} was not written"
            # Bytes, decoded: read_text() would turn \r\n into \n.
            node.parameters[p["name"]] = file.read_bytes().decode("utf-8")
        for a in outputs.get("artifacts", []):
            file = in_pod(a["path"])
            node.artifacts[a["name"]] = file
            if "s3" in a:
                key = self.repository / substitute(a["s3"]["key"], local)
                key.parent.mkdir(parents=True, exist_ok=True)
                if file.is_dir():
                    shutil.copytree(file, key)
                else:
                    shutil.copyfile(file, key)
        return node, 0, done.stderr


_SPEC_KEYS = {
    "entrypoint",
    "arguments",
    "templates",
    "onExit",
    "serviceAccountName",
    "securityContext",
    "imagePullSecrets",
}
_TEMPLATE_KEYS = {
    "name",
    "inputs",
    "outputs",
    "dag",
    "container",
    "parallelism",
    "retryStrategy",
    "activeDeadlineSeconds",
    "metadata",
    "nodeSelector",
    "tolerations",
    "volumes",
    "metrics",  # served by Argo's controller to Prometheus: read and not emulated
    # Pod settings: where the pod runs and as whom; the emulator runs every pod here, as this user.
    "serviceAccountName",
    "affinity",
    "priorityClassName",
    "securityContext",
    "podSpecPatch",
}
_TASK_KEYS = {"name", "template", "depends", "when", "arguments", "withItems", "withParam"}


def _gathered(text: str) -> list[Any]:
    return [json.loads(t) for t in json.loads(text)] if text.strip() else []


def _load(path: Path, record: dict[str, Any]) -> Any:
    """A stored output as the step returned it: an object through its serialiser, or the artifact."""
    if record.get("kind") == "artifact":
        from mlopsdsl import artifacts

        cls = getattr(artifacts, record.get("type") or "Artifact", artifacts.Artifact)
        return cls(path=str(path), uri=record.get("uri"), metadata=record.get("metadata") or {})
    from mlopsdsl.runtime import serializers

    return serializers.load(str(path), record.get("format") or "pickle")


def run_argo(
    text: str,
    params: dict[str, Any],
    *,
    workdir: Path,
    isolated: bool = True,
    site_packages: Sites = (),
    packages_cache: Path | None = None,
) -> EmulatedRun:
    """Run a compiled Argo document on this machine and report how it ended.

    Args:
        text: The YAML that ``mlopsdsl compile --backend argo`` wrote.
        params: Pipeline parameters as Python values (sent armored, as ``mlopsdsl submit -p`` does).
        workdir: A folder for the pods' files and the stand-in artifact repository.
        isolated: Run commands under ``-I -S``, with nothing installed importable, as in a stock image.
            ``False`` keeps this interpreter's site-packages, for steps that need libraries (pydantic,
            numpy) that the real image or ``packages=`` would provide.
        site_packages: Folders standing for the image's site-packages (``pip install --target`` of an
            image's lock): for every container, or by image name (``{tag: [folder]}``).
        packages_cache: Where each distinct set of a step's ``packages=`` is installed once
            (:func:`mlopsdsl.testing._site.default_cache` when left out).

    Raises:
        EmulatorError: The document uses something this emulator does not cover, or is malformed.
    """
    try:
        manifest = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EmulatorError(f"not YAML: {exc}") from None
    workdir.mkdir(parents=True, exist_ok=True)
    return ArgoEmulator(manifest, workdir, params, isolated, site_packages, packages_cache).execute()
