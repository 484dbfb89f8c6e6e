"""Lowering the IR to an Argo ``WorkflowSpec``: a DAG template per pipeline, a container template per step.

Each pipeline (the root and every sub-pipeline) becomes a DAG template whose tasks call container
templates (steps) or other DAG templates (sub-pipelines), ordered by ``depends``. Values flow as Argo
parameters holding armored JSON (:mod:`mlopsdsl_argo._values`) and, for ``object`` and ``artifact`` types,
as Argo artifacts through the artifact repository together with a ``NAME-meta`` parameter carrying the
producer's output record (digest, serialiser, metadata). Literals (defaults, constants) are written
armored, so no user text is ever expanded.

A binding is resolved to a :class:`Source` in the scope of its DAG. Control flow (see ``docs/argo.md``):

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

from dataclasses import dataclass, field, replace
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError
from mlopsdsl_argo._code import RUNTIME_PARAMETER, code_spec, runtime_bundle
from mlopsdsl_argo._helpers import condition_template, items_template
from mlopsdsl_argo._launch import META, stored_kind
from mlopsdsl_argo._loops import limit_parallelism
from mlopsdsl_argo._naming import Names
from mlopsdsl_argo._options import BACKEND, CompileOptions, default_image
from mlopsdsl_argo._templates import CONTAINER_SECURITY, Signature, container_template, repository_key
from mlopsdsl_argo._values import armor

__all__ = ["Source", "lower"]

POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
STATUS = "{{=workflow.status == 'Succeeded' ? 'Succeeded' : 'Failed'}}"
"""The exit handler's status: Argo's ``Failed`` and ``Error`` are both the IR's ``"Failed"``."""


@dataclass(frozen=True)
class Source:
    """Where a value comes from, in the scope of one DAG template."""

    kind: str
    """``literal`` (armored JSON), ``parameter``, ``artifact`` (a stored value), ``collected`` (the
    stored outputs of a loop), or ``element`` (one of them, for a map over them: ``text`` is ``{{item}}``,
    one run's record)."""
    text: str
    """The armored literal, or the reference (``{{...}}``; ``{{=...}}`` for an expression). For
    ``collected``: the reference to the aggregated records."""
    path: tuple[str | int, ...] = ()
    deps: frozenset[str] = field(default_factory=frozenset)
    """``depends`` terms: task names, or ``(a.Succeeded || b.Succeeded)`` for ``ml.one_of``."""
    meta: str | None = None
    """For ``artifact``: the reference to the producer's output record."""
    gathered: bool = False
    """For ``parameter``: a loop's aggregate, a JSON list of each run's armored text."""
    prefix: str | None = None
    """For ``collected``: the repository key prefix (under the workflow's folder) the runs uploaded to."""
    expr: str | None = None
    """For ``ml.one_of``: the bare expression (``text`` is ``{{=expr}}``); ``meta_expr`` likewise."""
    meta_expr: str | None = None


@dataclass
class _Dag:
    """A lowered pipeline: its template name and its outputs as sources in its own scope."""

    name: str
    outputs: dict[str, Source]


@dataclass
class _Scope:
    """One pipeline being lowered: its spec, task labels, groups, and the helper tasks it needs."""

    spec: ir.PipelineSpec
    labels: Names
    names: dict[str, str]
    stack: tuple[str, ...]
    groups: dict[str, ir.Group] = field(default_factory=dict)
    conditions: dict[str, str] = field(default_factory=dict)
    """Label of the condition task of each ``when`` group."""
    helpers: list[dict[str, Any]] = field(default_factory=list)


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
        self.extra_templates: list[dict[str, Any]] = []
        self.step_templates: dict[tuple[str, Signature, str | None], dict[str, Any]] = {}
        self.helper_names: dict[str, str] = {}
        self.code: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ pipelines

    def pipeline(self, name: str, stack: tuple[str, ...] = ()) -> _Dag:
        if name in self.dags:
            return self.dags[name]
        if name in stack:
            raise CompileError(f"pipeline {name!r} calls itself", BACKEND, location=self.specs[name].location)
        spec = self.specs[name]
        labels = Names()
        scope = _Scope(spec, labels, {t.id: labels.claim(t.id) for t in spec.tasks}, (*stack, name))
        scope.groups = {g.id: g for g in spec.groups}
        for group in spec.groups:
            if group.kind == "when":
                scope.conditions[group.id] = labels.claim(group.id)
        conditions = [self._condition_task(scope, g) for g in spec.groups if g.kind == "when"]
        tasks = [self._task(scope, t) for t in spec.tasks]
        outputs = {o.name: self._resolve(scope, o.source, o.location or spec.location) for o in spec.outputs}
        template: dict[str, Any] = {"name": self.dag_names[name]}
        inputs = self._dag_inputs(spec)
        if inputs:
            template["inputs"] = inputs
        declared = self._dag_outputs(outputs)
        if declared:
            template["outputs"] = declared
        template["dag"] = {"tasks": [*conditions, *scope.helpers, *tasks]}
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

        def param(name: str, text: str, expr: str | None) -> None:
            value = {"expression": expr} if expr is not None else {"parameter": text}
            params.append({"name": name, "valueFrom": value})

        for name, src in outputs.items():
            if not (src.text.startswith("{{tasks.") or src.expr is not None):
                continue  # a constant or a parameter passed through: resolved statically by whoever uses it
            if src.kind == "artifact":
                artifacts.append(
                    {"name": name, "fromExpression": src.expr}
                    if src.expr
                    else {"name": name, "from": src.text}
                )
                param(name + META, src.meta or "", src.meta_expr)
            elif src.kind == "collected":
                param(name + META, src.text, None)
            else:
                param(name, src.text, src.expr)
        declared: dict[str, Any] = {}
        if params:
            declared["parameters"] = params
        if artifacts:
            declared["artifacts"] = artifacts
        return declared

    # ------------------------------------------------------------------ bindings

    def _resolve(self, scope: _Scope, binding: ir.Binding, where: ir.SourceLocation | None) -> Source:
        """``binding`` as a source in ``scope``; ``where`` is the user's line that uses it."""
        spec = scope.spec
        if isinstance(binding, ir.ConstantBinding):
            return Source("literal", armor(binding.value))
        if isinstance(binding, ir.ParameterBinding):
            param = next(p for p in spec.params if p.name == binding.name)
            path = tuple(binding.path)
            if stored_kind(param.type) is not None:
                meta = f"{{{{inputs.parameters.{binding.name}{META}}}}}"
                return Source("artifact", f"{{{{inputs.artifacts.{binding.name}}}}}", path, meta=meta)
            return Source("parameter", f"{{{{inputs.parameters.{binding.name}}}}}", path)
        if isinstance(binding, ir.OneOfBinding):
            return self._one_of(scope, binding, where)
        if isinstance(binding, ir.StatusBinding):
            raise CompileError(
                f"pipeline {spec.name!r}: only the exit handler gets the status", BACKEND, location=where
            )
        # Written lists and dicts were made into gather tasks by mlopsdsl.lowering.desugar.
        assert isinstance(binding, ir.TaskOutputBinding), binding
        return self._task_output(scope, binding, where)

    def _task_output(
        self, scope: _Scope, binding: ir.TaskOutputBinding, where: ir.SourceLocation | None
    ) -> Source:
        spec = scope.spec
        producer = self.task_index[spec.name][binding.task]
        label = scope.names[binding.task]
        deps = frozenset({label})
        path = tuple(binding.path)
        mapped = producer.map is not None
        if producer.step is not None:
            out = next(o for o in self.steps[producer.step].outputs if o.name == binding.output)
            if stored_kind(out.type) is not None:
                meta = f"{{{{tasks.{label}.outputs.parameters.{out.name}{META}}}}}"
                if mapped:
                    prefix = f"{self._prefix(scope, label)}/{out.name}"
                    return Source("collected", meta, path, deps=deps, prefix=prefix)
                return Source(
                    "artifact", f"{{{{tasks.{label}.outputs.artifacts.{out.name}}}}}", path, deps, meta
                )
            ref = f"{{{{tasks.{label}.outputs.parameters.{out.name}}}}}"
            return Source("parameter", ref, path, deps, gathered=mapped)
        assert producer.pipeline is not None
        inner = self.pipeline(producer.pipeline, scope.stack).outputs[binding.output]
        if mapped and (inner.kind != "parameter" or inner.gathered or not inner.text.startswith("{{tasks.")):
            raise CompileError(
                f"pipeline {spec.name!r}: output {binding.output!r} of mapped sub-pipeline "
                f"{producer.pipeline!r} is {'stored' if inner.kind != 'parameter' else 'not made by a step'}"
                "; this backend collects only values made by a step inside a mapped sub-pipeline yet",
                BACKEND,
                location=producer.location or where,
            )
        if inner.kind == "literal":
            return Source("literal", inner.text, inner.path + path, deps)
        if inner.text.startswith("{{inputs."):
            # The sub-pipeline passes one of its parameters straight through: use what we gave it.
            pname = inner.text.split(".")[2].rstrip("}")
            given = self._argument(scope, producer, pname)
            return replace(given, path=given.path + inner.path + path, deps=given.deps | deps)
        if inner.kind == "collected":
            meta = f"{{{{tasks.{label}.outputs.parameters.{binding.output}{META}}}}}"
            return Source("collected", meta, deps=deps, prefix=inner.prefix)
        if inner.kind == "artifact":
            meta = f"{{{{tasks.{label}.outputs.parameters.{binding.output}{META}}}}}"
            ref = f"{{{{tasks.{label}.outputs.artifacts.{binding.output}}}}}"
            return Source("artifact", ref, inner.path + path, deps, meta)
        ref = f"{{{{tasks.{label}.outputs.parameters.{binding.output}}}}}"
        return Source("parameter", ref, inner.path + path, deps, gathered=inner.gathered or mapped)

    def _prefix(self, scope: _Scope, label: str) -> str:
        """The key prefix of a loop's stored outputs: unique per DAG template and task. Instances of one
        sub-pipeline share it; each consumer reads only the files its records name."""
        return f"{self.dag_names[scope.spec.name]}/{label}"

    def _one_of(self, scope: _Scope, binding: ir.OneOfBinding, where: ir.SourceLocation | None) -> Source:
        sources = [self._task_output(scope, s, where) for s in binding.sources]
        labels = [scope.names[s.task] for s in binding.sources]
        first = sources[0]
        if any(s.kind not in ("parameter", "artifact") or s.gathered for s in sources) or any(
            (s.kind, s.path) != (first.kind, first.path) or not s.text.startswith("{{tasks.") for s in sources
        ):
            raise CompileError(
                f"pipeline {scope.spec.name!r}: ml.one_of over "
                + ", ".join(s.task for s in binding.sources)
                + " needs step outputs of one kind with the same field selection on this backend",
                BACKEND,
                location=where,
            )

        def choose(refs: list[str]) -> str:
            expr = refs[-1]
            for label, ref in zip(reversed(labels[:-1]), reversed(refs[:-1]), strict=True):
                expr = f"tasks['{label}'].status == 'Succeeded' ? {ref} : {expr}"
            return expr

        def bare(text: str, label: str) -> str:
            return f"tasks['{label}']." + text.strip("{}").split(".", 2)[2]

        expr = choose([bare(s.text, lab) for s, lab in zip(sources, labels, strict=True)])
        deps = frozenset({"(" + " || ".join(f"{lab}.Succeeded" for lab in labels) + ")"})
        if first.kind == "artifact":
            meta_expr = choose([bare(s.meta or "", lab) for s, lab in zip(sources, labels, strict=True)])
            return Source(
                "artifact",
                f"{{{{={expr}}}}}",
                first.path,
                deps,
                f"{{{{={meta_expr}}}}}",
                expr=expr,
                meta_expr=meta_expr,
            )
        return Source("parameter", f"{{{{={expr}}}}}", first.path, deps, expr=expr)

    def _argument(self, scope: _Scope, task: ir.Task, name: str) -> Source:
        """The source of input ``name`` of ``task``: its binding, or the callee's default."""
        binding = task.inputs.get(name)
        if binding is not None:
            return self._resolve(scope, binding, task.location)
        callee = self.specs[task.pipeline].params if task.pipeline else self.steps[task.callee].inputs
        param = next(p for p in callee if p.name == name)
        return Source("literal", armor(param.default))

    # ------------------------------------------------------------------ conditions

    def _gate(self, scope: _Scope, group: str | None) -> tuple[set[str], str | None]:
        """The ``depends`` terms and ``when`` that run a task only inside block ``group``."""
        if group is None:
            return set(), None
        block = scope.groups[group]
        when_id = block.id if block.kind == "when" else (block.else_of or block.id)
        label = scope.conditions[when_id]
        word = "true" if block.kind == "when" else "false"
        return {f"{label}.Succeeded"}, "{{tasks." + label + ".outputs.parameters.holds}} == " + word

    def _condition_task(self, scope: _Scope, group: ir.Group) -> dict[str, Any]:
        operands: list[str] = []
        deps: set[str] = set()

        where = group.location or scope.spec.location

        def side(binding: ir.Binding) -> dict[str, Any]:
            src = self._resolve(scope, binding, where)
            if src.kind == "literal":
                return {"value": _select_literal(src.text, src.path)}
            if src.kind != "parameter" or src.gathered:
                raise CompileError(
                    f"pipeline {scope.spec.name!r}: block {group.id!r} compares a stored value or the "
                    "results of a map, which this backend cannot compare yet; compare a value made by a step",
                    BACKEND,
                    location=where,
                )
            deps.update(src.deps)
            operands.append(src.text)
            return {"ref": len(operands) - 1, "path": list(src.path)}

        def tree(node: ir.Condition) -> dict[str, Any]:
            if isinstance(node, ir.Compare):
                return {"kind": "compare", "op": node.op, "left": side(node.left), "right": side(node.right)}
            if isinstance(node, ir.Not):
                return {"kind": "not", "condition": tree(node.condition)}
            return {"kind": node.kind, "conditions": [tree(c) for c in node.conditions]}

        condition = tree(group.condition)
        gate, when = self._gate(scope, group.parent)
        task: dict[str, Any] = {"name": scope.conditions[group.id], "template": self._helper("condition")}
        if deps | gate:
            task["depends"] = " && ".join(sorted(deps | gate))
        if when is not None:
            task["when"] = when
        task["arguments"] = {
            "parameters": [
                {"name": "condition", "value": armor(condition)},
                {"name": "operands", "value": "[" + ",".join(operands) + "]"},
            ]
        }
        return task

    def _helper(self, kind: str) -> str:
        if kind not in self.helper_names:
            name = self.names.claim(f"mlopsdsl-{kind}")
            image = self.options.image or default_image()
            security = CONTAINER_SECURITY if self.options.non_root else None
            make = condition_template if kind == "condition" else items_template
            self.extra_templates.append(make(name, image, security))
            self.helper_names[kind] = name
        return self.helper_names[kind]

    # ------------------------------------------------------------------ tasks

    def _task(self, scope: _Scope, task: ir.Task) -> dict[str, Any]:
        params: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        gate, when = self._gate(scope, task.group)
        deps: set[str] = {scope.names[a] for a in task.after} | gate
        loop: dict[str, Any] = {}
        mapped = task.map.input if task.map is not None else None

        def argument(name: str, src: Source) -> str:
            """Pass ``src`` as input ``name``; how it arrives (the template's signature entry)."""
            deps.update(src.deps)
            if src.kind == "artifact":
                ref = {"fromExpression": src.expr} if src.expr else {"from": src.text}
                artifacts.append({"name": name, **ref})
                params.append({"name": name + META, "value": src.meta or ""})
                return "stored"
            if src.kind in ("collected", "element"):
                assert src.prefix is not None
                params.append({"name": name + META, "value": src.text})
                params.append({"name": name + "-key", "value": repository_key(self.options, src.prefix)})
                return src.kind
            params.append({"name": name, "value": src.text})
            return "gathered" if src.gathered else "json"

        if task.step is not None:
            step = self.steps[task.step]
            signature: list[tuple[str, str, tuple[str | int, ...]]] = []
            for param in step.inputs:
                binding = task.inputs.get(param.name)
                if isinstance(binding, ir.StatusBinding):
                    params.append({"name": param.name, "value": STATUS})
                    signature.append((param.name, "status", ()))
                    continue
                if binding is None and stored_kind(param.type) is not None:
                    signature.append((param.name, "omit", ()))  # the function's own default applies
                    continue
                src = self._argument(scope, task, param.name)
                if param.name == mapped:
                    loop = self._loop(scope, task, src, deps)
                    if src.kind == "collected":  # one of another loop's stored results per run
                        src = Source("element", "{{item}}", src.path, prefix=src.prefix)
                    else:
                        src = Source("parameter", "{{item}}")
                kind = argument(param.name, src)
                signature.append((param.name, kind, src.path))
            collect = None
            if mapped is not None and any(stored_kind(o.type) for o in step.outputs):
                collect = self._prefix(scope, scope.names[task.id])
            template = self._step_template(step, tuple(signature), collect)
        else:
            assert task.pipeline is not None
            sub = self.specs[task.pipeline]
            template = self.pipeline(task.pipeline, scope.stack).name
            for param in sub.params:
                src = self._argument(scope, task, param.name)
                if param.name == mapped:
                    loop = self._loop(scope, task, src, deps)
                    src = Source("parameter", "{{item}}")
                if src.path or src.gathered or src.kind == "collected":
                    raise CompileError(
                        f"task {task.id!r}: a field selection or the results of a map passed into "
                        f"sub-pipeline {sub.name!r} are not supported by this backend yet; pass them "
                        "through a step first",
                        BACKEND,
                        location=task.location,
                    )
                argument(param.name, src)
        out: dict[str, Any] = {"name": scope.names[task.id], "template": template}
        if deps:
            out["depends"] = " && ".join(sorted(deps))
        if when is not None:
            out["when"] = when
        arguments: dict[str, Any] = {}
        if params:
            arguments["parameters"] = params
        if artifacts:
            arguments["artifacts"] = artifacts
        if arguments:
            out["arguments"] = arguments
        out.update(loop)
        if task.map is not None and task.map.max_parallel is not None:
            wrapper_name = self.names.claim(f"{scope.names[task.id]}-loop")
            outputs = self._loop_outputs(task)
            wrapped, wrapper = limit_parallelism(out, wrapper_name, task.map.max_parallel, outputs)
            self.extra_templates.append(wrapper)
            return wrapped
        return out

    def _loop_outputs(self, task: ir.Task) -> list[str]:
        """The parameters a loop's wrapper passes out: every output, as ``NAME-meta`` when stored."""
        if task.step is not None:
            outs = self.steps[task.step].outputs
            return [o.name + META if stored_kind(o.type) else o.name for o in outs]
        assert task.pipeline is not None
        return [o.name for o in self.specs[task.pipeline].outputs]

    def _loop(self, scope: _Scope, task: ir.Task, src: Source, deps: set[str]) -> dict[str, Any]:
        """``withItems`` or ``withParam`` for the list ``src`` (each element as armored JSON text)."""
        if src.kind == "literal":
            value = _select_literal(src.text, src.path)
            return {"withItems": [armor(v) for v in value]}
        if src.kind == "collected" and task.step is not None:
            # Another loop's stored results: iterate over their aggregated records, one per run.
            deps.update(src.deps)
            return {"withParam": src.text}
        if src.kind != "parameter":
            raise CompileError(
                f"task {task.id!r}: mapping over stored values is not supported by this backend yet; map "
                "over a list of values (such as indexes or names) and load inside the step",
                BACKEND,
                location=task.location,
            )
        deps.update(src.deps)
        if src.gathered and not src.path:
            return {"withParam": src.text}  # another loop's results: already a list of texts
        label = scope.labels.claim(f"{task.id}-items")
        helper: dict[str, Any] = {"name": label, "template": self._helper("items")}
        gate, when = self._gate(scope, task.group)
        if src.deps | gate:
            helper["depends"] = " && ".join(sorted(src.deps | gate))
        if when is not None:
            helper["when"] = when
        helper["arguments"] = {
            "parameters": [
                {"name": "value", "value": src.text},
                {"name": "path", "value": armor(list(src.path))},
            ]
        }
        if src.gathered:
            raise CompileError(
                f"task {task.id!r}: a field of a map's results cannot be mapped over yet",
                BACKEND,
                location=task.location,
            )
        scope.helpers.append(helper)
        deps.add(label)
        return {"withParam": f"{{{{tasks.{label}.outputs.parameters.items}}}}"}

    def _step_template(self, step: ir.StepSpec, signature: Signature, collect: str | None = None) -> str:
        key = (step.name, signature, collect)
        if key not in self.step_templates:
            if step.name not in self.code:
                self.code[step.name] = code_spec(step, self.options.code, self.options.functions)
            name = self.names.claim(step.name)
            self.step_templates[key] = container_template(
                name, step, signature, self.code[step.name], self.options, collect
            )
        return str(self.step_templates[key]["name"])

    # ------------------------------------------------------------------ the exit handler

    def _exit_handler(self, root: ir.PipelineSpec, task: ir.Task) -> str:
        """A one-task DAG template for ``spec.onExit``: the step, with pipeline parameters read from the
        workflow's and ``{{workflow.status}}`` mapped to the IR's two words."""
        assert task.step is not None
        step = self.steps[task.step]
        params: list[dict[str, Any]] = []
        signature: list[tuple[str, str, tuple[str | int, ...]]] = []
        for param in step.inputs:
            binding = task.inputs.get(param.name)
            if isinstance(binding, ir.StatusBinding):
                params.append({"name": param.name, "value": STATUS})
                signature.append((param.name, "status", ()))
            elif isinstance(binding, ir.ParameterBinding):
                params.append({"name": param.name, "value": f"{{{{workflow.parameters.{binding.name}}}}}"})
                signature.append((param.name, "json", tuple(binding.path)))
            elif isinstance(binding, ir.ConstantBinding) or (binding is None and param.optional):
                value = binding.value if binding is not None else param.default
                if binding is None and stored_kind(param.type) is not None:
                    signature.append((param.name, "omit", ()))
                    continue
                params.append({"name": param.name, "value": armor(value)})
                signature.append((param.name, "json", ()))
            else:
                raise CompileError(
                    f"pipeline {root.name!r}: the exit handler's input {param.name!r} must be the status, a "
                    "pipeline parameter or a constant",
                    BACKEND,
                    location=task.location or root.location,
                )
        name = self.names.claim(f"{root.name}-on-exit")
        call: dict[str, Any] = {
            "name": Names().claim(task.id),
            "template": self._step_template(step, tuple(signature)),
        }
        if params:
            call["arguments"] = {"parameters": params}
        self.extra_templates.append({"name": name, "dag": {"tasks": [call]}})
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
        uses_pickle = self.options.code == "value" or any(
            stored_kind(o.type) == "object" for s in self.doc.steps for o in s.outputs
        )
        arguments.append({"name": RUNTIME_PARAMETER, "value": runtime_bundle(uses_pickle)})
        spec: dict[str, Any] = {
            "entrypoint": self.dag_names[root.name],
            "arguments": {"parameters": arguments},
        }
        if on_exit is not None:
            spec["onExit"] = on_exit
        if self.options.service_account:
            spec["serviceAccountName"] = self.options.service_account
        if self.options.non_root:
            spec["securityContext"] = POD_SECURITY
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
                entry["value"] = _select_literal(src.text, src.path)
            elif src.text.startswith("{{inputs.parameters."):
                entry = {"kind": "workflow-parameter", "name": src.text[len("{{inputs.parameters.") : -2]}
            if src.path and src.kind != "literal":
                entry["path"] = list(src.path)
            if src.gathered:
                entry["gathered"] = True
            if src.prefix is not None:
                entry["prefix"] = repository_key(self.options, src.prefix)
            out[name] = entry
        return out


def _select_literal(text: str, path: tuple[str | int, ...]) -> Any:
    import json

    value = json.loads(text)
    for part in path:
        value = value[part]
    return value


def lower(document: ir.Document, options: CompileOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Argo ``WorkflowSpec`` of ``document``, and how to read its outputs (see
    :meth:`Lowering.outputs_annotation`)."""
    lowering = Lowering(document, options)
    spec = lowering.spec()
    return spec, lowering.outputs_annotation()
