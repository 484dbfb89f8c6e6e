"""Desugaring: the IR rewritten into the constructs every engine renders the same way.

Some things users write have no direct form on a Kubernetes engine: a list of step outputs passed as one
input (``total(xs=[a, b, c])``), or a condition on a stored value (an object or an artifact, which an
engine's expression language cannot read). Rather than each backend inventing its own way (or refusing),
this pass rewrites them once, in IR terms, into tasks of built-in steps (:mod:`mlopsdsl.runtime.builtins`)
that run through the same step runtime as user steps:

* a written list or dict of bindings becomes a ``gather`` task in the consumer's block, whose one output is
  the value the consumer expects;
* a block whose condition reads a stored value, or a value no engine compares (a list, a dict, a
  dataclass), becomes a ``decide`` task in the block's parent, and the block's condition becomes
  ``decide == True`` (``otherwise``: its negation), a plain comparison of a ``bool`` every engine renders;
* a tolerant map (``step.map(..., min_success=...)``) becomes an ordinary map of the step run in tolerant
  mode (it gains the output :data:`~mlopsdsl.lowering._maps.OUTCOME`, and its call spec a ``tolerant``
  section, :func:`~mlopsdsl.lowering._maps.tolerant_section`: its last failed attempt reports the error
  and writes placeholders instead of failing), named ``<task>-elements``, and a ``settle`` task that takes
  the map's task id, so that every reader of the map's results reads it unchanged: it applies
  :func:`~mlopsdsl.lowering._maps.verdict` to the elements' outcomes (failing with its message) and
  outputs each collected list without the failed elements. The step keeps its name when every call of
  it is a tolerant map; otherwise the tolerant one is a copy named ``<step>-tolerant``. Maps of
  sub-pipelines and of steps with stored outputs are left as they are: backends that desugar declare
  them as gaps (:class:`~mlopsdsl.lowering.Capabilities`);
* a parameter of the root pipeline typed as an artifact (``data: ml.Dataset``) becomes a ``str`` parameter
  (the URI of an existing artifact) read by an ``import_artifact`` task at the top of the pipeline, and
  every binding of the parameter reads that task's output instead: the bytes are read once, stored and
  digested as any task output, and the task (with its URI) is in the run's lineage. An optional one
  (``data: ml.Dataset | None = None``) becomes a ``str | None`` parameter; left out, its import task
  outputs "no artifact", which every step reading it receives as ``None``. A sub-pipeline's artifact
  parameter needs none of this: its caller binds it to an artifact a task made.

The result is an ordinary, valid IR document; a backend compiles it like any other. The local runner needs
none of it (it reads the values itself), and runs the same meaning: conformance proves both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from mlopsdsl import ir
from mlopsdsl._types import is_artifact_parameter

__all__ = ["BUILTINS", "desugar", "is_builtin"]

BUILTINS = "mlopsdsl.runtime.builtins"
"""The module of the built-in steps; backends ship it by import (it is in the runtime bundle)."""

_SCALARS = ("str", "int", "float", "bool", "null", "enum")


def is_builtin(step: ir.StepSpec) -> bool:
    """True for a step this pass added: imported from the runtime, never shipped by value."""
    return step.code.module == BUILTINS


def desugar(document: ir.Document, gather: bool = True, settle: bool = True) -> ir.Document:
    """``document`` with gathers, tolerant maps and conditions on stored values turned into built-in tasks.

    Documents that need none of it come back unchanged (the same object), so their output does not move.
    ``gather=False`` leaves written lists and dicts of bindings as they are, and ``settle=False`` tolerant
    maps, for a consumer that handles them itself (the local runner); conditions that read stored values
    are decided by a task everywhere.
    """
    rewriter = _Rewriter(document)
    rewriter.gather = gather
    if settle:
        rewriter.plan_tolerant()
    pipelines = [
        rewriter.pipeline(rewriter.imports(p) if p.name == document.root else p) for p in document.pipelines
    ]
    if not rewriter.added:
        return document
    steps = sorted(
        [rewriter.replaced.get(s.name, s) for s in document.steps] + list(rewriter.added.values()),
        key=lambda s: s.name,
    )
    return dataclasses.replace(document, pipelines=pipelines, steps=steps).with_digests()


class _Rewriter:
    def __init__(self, document: ir.Document) -> None:
        self.doc = document
        self.steps = {s.name: s for s in document.steps}
        self.pipelines = {p.name: p for p in document.pipelines}
        self.added: dict[str, ir.StepSpec] = {}
        self.gather = True
        self.taken: set[str] = set()
        self.tolerant: dict[str, str] = {}
        """Steps called by a tolerant map: the name of their tolerant form."""
        self.replaced: dict[str, ir.StepSpec] = {}
        """Steps turned tolerant in place (every call of them is a tolerant map)."""

    # ------------------------------------------------------------------ types

    def output_type(self, pipeline: ir.PipelineSpec, binding: ir.Binding, whole: bool = False) -> ir.TypeSpec:
        """The type a (non-collection) binding delivers (``whole``: before its fields are selected);
        ``json`` when it cannot be told."""
        found: ir.TypeSpec | None = None
        path: list[str | int] = [] if whole else list(getattr(binding, "path", []))
        if isinstance(binding, ir.ParameterBinding):
            param = next((p for p in pipeline.params if p.name == binding.name), None)
            found = param.type.at(path) if param else None
        elif isinstance(binding, ir.TaskOutputBinding):
            task = pipeline.task(binding.task)
            step = self.steps.get(task.step) or self.added.get(task.step) if task.step else None
            outputs = step.outputs if step else self.pipelines[task.callee].outputs
            base = next((o.type for o in outputs if o.name == binding.output), None)
            if base is not None and task.map is not None:
                base = ir.TypeSpec(kind="list", items=base)
            found = base.at(path) if base else None
        elif isinstance(binding, ir.OneOfBinding) and binding.sources:
            return self.output_type(pipeline, binding.sources[0], whole)
        elif isinstance(binding, ir.StatusBinding):
            return ir.TypeSpec(kind="str")
        return found or ir.TypeSpec(kind="json")

    # ------------------------------------------------------------------ importers

    def imports(self, spec: ir.PipelineSpec) -> ir.PipelineSpec:
        """``spec`` with its artifact parameters read by ``import_artifact`` tasks (itself without any)."""
        imported = [p for p in spec.params if is_artifact_parameter(p.type)]
        if not imported:
            return spec
        self.taken = {t.id for t in spec.tasks} | ({spec.on_exit.id} if spec.on_exit else set())
        text = ir.TypeSpec(kind="str")
        maybe = ir.TypeSpec(kind="optional", items=text)
        made: dict[str, str] = {}
        uris: dict[str, ir.TypeSpec] = {}
        tasks: list[ir.Task] = []
        for param in imported:
            uris[param.name] = uri = maybe if param.type.kind == "optional" else text
            params = [ir.Param(name="uri", type=uri), ir.Param(name="parameter", type=text),
                      ir.Param(name="kind", type=text)]  # fmt: skip
            # Never cached: the bytes behind a URI may change between runs. What reads the import is keyed
            # on the digest of the bytes it got, so it is cached as ever.
            step = self._builtin("import", "import_artifact", params, param.type, cache=False)
            task = ir.Task(
                id=self._fresh(f"import-{param.name}".replace("_", "-")),
                step=step,
                inputs={
                    "uri": ir.ParameterBinding(name=param.name),
                    "parameter": ir.ConstantBinding(value=param.name),
                    "kind": ir.ConstantBinding(value=(param.type.items or param.type).name or "Artifact"),
                },
                location=param.location,
            )
            made[param.name] = task.id
            tasks.append(task)
        new: ir.PipelineSpec = _read_imports(dataclasses.replace(spec, params=[]), made)
        params_ = [dataclasses.replace(p, type=uris[p.name]) if p.name in made else p for p in spec.params]
        return dataclasses.replace(new, params=params_, tasks=[*tasks, *new.tasks])

    # ------------------------------------------------------------------ tolerant maps

    def plan_tolerant(self) -> None:
        """Give each step a tolerant map calls its tolerant form: itself, when no other call needs it
        strict; else a copy (the copy's function is the same, found by its ``CodeRef``)."""
        strict: set[str] = set()
        for pipeline in self.doc.pipelines:
            for task in [*pipeline.tasks, *([pipeline.on_exit] if pipeline.on_exit else [])]:
                if task.step is None:
                    continue
                if _settles(task, self.steps[task.step]):
                    self.tolerant.setdefault(task.step, task.step)
                else:
                    strict.add(task.step)
        from mlopsdsl.lowering._maps import OUTCOME, TOLERANT_COPY

        for name in sorted(self.tolerant):
            step = self.steps[name]
            made = dataclasses.replace(
                step, outputs=[*step.outputs, ir.Output(name=OUTCOME, type=ir.TypeSpec(kind="str"))]
            )
            if name in strict:
                made = dataclasses.replace(made, name=name + TOLERANT_COPY)
                self.tolerant[name] = made.name
            made = dataclasses.replace(made, digest=ir.step_digest(made))
            if name in strict:
                self.added[made.name] = made
            else:
                self.replaced[name] = made
                self.steps[name] = made  # what this pass reads of it (output types) stays the same

    def _settle(self, task: ir.Task, into: list[ir.Task]) -> None:
        """Add the elements task and the ``settle`` task (``task``'s id) of a tolerant map to ``into``."""
        from mlopsdsl.lowering._maps import OUTCOME

        assert task.step is not None and task.map is not None and task.map.min_success is not None
        step = self.steps[task.step]
        outputs = [o for o in step.outputs if o.name != OUTCOME]
        elements = dataclasses.replace(
            task,
            id=self._fresh(f"{task.id}-elements"),
            step=self.tolerant[task.step],
            map=dataclasses.replace(task.map, min_success=None),
        )
        text, strings = ir.TypeSpec(kind="str"), ir.TypeSpec(kind="list", items=ir.TypeSpec(kind="str"))
        fraction = ir.TypeSpec(kind="float")
        params = [ir.Param(name="task", type=text), ir.Param(name="min_success", type=fraction),
                  ir.Param(name="returns", type=text), ir.Param(name="outcomes", type=strings)]  # fmt: skip
        inputs: dict[str, ir.Binding] = {
            "task": ir.ConstantBinding(value=task.id),
            "min_success": ir.ConstantBinding(value=task.map.min_success),
            "returns": ir.ConstantBinding(value=step.returns.kind),
            "outcomes": ir.TaskOutputBinding(task=elements.id, output=OUTCOME),
        }
        lists = [ir.Output(name=o.name, type=ir.TypeSpec(kind="list", items=o.type)) for o in outputs]
        for n, out in enumerate(lists):
            params.append(ir.Param(name=f"value_{n}", type=out.type))
            inputs[f"value_{n}"] = ir.TaskOutputBinding(task=elements.id, output=out.name)
        name = self._builtin("settle", "settle", params, lists, step.returns.kind)
        settle = ir.Task(id=task.id, step=name, inputs=inputs, group=task.group, location=task.location)
        into += [elements, settle]

    # ------------------------------------------------------------------ pipelines

    def pipeline(self, spec: ir.PipelineSpec) -> ir.PipelineSpec:
        self.taken = {t.id for t in spec.tasks} | ({spec.on_exit.id} if spec.on_exit else set())
        if any(t.step in self.tolerant and _settles(t, self.steps[t.step]) for t in spec.tasks):
            settled: list[ir.Task] = []
            for task in spec.tasks:
                if task.step in self.tolerant and _settles(task, self.steps[task.step]):
                    self._settle(task, settled)
                else:
                    settled.append(task)
            spec = dataclasses.replace(spec, tasks=settled)
        tasks: list[ir.Task] = []
        groups = {g.id: g for g in spec.groups}
        decided: dict[str, ir.Condition] = {}
        for group in spec.groups:  # decide tasks come before the tasks of their block
            if group.kind == "when" and self._needs_decide(spec, group.condition):
                task = self._decide(spec, group)
                decided[group.id] = ir.Compare(
                    op="==",
                    left=ir.TaskOutputBinding(task=task.id, output="output"),
                    right=ir.ConstantBinding(value=True),
                )
                tasks.append(task)
        if decided:
            groups = {
                gid: dataclasses.replace(g, condition=self._decided(g, decided)) for gid, g in groups.items()
            }
        for task in spec.tasks:
            inputs = dict(task.inputs)
            for name, binding in task.inputs.items():
                if self.gather and isinstance(binding, ir.ListBinding | ir.DictBinding):
                    target = self._target(task, name)
                    made = self._gather(spec, binding, target, task.group, task.location, tasks)
                    inputs[name] = ir.TaskOutputBinding(task=made, output="output")
            tasks.append(dataclasses.replace(task, inputs=inputs) if inputs != task.inputs else task)
        outputs = []
        for out in spec.outputs:
            if self.gather and isinstance(out.source, ir.ListBinding | ir.DictBinding):
                made = self._gather(spec, out.source, out.type, None, out.location, tasks)
                out = dataclasses.replace(out, source=ir.TaskOutputBinding(task=made, output="output"))
            outputs.append(out)
        if len(tasks) == len(spec.tasks) and not decided:
            return spec
        ordered = _in_dependency_order(tasks, groups)
        return dataclasses.replace(
            spec, tasks=ordered, outputs=outputs, groups=[groups[g.id] for g in spec.groups]
        )

    def _target(self, task: ir.Task, name: str) -> ir.TypeSpec:
        params = self.steps[task.step].inputs if task.step else self.pipelines[task.callee].params
        param = next(p for p in params if p.name == name)
        if task.map is not None and task.map.input == name:
            return ir.TypeSpec(kind="list", items=param.type)
        return param.type

    def _fresh(self, base: str) -> str:
        task_id, n = base, 1
        while task_id in self.taken:
            n += 1
            task_id = f"{base}-{n}"
        self.taken.add(task_id)
        return task_id

    def _builtin(
        self,
        base: str,
        qualname: str,
        inputs: list[ir.Param],
        output: ir.TypeSpec | list[ir.Output],
        returns: ir.ReturnKind = "single",
        cache: bool = True,
    ) -> str:
        """The name of a built-in step with this interface (one output ``output`` of type ``output``, or
        these outputs), made once per distinct interface."""
        outputs = [ir.Output(name="output", type=output)] if isinstance(output, ir.TypeSpec) else output
        shown: Any = ir.dump(output) if isinstance(output, ir.TypeSpec) else [ir.dump(o) for o in output]
        if returns != "single":
            shown = [shown, returns]  # the interfaces made before settle keep their names
        interface = json.dumps([qualname, [ir.dump(p) for p in inputs], shown], sort_keys=True)
        name = f"{base}-{hashlib.sha256(interface.encode()).hexdigest()[:8]}"
        if name not in self.added:
            code = ir.CodeRef(
                module=BUILTINS, qualname=qualname, file="mlopsdsl/runtime/builtins.py", digest=""
            )
            spec = ir.StepSpec(
                name=name,
                code=code,
                inputs=inputs,
                outputs=outputs,
                returns=ir.ReturnShape(kind=returns),
                options=ir.StepOptions(cache=cache),
            )
            body = ir.dump(spec, skip=frozenset({"digest", "location"}))
            self.added[name] = dataclasses.replace(spec, digest=ir.digest_of(body))
        return name

    # ------------------------------------------------------------------ gather

    def _gather(
        self,
        spec: ir.PipelineSpec,
        binding: ir.ListBinding | ir.DictBinding,
        target: ir.TypeSpec,
        group: str | None,
        location: ir.SourceLocation | None,
        into: list[ir.Task],
    ) -> str:
        """Add the gather task (and those of nested lists) to ``into``; its id."""
        keys = None if isinstance(binding, ir.ListBinding) else list(binding.entries)
        items = binding.items if isinstance(binding, ir.ListBinding) else list(binding.entries.values())
        inner = target.items if target.kind == "optional" and target.items is not None else target
        element = inner.items if inner.kind in ("list", "dict") and inner.items is not None else None
        params: list[ir.Param] = []
        inputs: dict[str, ir.Binding] = {}
        if keys is not None:
            str_list = ir.TypeSpec(kind="list", items=ir.TypeSpec(kind="str"))
            params.append(ir.Param(name="keys", type=str_list))
            inputs["keys"] = ir.ConstantBinding(value=keys)
        for i, item in enumerate(items):
            if isinstance(item, ir.ListBinding | ir.DictBinding):
                nested = self._gather(spec, item, element or ir.TypeSpec(kind="json"), group, location, into)
                item = ir.TaskOutputBinding(task=nested, output="output")
            if isinstance(item, ir.ConstantBinding):
                type_ = element or ir.TypeSpec(kind="json")
            else:
                type_ = self.output_type(spec, item)
            params.append(ir.Param(name=f"item_{i}", type=type_))
            inputs[f"item_{i}"] = item
        qualname = "gather" if keys is None else "gather_dict"
        step = self._builtin("gather", qualname, params, target)
        task = ir.Task(id=self._fresh("gather"), step=step, inputs=inputs, group=group, location=location)
        into.append(task)
        return task.id

    # ------------------------------------------------------------------ conditions

    def _needs_decide(self, spec: ir.PipelineSpec, condition: ir.Condition) -> bool:
        for binding in ir.operands(condition):
            if isinstance(binding, ir.ConstantBinding):
                continue
            type_ = self.output_type(spec, binding)
            inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
            if type_.is_stored or inner.kind not in _SCALARS:
                return True
            if self.output_type(spec, binding, whole=True).is_stored:
                return True  # a field of a stored value: only the runtime can load it
        return False

    def _decide(self, spec: ir.PipelineSpec, group: ir.Group) -> ir.Task:
        operands: dict[str, ir.Binding] = {}
        params = [ir.Param(name="condition", type=ir.TypeSpec(kind="json"))]

        def tree(condition: ir.Condition) -> dict[str, Any]:
            if isinstance(condition, ir.Compare):
                return {"kind": "compare", "op": condition.op, "left": side(condition.left),
                        "right": side(condition.right)}  # fmt: skip
            if isinstance(condition, ir.Not):
                return {"kind": "not", "condition": tree(condition.condition)}
            kind = "all" if isinstance(condition, ir.AllOf) else "any"
            return {"kind": kind, "conditions": [tree(c) for c in condition.conditions]}

        def side(binding: ir.Binding) -> dict[str, Any]:
            if isinstance(binding, ir.ConstantBinding):
                return {"value": binding.value}
            name = f"operand_{len(operands)}"
            operands[name] = binding
            params.append(ir.Param(name=name, type=self.output_type(spec, binding)))
            return {"input": name}

        condition = tree(group.condition)
        step = self._builtin("decide", "decide", params, ir.TypeSpec(kind="bool"))
        inputs = {"condition": ir.ConstantBinding(value=condition), **operands}
        return ir.Task(
            id=self._fresh(f"decide-{group.id}"), step=step, inputs=inputs, group=group.parent,
            location=group.location,
        )  # fmt: skip

    def _decided(self, group: ir.Group, decided: dict[str, ir.Condition]) -> ir.Condition:
        if group.id in decided:
            return decided[group.id]
        if group.kind == "otherwise" and group.else_of in decided:
            return ir.Not(condition=decided[group.else_of])
        return group.condition


def _settles(task: ir.Task, step: ir.StepSpec) -> bool:
    """Whether ``task`` is a tolerant map this pass settles: of a step whose outputs are all values."""
    return (
        task.map is not None
        and task.map.min_success is not None
        and not any(out.type.is_stored for out in step.outputs)
    )


def _read_imports(node: Any, made: dict[str, str]) -> Any:
    """``node`` (an IR node, or a list or dict of them) with each binding of an imported parameter reading its
    import task instead. A user's value (a constant, a default) is left as it is, whatever keys it holds."""
    if isinstance(node, ir.ParameterBinding):
        if node.name not in made:
            return node
        return ir.TaskOutputBinding(task=made[node.name], output="output", path=node.path)
    if isinstance(node, list):
        return [_read_imports(item, made) for item in node]
    if isinstance(node, dict):
        return {key: _read_imports(value, made) for key, value in node.items()}
    if isinstance(node, ir.ConstantBinding | ir.Param) or type(node).__module__ != ir.__name__:
        return node
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node
    changes = {f.name: _read_imports(getattr(node, f.name), made) for f in dataclasses.fields(node)}
    return dataclasses.replace(node, **changes)


def _in_dependency_order(tasks: list[ir.Task], groups: dict[str, ir.Group]) -> list[ir.Task]:
    """``tasks`` with every task after what it reads: its inputs' producers and the tasks the conditions
    of its blocks read (a ``decide`` task before its block). Otherwise the order stays as written."""
    by_id = {t.id: t for t in tasks}
    placed: list[ir.Task] = []
    seen: set[str] = set()

    def reads(task: ir.Task) -> list[str]:
        bindings = list(task.inputs.values())
        group = groups.get(task.group or "")
        while group is not None:
            bindings += ir.operands(group.condition)
            group = groups.get(group.parent or "")
        return [read.task for binding in bindings for read in ir.task_outputs_read(binding)]

    def place(task: ir.Task) -> None:
        if task.id in seen:
            return
        seen.add(task.id)
        for other in reads(task):
            if other in by_id:
                place(by_id[other])
        placed.append(task)

    for task in tasks:
        place(task)
    return placed
