"""Checking a compiled KFP package: strict schema first, then what the schema cannot say.

kfp checks the shape of a document (its protobuf models) but not that its parts fit together. This module
does both, collecting every problem before it reports: the PipelineSpec, its deployment config and each
Kubernetes executor config parse strictly into their generated models; every ``componentRef``,
``executorLabel``, ``producerTask``, ``producerSubtask`` and ``dependentTasks`` entry exists; every task input
is declared by its component and has the type of what feeds it; every required input is bound; and no DAG
(nor the nesting of components) has a cycle. Control flow too: a loop's ``parameterIterator`` names an input
of its task and an item input its component declares, and its DAG outputs are lists; a trigger condition
reads only inputs its task is given; ``valueFromOneof`` and ``taskFinalStatus`` name real tasks; artifact
lists meet artifact lists. Two rules of KFP's driver that the schema hides: no DAG component takes an
artifact list as an input (the driver reads it back as one artifact), and no task inside a loop reads the
list the loop runs over (the driver takes it out of each iteration). ``mlopsdsl validate --backend kfp``
runs it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlopsdsl.errors import Problem

__all__ = ["validate"]

_CONDITION_INPUT = re.compile(r"inputs\.parameter_values\['([^']*)'\]")

_VALUE_KINDS = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
}


def _problem(code: str, message: str) -> Problem:
    return Problem(None, code, message)


def validate(text: str) -> list[Problem]:
    """Every problem found in the package ``text``."""
    from ._yaml import load_documents

    try:
        docs = load_documents(text)
    except Exception as exc:
        return [_problem("kfp-yaml", f"not YAML: {exc}")]
    if not docs or not isinstance(docs[0], dict):
        return [_problem("kfp-yaml", "the package holds no PipelineSpec document")]
    problems = _schema(docs)
    if problems:
        return problems
    return _Checker(docs[0]).run() + _platform_refs(docs)


def _schema(docs: list[Any]) -> list[Problem]:
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

    from ._protos import kubernetes_config, pipeline_spec

    pb = pipeline_spec()
    problems: list[Problem] = []

    def parse(data: Any, message: Any, what: str) -> None:
        try:
            json_format.ParseDict(data, message, ignore_unknown_fields=False)
        except json_format.ParseError as exc:
            problems.append(_problem("kfp-schema", f"{what}: {exc}"))

    parse(docs[0], pb.PipelineSpec(), "PipelineSpec")
    parse(docs[0].get("deploymentSpec", {}), pb.PipelineDeploymentConfig(), "deploymentSpec")
    for extra in docs[1:]:
        parse(extra, pb.PlatformSpec(), "PlatformSpec")
        for name, config in _platform_executors(extra).items():
            parse(config, kubernetes_config().KubernetesExecutorConfig(), f"PlatformSpec executor {name!r}")
    return problems


def _platform_executors(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        return {}
    kube = doc.get("platforms", {}).get("kubernetes", {})
    executors: dict[str, Any] = kube.get("deploymentSpec", {}).get("executors", {})
    return executors


def _platform_refs(docs: list[Any]) -> list[Problem]:
    known = set(docs[0].get("deploymentSpec", {}).get("executors", {}))
    return [
        _problem("unknown-executor", f"PlatformSpec configures executor {name!r}, which the pipeline lacks")
        for doc in docs[1:]
        for name in sorted(_platform_executors(doc))
        if name not in known
    ]


class _Checker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.components: dict[str, Any] = spec.get("components", {})
        self.executors: dict[str, Any] = spec.get("deploymentSpec", {}).get("executors", {})
        self.root: dict[str, Any] = spec.get("root", {})
        self.problems: list[Problem] = []
        self.loops = {
            t.get("componentRef", {}).get("name")
            for c in [self.root, *self.components.values()]
            for t in c.get("dag", {}).get("tasks", {}).values()
            if "parameterIterator" in t
        }
        """Components run once per item of a list: their DAG outputs are collected into lists."""

    def add(self, code: str, message: str) -> None:
        self.problems.append(_problem(code, message))

    def run(self) -> list[Problem]:
        if "dag" not in self.root:
            self.add("no-root-dag", "the root component has no DAG")
        for name, component in sorted(self.components.items()):
            if "executorLabel" in component:
                if component["executorLabel"] not in self.executors:
                    self.add(
                        "unknown-executor",
                        f"component {name!r}: executorLabel {component['executorLabel']!r} is not in "
                        "deploymentSpec.executors",
                    )
            elif "dag" not in component:
                self.add("empty-component", f"component {name!r} has neither an executorLabel nor a DAG")
            else:
                for key, spec in sorted(component.get("inputDefinitions", {}).get("artifacts", {}).items()):
                    if spec.get("isArtifactList"):
                        self.add(
                            "bad-artifact-list",
                            f"component {name!r}: input {key!r} is an artifact list, which KFP passes into "
                            "a sub-DAG as one of its artifacts (kubeflow/pipelines#13900)",
                        )
        for where, component in [("root", self.root), *sorted(self.components.items())]:
            if "dag" in component:
                self._dag(where, component)
        self._component_cycles()
        return self.problems

    # ------------------------------------------------------------------ one DAG

    def _dag(self, where: str, component: dict[str, Any]) -> None:
        tasks: dict[str, Any] = component["dag"].get("tasks", {})
        own_inputs = component.get("inputDefinitions", {})
        edges: dict[str, set[str]] = {name: set() for name in tasks}
        for name, task in sorted(tasks.items()):
            label = f"{where}: task {name!r}"
            ref = task.get("componentRef", {}).get("name")
            callee = self.components.get(ref) if ref else None
            if callee is None:
                self.add("unknown-component", f"{label}: componentRef {ref!r} is not a component")
            for dep in task.get("dependentTasks", []):
                if dep not in tasks:
                    self.add("unknown-task", f"{label}: dependentTasks names {dep!r}, not a task of this DAG")
                else:
                    edges[name].add(dep)
            inputs = task.get("inputs", {})
            declared = (callee or {}).get("inputDefinitions", {})
            for kind in ("parameters", "artifacts"):
                for input_name, binding in sorted(inputs.get(kind, {}).items()):
                    producer = self._input(label, kind, input_name, binding, declared, own_inputs, tasks)
                    if producer is not None:
                        edges[name].add(producer)
            if callee is not None:
                self._control(label, task, callee, tasks)
                self._required(label, declared, inputs, task)
        self._dag_outputs(where, component, tasks)
        cycle = _find_cycle(edges)
        if cycle:
            self.add("cycle", f"{where}: the tasks form a cycle: {' -> '.join(cycle)}")

    def _input(
        self,
        label: str,
        kind: str,
        name: str,
        binding: dict[str, Any],
        declared: dict[str, Any],
        own_inputs: dict[str, Any],
        tasks: dict[str, Any],
    ) -> str | None:
        """Check one task input; the producing task's name when it comes from one."""
        what = f"{label}: input {name!r}"
        spec = declared.get(kind, {}).get(name)
        if spec is None:
            self.add("undeclared-input", f"{what} is not declared by its component")
        expected = _type_of(kind, spec)
        if "componentInputParameter" in binding or "componentInputArtifact" in binding:
            source = binding.get("componentInputParameter") or binding.get("componentInputArtifact")
            parent = own_inputs.get(kind, {}).get(source)
            if parent is None:
                self.add(
                    "unknown-input",
                    f"{what} reads {source!r}, which the enclosing component does not declare",
                )
                return None
            self._match(what, expected, _type_of(kind, parent), f"input {source!r}")
            if kind == "artifacts" and bool((spec or {}).get("isArtifactList")) != bool(
                parent.get("isArtifactList")
            ):
                self.add("type-mismatch", f"{what}: an artifact list and a single artifact meet")
            return None
        if "taskOutputParameter" in binding or "taskOutputArtifact" in binding:
            ref = binding.get("taskOutputParameter") or binding.get("taskOutputArtifact") or {}
            producer = ref.get("producerTask")
            key = ref.get("outputParameterKey") or ref.get("outputArtifactKey")
            if producer not in tasks:
                self.add("unknown-task", f"{what}: producerTask {producer!r} is not a task of this DAG")
                return None
            outputs = self._outputs_of(tasks[producer]).get(kind, {})
            if key not in outputs:
                self.add("unknown-output", f"{what}: task {producer!r} has no output {key!r}")
                return str(producer)
            self._match(what, expected, _type_of(kind, outputs[key]), f"output {producer}.{key}")
            if kind == "artifacts" and bool((spec or {}).get("isArtifactList")) != bool(
                outputs[key].get("isArtifactList")
            ):
                self.add("type-mismatch", f"{what}: an artifact list and a single artifact meet")
            return str(producer)
        if "runtimeValue" in binding:
            value = binding["runtimeValue"].get("constant")
            allowed = _VALUE_KINDS.get(expected or "")
            wrong = bool(allowed) and (
                not isinstance(value, allowed or ())
                or (isinstance(value, bool) and bool not in (allowed or ()))
            )
            whole = expected == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer()
            if wrong and not whole:
                self.add("type-mismatch", f"{what} is {expected} but its constant is {value!r}")
        return None

    def _control(
        self, label: str, task: dict[str, Any], callee: dict[str, Any], tasks: dict[str, Any]
    ) -> None:
        """Loops, conditions and exit-handler statuses of one task."""
        params = task.get("inputs", {}).get("parameters", {})
        declared = callee.get("inputDefinitions", {}).get("parameters", {})
        iterator = task.get("parameterIterator")
        if iterator is not None:
            if "dag" not in callee:
                self.add("bad-loop", f"{label}: a loop must run a DAG component")
            item = iterator.get("itemInput")
            if item not in declared:
                self.add("bad-loop", f"{label}: the loop item {item!r} is not an input of its component")
            items = iterator.get("items", {})
            if "inputParameter" in items and items["inputParameter"] not in params:
                self.add(
                    "bad-loop", f"{label}: the loop runs over {items['inputParameter']!r}, not an input of it"
                )
            elif "inputParameter" in items:
                for inner, spec in sorted(callee.get("dag", {}).get("tasks", {}).items()):
                    bound = spec.get("inputs", {}).get("parameters", {}).values()
                    if any(b.get("componentInputParameter") == items["inputParameter"] for b in bound):
                        self.add(
                            "bad-loop",
                            f"{label}: task {inner!r} inside reads {items['inputParameter']!r}, the list the "
                            "loop runs over, which KFP takes out of each iteration's inputs",
                        )
            elif "raw" in items:
                try:
                    ok = isinstance(json.loads(items["raw"]), list)
                except ValueError:
                    ok = False
                if not ok:
                    self.add("bad-loop", f"{label}: the loop's raw items are not a JSON list")
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition is not None:
            for name in _CONDITION_INPUT.findall(condition):
                if name not in params:
                    self.add("bad-condition", f"{label}: its condition reads {name!r}, which it is not given")
        for name, binding in sorted(params.items()):
            status = binding.get("taskFinalStatus")
            if status is None:
                continue
            producer = status.get("producerTask")
            if producer not in tasks:
                self.add(
                    "unknown-task", f"{label}: input {name!r} is the final status of unknown {producer!r}"
                )
            elif producer not in task.get("dependentTasks", []):
                self.add(
                    "bad-exit-handler", f"{label}: it takes the status of {producer!r} without waiting for it"
                )

    def _match(self, what: str, expected: str | None, actual: str | None, source: str) -> None:
        if expected is not None and actual is not None and expected != actual:
            self.add("type-mismatch", f"{what} is {expected} but {source} is {actual}")

    def _outputs_of(self, task: dict[str, Any]) -> dict[str, Any]:
        component = self.components.get(task.get("componentRef", {}).get("name", ""), {})
        outputs: dict[str, Any] = component.get("outputDefinitions", {})
        return outputs

    def _required(
        self, label: str, declared: dict[str, Any], inputs: dict[str, Any], task: dict[str, Any]
    ) -> None:
        item = task.get("parameterIterator", {}).get("itemInput")
        for kind in ("parameters", "artifacts"):
            for name, spec in sorted(declared.get(kind, {}).items()):
                optional = spec.get("isOptional") or "defaultValue" in spec or name == item
                if not optional and name not in inputs.get(kind, {}):
                    self.add("missing-input", f"{label}: required input {name!r} is not bound")

    def _dag_outputs(self, where: str, component: dict[str, Any], tasks: dict[str, Any]) -> None:
        outputs = component["dag"].get("outputs", {})
        declared = component.get("outputDefinitions", {})
        loop = where in self.loops
        for kind, field in (("parameters", "valueFromParameter"), ("artifacts", "artifactSelectors")):
            for name, spec in sorted(outputs.get(kind, {}).items()):
                what = f"{where}: output {name!r}"
                refs = spec.get(field)
                if refs is None and "valueFromOneof" in spec:
                    refs = spec["valueFromOneof"].get("parameterSelectors", [])
                refs = [refs] if isinstance(refs, dict) else (refs or [])
                if name not in declared.get(kind, {}):
                    self.add("undeclared-output", f"{what} is not in outputDefinitions")
                for ref in refs:
                    producer = ref.get("producerSubtask")
                    key = ref.get("outputParameterKey") or ref.get("outputArtifactKey")
                    if producer not in tasks:
                        self.add(
                            "unknown-task", f"{what}: producerSubtask {producer!r} is not a task of this DAG"
                        )
                        continue
                    produced = self._outputs_of(tasks[producer]).get(kind, {})
                    if key not in produced:
                        self.add("unknown-output", f"{what}: task {producer!r} has no output {key!r}")
                        continue
                    expected = _type_of(kind, declared.get(kind, {}).get(name))
                    if loop and kind == "parameters":
                        expected = None if expected == "LIST" else expected  # one item per iteration
                    self._match(what, expected, _type_of(kind, produced[key]), f"output {producer}.{key}")
                    listed = bool(declared.get(kind, {}).get(name, {}).get("isArtifactList"))
                    if kind == "artifacts" and listed != (loop or bool(produced[key].get("isArtifactList"))):
                        self.add("type-mismatch", f"{what}: an artifact list and a single artifact meet")

    def _component_cycles(self) -> None:
        edges: dict[str, set[str]] = {}
        for name, component in self.components.items():
            tasks = component.get("dag", {}).get("tasks", {})
            edges[name] = {t.get("componentRef", {}).get("name", "") for t in tasks.values()} & set(
                self.components
            )
        cycle = _find_cycle(edges)
        if cycle:
            self.add("cycle", f"components call themselves: {' -> '.join(cycle)}")


def _type_of(kind: str, spec: dict[str, Any] | None) -> str | None:
    if spec is None:
        return None
    if kind == "parameters":
        value = spec.get("parameterType")
        return str(value) if value is not None else None
    title = spec.get("artifactType", {}).get("schemaTitle")
    return str(title) if title is not None else None


def _find_cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle in the graph ``node -> nodes it depends on``, or ``[]``."""
    state: dict[str, int] = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop(0)
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt) and nxt in edges:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(edges[nxt])))
    return []
