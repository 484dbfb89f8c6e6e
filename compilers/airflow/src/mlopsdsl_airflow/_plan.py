"""From the IR to the tasks of one Airflow DAG: what each task runs, reads, waits for and how it expands.

The meaning comes from the shared layers, never re-derived here: :func:`mlopsdsl.lowering.desugar` turns
written lists into ``gather`` tasks and conditions on stored values into ``decide`` tasks, and the local
flattening every consumer shares (:func:`mlopsdsl.lowering.flatten`, the local runner's too)
opens sub-pipelines and resolves every input to a source, with the conditions of the blocks around each
step call. With the pipeline's parameters as sources of their own (``Ref(PARAMS, name)``), that is the
whole graph Airflow runs; this module only decides how each source reaches a pod:

- a constant is written into the call spec;
- a parameter is rendered from the DAG run's ``params``; a step's output from the producer's XCom (its
  result record), as one value, or as a list when the producer is mapped (fan-in); a stored value as its
  record (``meta``), or a list of records (``collected``);
- ``ml.one_of`` reads whichever producer left a record;
- ``.map`` expands the task over a literal list, or over what an ``each`` helper task made of a list
  known only at run time (``.partial().expand()``);
- a ``when``/``otherwise`` block is a branch task per block: every task of the block (nested blocks
  included) is a direct downstream of it, so a condition that does not hold skips the whole block
  explicitly, and every step task can then run with ``none_failed`` (an empty map's skipped consumer
  still runs, a ``one_of`` reads the branch that ran).
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import Node, bundle_needs_cloudpickle, code_spec, flatten, function_name, stored_kind
from mlopsdsl.lowering._sources import Const, Gather, OneOf, Ref, Source, Status
from mlopsdsl_airflow._launch import CONTEXT_TRY, call_spec, jinja_safe
from mlopsdsl_airflow._options import BACKEND, CompileOptions

__all__ = ["PARAMS", "Branch", "Plan", "StepTask", "plan"]

PARAMS = ""
"""The node of pipeline parameters in sources: no task is named by the empty text."""


@dataclass
class StepTask:
    """A task running one step call (or, with ``expand``, one per element of a list)."""

    id: str
    step: ir.StepSpec
    spec: dict[str, Any]
    args: list[tuple[str, str]]
    """``--arg NAME=TEXT`` items, TEXT a Jinja template."""
    upstream: list[str] = field(default_factory=list)
    expand: tuple[str, list[Any] | str] | None = None
    """For a mapped task: the mapped input, and its elements (JSON values) or a template of their list."""
    each: str | None = None
    """The id of the ``each`` helper making the mapped task's argument lists, when the list is known only
    at run time."""
    each_upstream: list[str] = field(default_factory=list)
    expand_stored: bool = False
    """The mapped input's elements are stored values (their records)."""
    max_parallel: int | None = None
    exit: bool = False


@dataclass
class Branch:
    """A ``when``/``otherwise`` block's condition, decided by a branch task."""

    id: str
    condition: Any
    """The condition as data: ``["compare", op, left, right]``, ``["all"|"any", [...]]``, ``["not", c]``;
    operands are ``{"value": v}``, ``{"param": name, "path": [...]}`` or ``{"task": id, "output": name,
    "path": [...]}``."""
    upstream: list[str] = field(default_factory=list)
    follow: list[str] = field(default_factory=list)
    """Every task of the block: followed when the condition holds, skipped when not."""


@dataclass
class Plan:
    tasks: list[StepTask | Branch]
    """In dependency order."""
    outputs: dict[str, Any]
    """How each pipeline output is read after a run: ``{"value": v}``, ``{"param": name, "path": [...]}``,
    or ``{"task": id, "output": name, "path": [...], "mapped": bool, "stored": bool}``; ``{"one_of":
    [...]}`` for a choice."""
    specs: dict[str, str]
    """The call specs as JSON text, by name (a step's name, ``-2``... for variants)."""
    uses_pickle: bool


def task_id(node: str) -> str:
    """The Airflow task id of a flattened node (``prep/clean`` -> ``prep.clean``)."""
    return node.replace("/", ".")


class _Planner:
    def __init__(self, document: ir.Document, options: CompileOptions) -> None:
        from mlopsdsl.lowering import desugar

        self.doc = desugar(document)
        self.options = options
        self.nodes: dict[str, Any] = {}
        self.tasks: list[StepTask | Branch] = []
        self.branches: dict[int, Branch] = {}
        self.specs: dict[str, str] = {}
        self.spec_names: dict[str, str] = {}
        self.code: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, ir.Group]] = {}

    # ------------------------------------------------------------------ sources

    def mapped(self, node: str) -> bool:
        return node != PARAMS and self.nodes[node].task.map is not None

    def output_type(self, ref: Ref) -> ir.TypeSpec:
        step: ir.StepSpec = self.nodes[ref.node].step
        return next(o.type for o in step.outputs if o.name == ref.output)

    def pull(self, ref: Ref, where: ir.SourceLocation | None) -> tuple[str, bool, bool]:
        """The template of a producer's value (or record), whether it is a list of them (a map's), and
        whether it is stored."""
        if ref.node == PARAMS:
            return f"{{{{ param(params, {ref.output!r}) }}}}", False, False
        node = self.nodes[ref.node]
        if node.step is None:
            raise CompileError(
                f"task {ref.node!r} maps a sub-pipeline, which the {BACKEND} backend does not run",
                BACKEND,
                location=where,
            )
        stored = self.output_type(ref).is_stored
        mapped = self.mapped(ref.node)
        macro = ("records" if stored else "values") if mapped else ("record" if stored else "value")
        return f"{{{{ {macro}(ti, {task_id(ref.node)!r}, {ref.output!r}) }}}}", mapped, stored

    def argument(
        self, param: ir.Param, source: Source, where: ir.SourceLocation | None
    ) -> tuple[str, tuple[str | int, ...], Any, str | None, list[str]]:
        """How ``source`` reaches input ``param``: (how, path, literal, template, producers)."""
        if isinstance(source, Const):
            return "value", (), source.value, None, []
        if isinstance(source, Status):
            return "status", (), None, "{{ status(ti) }}", ["mlopsdsl-status"]
        if isinstance(source, Ref):
            template, mapped, stored = self.pull(source, where)
            how = ("collected" if mapped else "stored") if stored else "json"
            producers = [] if source.node == PARAMS else [task_id(source.node)]
            return how, source.path, None, template, producers
        if isinstance(source, OneOf):
            refs = [s for s in source.sources if isinstance(s, Ref) and s.node != PARAMS]
            if len(refs) != len(source.sources) or any(self.mapped(r.node) for r in refs):
                raise CompileError(
                    f"input {param.name!r}: ml.one_of over constants, parameters or maps is not run by the "
                    f"{BACKEND} backend; choose between step calls",
                    BACKEND,
                    location=where,
                )
            paths = {r.path for r in refs}
            if len(paths) != 1:
                raise CompileError(
                    f"input {param.name!r}: ml.one_of over different fields is not run by the {BACKEND} "
                    "backend; select the field after choosing",
                    BACKEND,
                    location=where,
                )
            stored = self.output_type(refs[0]).is_stored
            choices = [[task_id(r.node), r.output] for r in refs]
            template = f"{{{{ chosen(ti, {choices!r}, {'True' if stored else 'False'}) }}}}"
            return ("stored" if stored else "json"), refs[0].path, None, template, [c[0] for c in choices]
        assert isinstance(source, Gather)
        raise CompileError(
            f"input {param.name!r}: a written list that lowering did not gather", BACKEND, location=where
        )

    # ------------------------------------------------------------------ conditions

    def operand(self, source: Source, where: ir.SourceLocation | None) -> tuple[dict[str, Any], list[str]]:
        if isinstance(source, Const):
            return {"value": source.value}, []
        if isinstance(source, Ref) and source.node == PARAMS:
            return {"param": source.output, "path": list(source.path)}, []
        if isinstance(source, Ref) and not self.mapped(source.node):
            tid = task_id(source.node)
            return {"task": tid, "output": source.output, "path": list(source.path)}, [tid]
        raise CompileError(
            f"a condition on {source!r} is not run by the {BACKEND} backend; compare a value made by a step",
            BACKEND,
            location=where,
        )

    def condition(self, guard: Any, where: ir.SourceLocation | None, reads: list[str]) -> Any:
        if guard[0] == "compare":
            left, l_reads = self.operand(guard[2], where)
            right, r_reads = self.operand(guard[3], where)
            reads += l_reads + r_reads
            return ["compare", guard[1], left, right]
        if guard[0] == "not":
            return ["not", self.condition(guard[1], where, reads)]
        return [guard[0], [self.condition(g, where, reads) for g in guard[1]]]

    def blocks(self, node: Any) -> list[Branch]:
        """The branch tasks of the blocks around ``node``, outermost first (made on first sight).

        The plan gives a node its blocks' conditions, those of the calls around its sub-pipeline first; the
        same block is the same condition object for every node in it."""
        if not node.guards:
            return []
        groups = self.groups.get(node.pipeline)
        if groups is None:
            groups = self.groups[node.pipeline] = {
                g.id: g for g in self.doc.sub_pipeline(node.pipeline).groups
            }
        chain: list[ir.Group] = []
        current = node.task.group
        while current is not None:
            chain.insert(0, groups[current])
            current = groups[current].parent
        offset = len(node.guards) - len(chain)
        prefix = node.id.rsplit("/", 1)[0] + "/" if "/" in node.id else ""
        found: list[Branch] = []
        for depth, guard in enumerate(node.guards):
            branch = self.branches.get(id(guard))
            if branch is None:
                group = chain[depth - offset] if depth >= offset else None
                where = group.location if group is not None else node.task.location
                reads: list[str] = []
                condition = self.condition(guard, where, reads)
                base = task_id(
                    prefix + (group.id if group is not None else f"block-{len(self.branches) + 1}")
                )
                branch = Branch(self._fresh(base), condition, sorted({*reads, *(b.id for b in found)}))
                self.branches[id(guard)] = branch
                self.tasks.append(branch)
                for outer in found:
                    outer.follow.append(branch.id)
            found.append(branch)
        return found

    def _fresh(self, base: str) -> str:
        taken = {t.id for t in self.tasks} | {task_id(n) for n in self.nodes}
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    # ------------------------------------------------------------------ tasks

    def spec_name(self, step: ir.StepSpec, spec: dict[str, Any]) -> str:
        text = jinja_safe(spec)
        if text not in self.spec_names:
            name, n = step.name, 1
            while name in self.specs:
                n += 1
                name = f"{step.name}-{n}"
            self.specs[name] = text
            self.spec_names[text] = name
        return self.spec_names[text]

    def step_task(self, node: Any, exit: bool = False) -> StepTask:
        step: ir.StepSpec = node.step
        where = node.task.location
        mapped = node.task.map.input if node.task.map is not None else None
        if step.name not in self.code:
            function = self.options.functions.get(function_name(step))
            self.code[step.name] = code_spec(step, self.options.code, function, BACKEND)
        inputs: list[tuple[ir.Param, str, tuple[str | int, ...], Any]] = []
        args: list[tuple[str, str]] = []
        upstream: set[str] = {task_id(d) for d in node.deps if d in self.nodes}
        expand: tuple[str, list[Any] | str] | None = None
        producer: str | None = None
        for param in step.inputs:
            if param.name not in node.inputs:
                continue  # left to the function's own default
            source = node.inputs[param.name]
            if param.name == mapped:
                how, expand = self.map_source(node, param, source)
                inputs.append((param, how, (), None))
                if isinstance(source, Ref) and source.node != PARAMS:
                    producer = task_id(source.node)
                continue
            how, path, literal, template, producers = self.argument(param, source, where)
            inputs.append((param, how, path, literal))
            if template is not None:
                args.append((param.name, template))
            upstream.update(producers)
        if any(stored_kind(o.type) for o in step.outputs) and self.options.store is None:
            raise CompileError(
                f"step {step.name!r} returns a stored value; Airflow passes only small JSON values between "
                "tasks, so give the store= option (an fsspec URL or a folder every pod mounts)",
                BACKEND,
                location=step.location,
            )
        cache = None
        if self.options.cache_root is not None and step.options.cache:
            from mlopsdsl.runtime._cache import spec_section

            cache = spec_section(step.digest, self.options.cache_root, self.options.cache)
        spec = call_spec(step, self.code[step.name], inputs, self.options.store, cache)
        if spec.get("context", {}).get("attempt") is not None:
            args.append((CONTEXT_TRY, "{{ ti.try_number }}"))
        task = StepTask(task_id(node.id), step, {"name": self.spec_name(step, spec)}, args, exit=exit)
        task.upstream = sorted(upstream - {task.id})
        task.expand = expand
        task.expand_stored = any(how == "stored" and p.name == mapped for p, how, _, _ in inputs)
        if expand is not None and isinstance(expand[1], str):
            task.each = f"{task.id}-items"
            task.each_upstream = [producer] if producer is not None else []
        if node.task.map is not None:
            task.max_parallel = node.task.map.max_parallel
        return task

    def map_source(
        self, node: Any, param: ir.Param, source: Source
    ) -> tuple[str, tuple[str, list[Any] | str]]:
        """How the mapped input arrives per element, and the elements (a literal list or a template)."""
        where = node.task.location
        stored = param.type.is_stored
        if isinstance(source, Const):
            if stored:
                raise CompileError(
                    f"task {node.id!r} maps over a literal list of stored values", BACKEND, location=where
                )
            return "json", (param.name, list(source.value))
        if isinstance(source, Ref) and not source.path:
            template, mapped, from_stored = self.pull(source, where)
            if from_stored and not mapped:
                raise CompileError(
                    f"task {node.id!r} maps over stored values; the {BACKEND} backend runs .map over values, "
                    "and over the stored results of another map",
                    BACKEND,
                    location=where,
                )
            return ("stored" if from_stored else "json"), (param.name, template)
        raise CompileError(
            f"task {node.id!r} maps over a field of a value ({source!r}); the {BACKEND} backend maps over a "
            "whole list: select the field in a step that returns the list",
            BACKEND,
            location=where,
        )

    # ------------------------------------------------------------------ the whole DAG

    def build(self) -> Plan:
        root = self.doc.pipeline
        for sub in self.doc.pipelines[1:]:
            if sub.on_exit is not None:
                raise CompileError(
                    f"sub-pipeline {sub.name!r}: only the root pipeline has an exit handler",
                    BACKEND,
                    location=sub.location,
                )
        for param in root.params:
            if param.type.is_stored:
                raise CompileError(
                    f"pipeline parameter {param.name!r} is a stored type ({param.type}); Airflow DAG params "
                    "are JSON values",
                    BACKEND,
                    location=param.location or root.location,
                )
        env: dict[str, Source] = {p.name: Ref(PARAMS, p.name) for p in root.params}
        outputs = flatten(self.doc, root, "", env, set(), [], self.nodes)
        step_tasks: list[StepTask] = []
        for node in self.nodes.values():
            if node.step is None:
                raise CompileError(
                    f"task {node.id!r} maps sub-pipeline {node.task.callee!r}; the {BACKEND} backend maps "
                    "steps only (Airflow cannot expand a group whose tasks expand): map a step, or call "
                    "the sub-pipeline once with the whole list",
                    BACKEND,
                    location=node.task.location,
                )
            branches = self.blocks(node)
            task = self.step_task(node)
            task.upstream = sorted({*task.upstream, *(b.id for b in branches)})
            for branch in branches:
                branch.follow.append(task.id)
                if task.each is not None:
                    branch.follow.append(task.each)
                    task.each_upstream.append(branch.id)
            self.tasks.append(task)
            step_tasks.append(task)
        if root.on_exit is not None:
            exit_node = Node(
                task_id(root.on_exit.id),
                self.doc.step(root.on_exit.callee),
                root.on_exit,
                root.name,
                {},
            )
            from mlopsdsl.lowering._sources import resolve

            exit_node.inputs = {name: resolve(b, env, {}) for name, b in root.on_exit.inputs.items()}
            taken = {t.id for t in self.tasks}
            if exit_node.id in taken:
                exit_node.id = f"{exit_node.id}-on-exit"
            self.tasks.append(self.step_task(exit_node, exit=True))
        uses_pickle = bundle_needs_cloudpickle(self.doc, self.options.code)
        return Plan(self.tasks, {n: self.describe(s) for n, s in outputs.items()}, self.specs, uses_pickle)

    def describe(self, source: Source) -> Any:
        if isinstance(source, Const):
            return {"value": source.value}
        if isinstance(source, Ref) and source.node == PARAMS:
            return {"param": source.output, "path": list(source.path)}
        if isinstance(source, Ref):
            return {
                "task": task_id(source.node),
                "output": source.output,
                "path": list(source.path),
                "mapped": self.mapped(source.node),
                "stored": self.output_type(source).is_stored,
            }
        if isinstance(source, OneOf):
            return {"one_of": [self.describe(s) for s in source.sources]}
        raise CompileError(
            f"a pipeline output of {source!r} is not run by the {BACKEND} backend",
            BACKEND,
            location=self.doc.pipeline.location,
        )


def plan(document: ir.Document, options: CompileOptions) -> Plan:
    """The tasks of ``document``'s DAG."""
    return _Planner(document, options).build()
