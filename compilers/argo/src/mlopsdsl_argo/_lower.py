"""Lowering the IR to an Argo ``WorkflowSpec``: a DAG template per pipeline, a container template per step.

Each pipeline (the root and every sub-pipeline) becomes a DAG template whose tasks call container
templates (steps) or other DAG templates (sub-pipelines), ordered by ``depends``. Values flow as Argo
parameters holding armored JSON (:mod:`mlopsdsl_argo._values`) and, for ``object`` and ``artifact`` types,
as Argo artifacts through the artifact repository. Literals (defaults, constants) are written armored, so
no user text is ever expanded.

A binding is resolved to a :class:`Source` in the scope of its DAG: a literal, a parameter reference
(``{{inputs.parameters.x}}``, ``{{tasks.t.outputs.parameters.y}}``) or an artifact reference, plus the field
path the runtime selects and the tasks it depends on. Outputs of a sub-pipeline are resolved through it:
a constant or a parameter passed straight through never makes a round trip through Argo.

Control flow (issue 6) arrives as new group kinds on tasks; :meth:`Lowering._task` is where a task's
``when``/``withParam`` will be added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl_argo._code import RUNTIME_PARAMETER, code_spec, runtime_bundle
from mlopsdsl_argo._launch import stored_kind
from mlopsdsl_argo._naming import Names
from mlopsdsl_argo._options import BACKEND, CompileOptions
from mlopsdsl_argo._templates import Signature, container_template
from mlopsdsl_argo._values import armor

__all__ = ["Source", "lower"]

POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class Source:
    """Where a value comes from, in the scope of one DAG template."""

    kind: str
    """``literal`` (armored JSON), ``parameter`` or ``artifact`` (a ``{{...}}`` reference)."""
    text: str
    path: tuple[str | int, ...] = ()
    deps: frozenset[str] = field(default_factory=frozenset)


@dataclass
class _Dag:
    """A lowered pipeline: its template name and its outputs as sources in its own scope."""

    name: str
    outputs: dict[str, Source]


class Lowering:
    """One compilation of one document."""

    def __init__(self, document: ir.Document, options: CompileOptions) -> None:
        self.doc = document
        self.options = options
        self.names = Names()
        self.specs = {p.name: p for p in document.pipelines}
        self.task_index = {p.name: {t.id: t for t in p.tasks} for p in document.pipelines}
        self.steps = {s.name: s for s in document.steps}
        self.dag_names = {p.name: self.names.claim(p.name) for p in document.pipelines}
        self.dags: dict[str, _Dag] = {}
        self.dag_templates: dict[str, dict[str, Any]] = {}
        self.step_templates: dict[tuple[str, Signature], dict[str, Any]] = {}
        self.code: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ pipelines

    def pipeline(self, name: str, stack: tuple[str, ...] = ()) -> _Dag:
        if name in self.dags:
            return self.dags[name]
        if name in stack:
            raise CompileError(f"pipeline {name!r} calls itself", BACKEND)
        spec = self.specs[name]
        if getattr(spec, "on_exit", None) is not None:
            raise CompileError(
                f"pipeline {name!r}: exit handlers are not compiled by this backend yet", BACKEND
            )
        labels = Names()
        task_names = {t.id: labels.claim(t.id) for t in spec.tasks}
        tasks = [self._task(spec, t, task_names, (*stack, name)) for t in spec.tasks]
        outputs = {o.name: self._resolve(spec, o.source, task_names, (*stack, name)) for o in spec.outputs}
        template: dict[str, Any] = {"name": self.dag_names[name]}
        inputs = self._dag_inputs(spec)
        if inputs:
            template["inputs"] = inputs
        declared = self._dag_outputs(outputs, root=not stack)
        if declared:
            template["outputs"] = declared
        template["dag"] = {"tasks": tasks}
        self.dag_templates[name] = template
        self.dags[name] = _Dag(self.dag_names[name], outputs)
        return self.dags[name]

    def _dag_inputs(self, spec: ir.PipelineSpec) -> dict[str, Any]:
        params = [{"name": p.name} for p in spec.params if stored_kind(p.type) is None]
        artifacts = [{"name": p.name} for p in spec.params if stored_kind(p.type) is not None]
        inputs: dict[str, Any] = {}
        if params:
            inputs["parameters"] = params
        if artifacts:
            inputs["artifacts"] = artifacts
        return inputs

    @staticmethod
    def _dag_outputs(outputs: dict[str, Source], root: bool) -> dict[str, Any]:
        params: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        for name, src in outputs.items():
            if not src.text.startswith("{{tasks.") or (root and src.path):
                continue  # resolved statically by whoever uses it
            if src.kind == "artifact":
                artifacts.append({"name": name, "from": src.text})
            else:
                params.append({"name": name, "valueFrom": {"parameter": src.text}})
        declared: dict[str, Any] = {}
        if params:
            declared["parameters"] = params
        if artifacts:
            declared["artifacts"] = artifacts
        return declared

    # ------------------------------------------------------------------ bindings

    def _resolve(
        self, spec: ir.PipelineSpec, binding: ir.Binding, task_names: dict[str, str], stack: tuple[str, ...]
    ) -> Source:
        if isinstance(binding, ir.ConstantBinding):
            return Source("literal", armor(binding.value))
        if isinstance(binding, ir.ParameterBinding):
            param = next(p for p in spec.params if p.name == binding.name)
            if stored_kind(param.type) is not None:
                return Source("artifact", f"{{{{inputs.artifacts.{binding.name}}}}}", tuple(binding.path))
            return Source("parameter", f"{{{{inputs.parameters.{binding.name}}}}}", tuple(binding.path))
        if not isinstance(binding, ir.TaskOutputBinding):
            raise CompileError(
                f"pipeline {spec.name!r}: {binding.kind} bindings (control flow) are not compiled by this "
                "backend yet",
                BACKEND,
            )
        producer = self.task_index[spec.name][binding.task]
        label = task_names[binding.task]
        deps = frozenset({label})
        path = tuple(binding.path)
        if producer.step is not None:
            out = next(o for o in self.steps[producer.step].outputs if o.name == binding.output)
            if stored_kind(out.type) is not None:
                return Source("artifact", f"{{{{tasks.{label}.outputs.artifacts.{out.name}}}}}", path, deps)
            return Source("parameter", f"{{{{tasks.{label}.outputs.parameters.{out.name}}}}}", path, deps)
        assert producer.pipeline is not None
        inner = self.pipeline(producer.pipeline, stack).outputs[binding.output]
        if inner.kind == "literal":
            return Source("literal", inner.text, inner.path + path, deps)
        if inner.text.startswith("{{inputs."):
            # The sub-pipeline passes one of its parameters straight through: use what we gave it.
            pname = inner.text.split(".")[2].rstrip("}")
            given = self._argument(spec, producer, pname, task_names, stack)
            return Source(given.kind, given.text, given.path + inner.path + path, given.deps | deps)
        section = "artifacts" if inner.kind == "artifact" else "parameters"
        ref = f"{{{{tasks.{label}.outputs.{section}.{binding.output}}}}}"
        return Source(inner.kind, ref, inner.path + path, deps)

    def _argument(
        self,
        spec: ir.PipelineSpec,
        task: ir.Task,
        name: str,
        task_names: dict[str, str],
        stack: tuple[str, ...],
    ) -> Source:
        """The source of input ``name`` of ``task``: its binding, or the callee's default."""
        binding = task.inputs.get(name)
        if binding is not None:
            return self._resolve(spec, binding, task_names, stack)
        callee = self.specs[task.pipeline].params if task.pipeline else self.steps[task.callee].inputs
        param = next(p for p in callee if p.name == name)
        return Source("literal", armor(param.default))

    # ------------------------------------------------------------------ tasks

    def _task(
        self, spec: ir.PipelineSpec, task: ir.Task, task_names: dict[str, str], stack: tuple[str, ...]
    ) -> dict[str, Any]:
        if task.group is not None or getattr(task, "map", None) is not None:
            raise CompileError(
                f"task {task.id!r}: control flow (map, when, otherwise) is not compiled by this backend yet",
                BACKEND,
            )
        params: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        deps: set[str] = {task_names[a] for a in task.after}
        if task.step is not None:
            step = self.steps[task.step]
            signature: list[tuple[str, str, tuple[str | int, ...]]] = []
            for param in step.inputs:
                if task.inputs.get(param.name) is None and stored_kind(param.type) is not None:
                    signature.append((param.name, "omit", ()))  # the function's own default applies
                    continue
                src = self._argument(spec, task, param.name, task_names, stack)
                deps |= src.deps
                if src.kind == "artifact":
                    artifacts.append({"name": param.name, "from": src.text})
                    signature.append((param.name, "stored", src.path))
                else:
                    params.append({"name": param.name, "value": src.text})
                    signature.append((param.name, "json", src.path))
            template = self._step_template(step, tuple(signature))
        else:
            assert task.pipeline is not None
            sub = self.specs[task.pipeline]
            template = self.pipeline(task.pipeline, stack).name
            for param in sub.params:
                src = self._argument(spec, task, param.name, task_names, stack)
                if src.path:
                    raise CompileError(
                        f"task {task.id!r}: a field selection passed into sub-pipeline {sub.name!r} is not "
                        "supported by this backend yet; select it inside the sub-pipeline",
                        BACKEND,
                    )
                deps |= src.deps
                if src.kind == "artifact":
                    artifacts.append({"name": param.name, "from": src.text})
                else:
                    params.append({"name": param.name, "value": src.text})
        out: dict[str, Any] = {"name": task_names[task.id], "template": template}
        if deps:
            out["depends"] = " && ".join(sorted(deps))
        arguments: dict[str, Any] = {}
        if params:
            arguments["parameters"] = params
        if artifacts:
            arguments["artifacts"] = artifacts
        if arguments:
            out["arguments"] = arguments
        return out

    def _step_template(self, step: ir.StepSpec, signature: Signature) -> str:
        key = (step.name, signature)
        if key not in self.step_templates:
            if step.name not in self.code:
                self.code[step.name] = code_spec(step, self.options.code, self.options.functions)
            name = self.names.claim(step.name)
            self.step_templates[key] = container_template(
                name, step, signature, self.code[step.name], self.options
            )
        return str(self.step_templates[key]["name"])

    # ------------------------------------------------------------------ the whole spec

    def spec(self) -> dict[str, Any]:
        root = self.doc.pipeline
        for param in root.params:
            if stored_kind(param.type) is not None:
                raise CompileError(
                    f"pipeline parameter {param.name!r} is a stored type ({param.type}); Argo workflows "
                    "take parameters by value only",
                    BACKEND,
                )
        self.pipeline(root.name)
        arguments = []
        for param in root.params:
            entry: dict[str, Any] = {"name": param.name}
            if param.optional:
                entry["value"] = armor(param.default)
            arguments.append(entry)
        uses_pickle = self.options.code == "value" or any(
            stored_kind(o.type) == "object" for s in self.doc.steps for o in s.outputs
        )
        arguments.append({"name": RUNTIME_PARAMETER, "value": runtime_bundle(uses_pickle)})
        spec: dict[str, Any] = {
            "entrypoint": self.dag_names[root.name],
            "arguments": {"parameters": arguments},
        }
        if self.options.service_account:
            spec["serviceAccountName"] = self.options.service_account
        if self.options.non_root:
            spec["securityContext"] = POD_SECURITY
        dags = [self.dag_templates[p.name] for p in self.doc.pipelines if p.name in self.dag_templates]
        spec["templates"] = [*dags, *self.step_templates.values()]
        return spec


def lower(document: ir.Document, options: CompileOptions) -> dict[str, Any]:
    """The Argo ``WorkflowSpec`` of ``document``."""
    return Lowering(document, options).spec()
