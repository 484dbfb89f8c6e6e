"""Lowering the IR to an Argo ``WorkflowSpec``: a DAG template per pipeline, a container template per step.

Each pipeline (the root and every sub-pipeline) becomes a DAG template whose tasks call container
templates (steps) or other DAG templates (sub-pipelines), ordered by ``depends``. Values flow as Argo
parameters holding armored JSON (:mod:`mlopsdsl_argo._values`) and, for ``object`` and ``artifact`` types,
as Argo artifacts through the artifact repository together with a ``NAME-meta`` parameter carrying the
producer's output record (digest, serialiser, metadata). Literals (defaults, constants) are written
armored, so no user text is ever expanded.

A binding is resolved to a :class:`~._sources.Source` in the scope of its DAG (:mod:`._sources`), whose
references (:mod:`._refs`) are written out only when a task or a DAG's outputs are rendered. Control flow
(see ``docs/argo.md``):

- ``.map`` -> ``withItems`` (a literal list) or ``withParam`` (a JSON list of armored texts: another loop's
  aggregated output as it is, or what the ``items`` helper made of a parameter or a step's output);
  ``max_parallel`` -> a one-task DAG template with ``parallelism`` around the loop (:mod:`._loops`). A
  loop's outputs are Argo's aggregates (``gathered`` sources, decoded by the launcher); its stored
  outputs are uploaded under one key prefix per loop and collected by the consumer as a folder plus the
  list of the runs' records (``collected`` sources).
- ``ml.when``/``ml.otherwise`` -> one ``condition`` helper task per pair, and on every task of a block
  ``depends: COND.Succeeded`` and ``when: {{tasks.COND.outputs.parameters.holds}} == true`` (``false`` for
  ``otherwise``). A block inside a block gates its condition task the same way, so a skipped outer block
  leaves the inner tasks Omitted.
- ``ml.one_of`` -> an expression choosing the branch whose task ``Succeeded``.
- the exit handler -> ``spec.onExit``, a one-task DAG template passing ``{{workflow.status}}`` as
  ``"Succeeded"``/``"Failed"``.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import (
    bundle_needs_cloudpickle,
    code_spec,
    function_name,
    pod_of,
    runtime_bundle_text,
    stored_kind,
)
from mlopsdsl.lowering._kube import DEFAULT_POD_SECURITY, container_security
from mlopsdsl.naming import k8s_literal
from mlopsdsl_argo._helpers import condition_template, items_template
from mlopsdsl_argo._launch import LAUNCHER_PARAMETER, META, RUNTIME_PARAMETER, launcher
from mlopsdsl_argo._loops import limit_parallelism
from mlopsdsl_argo._naming import Names
from mlopsdsl_argo._options import BACKEND, CompileOptions, default_image
from mlopsdsl_argo._pod import check_document, pull_secrets
from mlopsdsl_argo._refs import (
    Call,
    Chosen,
    Input,
    Literal,
    Status,
    TaskOutput,
    Texts,
    When,
    WorkflowParameter,
    WorkflowText,
    artifact_from,
    value_from,
)
from mlopsdsl_argo._sources import Scope, Source, Sources
from mlopsdsl_argo._templates import Signature, container_template, repository_key
from mlopsdsl_argo._values import armor

__all__ = ["lower"]


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
        self.steps = {s.name: s for s in document.steps}
        self.dag_names = {p.name: self.names.claim(p.name) for p in document.pipelines}
        self.sources = Sources(document, self.dag_names, self._outputs_of)
        self.dags: dict[str, _Dag] = {}
        self.dag_templates: dict[str, dict[str, Any]] = {}
        self.extra_templates: list[dict[str, Any]] = []
        self.step_templates: dict[tuple[str, Signature, str | None], dict[str, Any]] = {}
        self.helper_names: dict[str, str] = {}
        self.code: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ pipelines

    def _outputs_of(self, name: str, stack: tuple[str, ...]) -> dict[str, Source]:
        return self.pipeline(name, stack).outputs

    def pipeline(self, name: str, stack: tuple[str, ...] = ()) -> _Dag:
        if name in self.dags:
            return self.dags[name]
        if name in stack:
            raise CompileError(f"pipeline {name!r} calls itself", BACKEND, location=self.specs[name].location)
        spec = self.specs[name]
        labels = Names()
        scope = Scope(spec, labels, {t.id: labels.claim(t.id) for t in spec.tasks}, (*stack, name))
        scope.groups = {g.id: g for g in spec.groups}
        for group in spec.groups:
            if group.kind == "when":
                scope.conditions[group.id] = labels.claim(group.id)
        conditions = [self._condition_task(scope, g) for g in spec.groups if g.kind == "when"]
        tasks = [self._task(scope, t) for t in spec.tasks]
        outputs = {
            o.name: self.sources.resolve(scope, o.source, o.location or spec.location) for o in spec.outputs
        }
        template: dict[str, Any] = {"name": self.dag_names[name]}
        inputs = self._dag_inputs(spec)
        if inputs:
            template["inputs"] = inputs
        declared = self._dag_outputs(outputs)
        if declared:
            template["outputs"] = declared
        template["dag"] = {"tasks": [c.render() for c in (*conditions, *scope.helpers, *tasks)]}
        self.dag_templates[name] = template
        self.dags[name] = _Dag(self.dag_names[name], outputs)
        return self.dags[name]

    def _dag_inputs(self, spec: ir.PipelineSpec) -> dict[str, Any]:
        params: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        for p in spec.params:
            if stored_kind(p.type) is None:
                params.append({"name": p.name})
            else:
                params.append({"name": p.name + META})
                artifacts.append({"name": p.name})
        inputs: dict[str, Any] = {}
        if params:
            inputs["parameters"] = params
        if artifacts:
            inputs["artifacts"] = artifacts
        return inputs

    @staticmethod
    def _dag_outputs(outputs: dict[str, Source]) -> dict[str, Any]:
        params: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        for name, src in outputs.items():
            if not isinstance(src.ref, TaskOutput | Chosen):
                continue  # a constant or a parameter passed through: resolved statically by whoever uses it
            if src.kind == "artifact":
                assert src.meta is not None
                artifacts.append({"name": name, **artifact_from(src.ref)})
                params.append({"name": name + META, "valueFrom": value_from(src.meta)})
            else:  # for "collected": the records of the runs
                pname = name + META if src.kind == "collected" else name
                params.append({"name": pname, "valueFrom": value_from(src.ref)})
        declared: dict[str, Any] = {}
        if params:
            declared["parameters"] = params
        if artifacts:
            declared["artifacts"] = artifacts
        return declared

    # ------------------------------------------------------------------ conditions

    def _gate(self, scope: Scope, group: str | None) -> tuple[set[str], When | None]:
        """The ``depends`` terms and ``when`` that run a task only inside block ``group``."""
        if group is None:
            return set(), None
        block = scope.groups[group]
        when_id = block.id if block.kind == "when" else (block.else_of or block.id)
        label = scope.conditions[when_id]
        return {f"{label}.Succeeded"}, When(label, holds=block.kind == "when")

    def _condition_task(self, scope: Scope, group: ir.Group) -> Call:
        operands: list[Source] = []
        deps: set[str] = set()

        where = group.location or scope.spec.location

        def side(binding: ir.Binding) -> dict[str, Any]:
            src = self.sources.resolve(scope, binding, where)
            if src.kind == "literal":
                return {"value": src.value}
            if src.kind != "parameter" or src.gathered:
                raise CompileError(
                    f"pipeline {scope.spec.name!r}: block {group.id!r} compares a stored value or the "
                    "results of a map, which this backend cannot compare yet; compare a value made by a step",
                    BACKEND,
                    location=where,
                )
            deps.update(src.deps)
            operands.append(src)
            return {"ref": len(operands) - 1, "path": list(src.path)}

        def tree(node: ir.Condition) -> dict[str, Any]:
            if isinstance(node, ir.Compare):
                return {"kind": "compare", "op": node.op, "left": side(node.left), "right": side(node.right)}
            if isinstance(node, ir.Not):
                return {"kind": "not", "condition": tree(node.condition)}
            return {"kind": node.kind, "conditions": [tree(c) for c in node.conditions]}

        condition = tree(group.condition)
        gate, when = self._gate(scope, group.parent)
        return Call(
            scope.conditions[group.id],
            self._helper("condition"),
            deps | gate,
            when,
            [("condition", Literal(condition)), ("operands", Texts(tuple(o.ref for o in operands)))],
        )

    def _helper(self, kind: str) -> str:
        if kind not in self.helper_names:
            name = self.names.claim(f"mlopsdsl-{kind}")
            image = self.options.image or default_image()
            security = container_security(None, self.options.non_root)
            make = condition_template if kind == "condition" else items_template
            self.extra_templates.append(make(name, image, security))
            self.helper_names[kind] = name
        return self.helper_names[kind]

    # ------------------------------------------------------------------ tasks

    def _task(self, scope: Scope, task: ir.Task) -> Call:
        gate, when = self._gate(scope, task.group)
        # The template is named once the inputs' signature is known (a step's variant) or the callee lowered.
        call = Call(scope.names[task.id], "", {scope.names[a] for a in task.after} | gate, when)
        mapped = task.map.input if task.map is not None else None

        def argument(name: str, src: Source) -> str:
            """Pass ``src`` as input ``name``; how it arrives (the template's signature entry)."""
            call.depends.update(src.deps)
            if src.kind == "artifact":
                assert src.meta is not None
                call.artifacts.append((name, src.ref))
                call.parameters.append((name + META, src.meta))
                return "stored"
            if src.kind in ("collected", "element"):
                assert src.prefix is not None
                call.parameters.append((name + META, src.ref))
                key = WorkflowText(repository_key(self.options, src.prefix))
                call.parameters.append((name + "-key", key))
                return src.kind
            call.parameters.append((name, src.ref))
            return "gathered" if src.gathered else "json"

        if task.step is not None:
            step = self.steps[task.step]
            signature: list[tuple[str, str, tuple[str | int, ...]]] = []
            for param in step.inputs:
                binding = task.inputs.get(param.name)
                if isinstance(binding, ir.StatusBinding):
                    call.parameters.append((param.name, Status()))
                    signature.append((param.name, "status", ()))
                    continue
                if binding is None and stored_kind(param.type) is not None:
                    signature.append((param.name, "omit", ()))  # the function's own default applies
                    continue
                src = self.sources.argument(scope, task, param.name)
                if param.name == mapped:
                    self._loop(scope, task, src, call)
                    src = src.element()
                kind = argument(param.name, src)
                signature.append((param.name, kind, src.path))
            collect = None
            if mapped is not None and any(stored_kind(o.type) for o in step.outputs):
                collect = self.sources.prefix(scope, scope.names[task.id])
            call.template = self._step_template(step, tuple(signature), collect)
        else:
            assert task.pipeline is not None
            sub = self.specs[task.pipeline]
            call.template = self.pipeline(task.pipeline, scope.stack).name
            for param in sub.params:
                src = self.sources.argument(scope, task, param.name)
                if param.name == mapped:
                    self._loop(scope, task, src, call)
                    src = src.element()
                if src.path or src.gathered or src.kind == "collected":
                    raise CompileError(
                        f"task {task.id!r}: a field selection or the results of a map passed into "
                        f"sub-pipeline {sub.name!r} are not supported by this backend yet; pass them "
                        "through a step first",
                        BACKEND,
                        location=task.location,
                    )
                argument(param.name, src)
        if task.map is not None and task.map.max_parallel is not None:
            wrapper_name = self.names.claim(f"{scope.names[task.id]}-loop")
            outputs = self._loop_outputs(task)
            wrapped, wrapper = limit_parallelism(call, wrapper_name, task.map.max_parallel, outputs)
            self.extra_templates.append(wrapper)
            return wrapped
        return call

    def _loop_outputs(self, task: ir.Task) -> list[str]:
        """The parameters a loop's wrapper passes out: every output, as ``NAME-meta`` when stored."""
        if task.step is not None:
            outs = self.steps[task.step].outputs
            return [o.name + META if stored_kind(o.type) else o.name for o in outs]
        assert task.pipeline is not None
        return [o.name for o in self.specs[task.pipeline].outputs]

    def _loop(self, scope: Scope, task: ir.Task, src: Source, call: Call) -> None:
        """Make ``call`` run once per element of the list ``src`` (``withItems``, or ``withParam`` over a
        JSON list of each element's armored text)."""
        if src.kind == "literal":
            call.items = list(src.value)
            return
        if src.kind == "collected" and task.step is not None:
            # Another loop's stored results: iterate over their aggregated records, one per run.
            call.depends.update(src.deps)
            call.over = src.ref
            return
        if src.kind != "parameter":
            raise CompileError(
                f"task {task.id!r}: mapping over stored values is not supported by this backend yet; map "
                "over a list of values (such as indexes or names) and load inside the step",
                BACKEND,
                location=task.location,
            )
        call.depends.update(src.deps)
        if src.gathered and not src.path:
            call.over = src.ref  # another loop's results: already a list of texts
            return
        label = scope.labels.claim(f"{task.id}-items")
        gate, when = self._gate(scope, task.group)
        helper = Call(
            label,
            self._helper("items"),
            set(src.deps | gate),
            when,
            [("value", src.ref), ("path", Literal(list(src.path)))],
        )
        if src.gathered:
            raise CompileError(
                f"task {task.id!r}: a field of a map's results cannot be mapped over yet",
                BACKEND,
                location=task.location,
            )
        scope.helpers.append(helper)
        call.depends.add(label)
        call.over = TaskOutput(label, "items")

    def _step_template(self, step: ir.StepSpec, signature: Signature, collect: str | None = None) -> str:
        key = (step.name, signature, collect)
        if key not in self.step_templates:
            if step.name not in self.code:
                function = self.options.functions.get(function_name(step))
                self.code[step.name] = code_spec(step, self.options.code, function, BACKEND)
            name = self.names.claim(step.name)
            self.step_templates[key] = container_template(
                name,
                step,
                signature,
                self.code[step.name],
                self.options,
                collect,
                pod_of(self.doc, step),
                self.doc.root,
            )
        return str(self.step_templates[key]["name"])

    # ------------------------------------------------------------------ the exit handler

    def _exit_handler(self, root: ir.PipelineSpec, task: ir.Task) -> str:
        """A one-task DAG template for ``spec.onExit``: the step, with pipeline parameters read from the
        workflow's and ``{{workflow.status}}`` mapped to the IR's two words."""
        assert task.step is not None
        step = self.steps[task.step]
        call = Call(Names().claim(task.id), "")
        signature: list[tuple[str, str, tuple[str | int, ...]]] = []
        for param in step.inputs:
            binding = task.inputs.get(param.name)
            if isinstance(binding, ir.StatusBinding):
                call.parameters.append((param.name, Status()))
                signature.append((param.name, "status", ()))
            elif isinstance(binding, ir.ParameterBinding):
                call.parameters.append((param.name, WorkflowParameter(binding.name)))
                signature.append((param.name, "json", tuple(binding.path)))
            elif isinstance(binding, ir.ConstantBinding) or (binding is None and param.optional):
                value = binding.value if binding is not None else param.default
                if binding is None and stored_kind(param.type) is not None:
                    signature.append((param.name, "omit", ()))
                    continue
                call.parameters.append((param.name, Literal(value)))
                signature.append((param.name, "json", ()))
            else:
                raise CompileError(
                    f"pipeline {root.name!r}: the exit handler's input {param.name!r} must be the status, a "
                    "pipeline parameter or a constant",
                    BACKEND,
                    location=task.location or root.location,
                )
        name = self.names.claim(f"{root.name}-on-exit")
        call.template = self._step_template(step, tuple(signature))
        self.extra_templates.append({"name": name, "dag": {"tasks": [call.render()]}})
        return name

    # ------------------------------------------------------------------ the whole spec

    def spec(self) -> dict[str, Any]:
        root = self.doc.pipeline
        for param in root.params:
            if stored_kind(param.type) is not None:
                raise CompileError(
                    f"pipeline parameter {param.name!r} is a stored type ({param.type}); Argo workflows "
                    "take parameters by value only",
                    BACKEND,
                    location=param.location or root.location,
                )
        check_document(self.doc)
        for sub in self.doc.pipelines[1:]:
            if sub.on_exit is not None:
                raise CompileError(
                    f"sub-pipeline {sub.name!r}: only the root pipeline has an exit handler",
                    BACKEND,
                    location=sub.location,
                )
        self.pipeline(root.name)
        on_exit = self._exit_handler(root, root.on_exit) if root.on_exit is not None else None
        arguments = []
        for param in root.params:
            entry: dict[str, Any] = {"name": param.name}
            if param.optional:
                entry["value"] = armor(param.default)
            arguments.append(entry)
        # Kubernetes expands $(VAR) in env values: every $ doubled gives the launcher back unchanged.
        arguments.append({"name": LAUNCHER_PARAMETER, "value": k8s_literal(launcher(self.options.runtime))})
        if self.options.runtime == "bundle":
            uses_pickle = bundle_needs_cloudpickle(self.doc, self.options.code)
            arguments.append({"name": RUNTIME_PARAMETER, "value": runtime_bundle_text(uses_pickle)})
        spec: dict[str, Any] = {
            "entrypoint": self.dag_names[root.name],
            "arguments": {"parameters": arguments},
        }
        if on_exit is not None:
            spec["onExit"] = on_exit
        pod = root.pod
        account = self.options.service_account or (pod.service_account if pod is not None else None)
        if account:
            spec["serviceAccountName"] = account
        if self.options.non_root:
            spec["securityContext"] = DEFAULT_POD_SECURITY
        secrets = pull_secrets(self.doc)
        if secrets:
            spec["imagePullSecrets"] = secrets
        dags = [self.dag_templates[p.name] for p in self.doc.pipelines if p.name in self.dag_templates]
        spec["templates"] = [*dags, *self.extra_templates, *self.step_templates.values()]
        return spec

    def outputs_annotation(self) -> dict[str, Any]:
        """How each root output is found and decoded, for readers of a finished workflow (the emulator,
        ``submit --wait``): ``parameter``/``artifact`` (the entrypoint's output of that name, the
        artifact's record in ``NAME-meta``), ``collected`` (records in ``NAME-meta``, files under
        ``prefix``), ``literal`` (``value``) or ``workflow-parameter`` (``name``); with ``path`` (fields to
        select) and ``gathered`` (a loop's aggregate: a JSON list of each run's JSON text)."""
        root = self.doc.pipeline
        out: dict[str, Any] = {}
        for name, src in self.dags[root.name].outputs.items():
            entry: dict[str, Any] = {"kind": src.kind}
            if src.kind == "literal":
                entry["value"] = src.value
            elif isinstance(src.ref, Input) and not src.ref.artifact:
                entry = {"kind": "workflow-parameter", "name": src.ref.name}
            if src.path and src.kind != "literal":
                entry["path"] = list(src.path)
            if src.gathered:
                entry["gathered"] = True
            if src.prefix is not None:
                entry["prefix"] = repository_key(self.options, src.prefix)
            out[name] = entry
        return out


def lower(document: ir.Document, options: CompileOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Argo ``WorkflowSpec`` of ``document``, and how to read its outputs (see
    :meth:`Lowering.outputs_annotation`)."""
    lowering = Lowering(document, options)
    spec = lowering.spec()
    return spec, lowering.outputs_annotation()
