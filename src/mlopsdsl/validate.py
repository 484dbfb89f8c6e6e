"""Validation of the IR: a list of small checks, each reporting every problem it finds.

It runs on the IR alone, so it checks a document from any source (a build, a JSON file, a test) the same
way, and backends can rely on what it guarantees: every reference resolves, every required input is bound,
every value fits the type it flows into, names become valid Kubernetes names without colliding, and the
graph has no cycle. Problems carry the IR's locations; :func:`validate` returns them all, in a stable order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mlopsdsl import ir
from mlopsdsl._types import assignable, check_value
from mlopsdsl.errors import Location, Problem
from mlopsdsl.naming import k8s_name, name_problem

__all__ = ["Check", "validate"]


@dataclass
class Context:
    """What every check gets: the document, a way to report, and inputs already reported unbound."""

    doc: ir.Document
    problems: list[Problem] = field(default_factory=list)
    unbound: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def report(self, code: str, message: str, where: ir.SourceLocation | None) -> None:
        location = Location(where.file, where.line) if where is not None else None
        self.problems.append(Problem(location, code, message))

    def __post_init__(self) -> None:
        self.steps = {s.name: s for s in self.doc.steps}
        self.pipelines = {p.name: p for p in self.doc.pipelines}
        self.tasks = {p.name: {t.id: t for t in p.tasks} for p in self.doc.pipelines}

    def callee_inputs(self, task: ir.Task) -> list[ir.Param] | None:
        """The inputs of what a task calls; ``None`` when that does not exist (reported elsewhere)."""
        if task.step in self.steps:
            return self.steps[task.step].inputs
        if task.pipeline in self.pipelines:
            return self.pipelines[task.pipeline].params
        return None

    def callee_outputs(self, task: ir.Task) -> dict[str, ir.TypeSpec] | None:
        if task.step in self.steps:
            return {o.name: o.type for o in self.steps[task.step].outputs}
        if task.pipeline in self.pipelines:
            return {o.name: o.type for o in self.pipelines[task.pipeline].outputs}
        return None


Check = Callable[[Context], None]


def validate(doc: ir.Document, unbound: dict[tuple[str, str], set[str]] | None = None) -> list[Problem]:
    """Every problem of ``doc``. ``unbound`` maps (pipeline, task) to inputs whose bad value was reported."""
    ctx = Context(doc, unbound=unbound or {})
    for check in CHECKS:
        check(ctx)
    unique = dict.fromkeys(ctx.problems)
    return sorted(unique, key=lambda p: (p.location or Location("", 0), p.code, p.message))


# --------------------------------------------------------------------------- names


def check_root(ctx: Context) -> None:
    names = [p.name for p in ctx.doc.pipelines]
    if not names or names[0] != ctx.doc.root:
        first = ctx.doc.pipelines[0].location if ctx.doc.pipelines else None
        known = ", ".join(names) or "none"
        ctx.report(
            "bad-root", f"the document's root {ctx.doc.root!r} is not one of its pipelines ({known})", first
        )


_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_FIELD = re.compile(
    r"^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$"
)


def check_schedule(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        schedule = pipeline.schedule
        if schedule is None:
            continue
        fields = schedule.split()
        ok = schedule.strip() in _CRON_MACROS or schedule.startswith("@every ")
        ok = ok or (len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields))
        if not ok:
            ctx.report(
                "bad-schedule",
                f"schedule {schedule!r} of pipeline {pipeline.name!r} is not a cron schedule "
                "(five fields such as '0 3 * * *', or @daily, @hourly...)",
                pipeline.location,
            )


def check_not_empty(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        if not pipeline.tasks:
            ctx.report("empty-pipeline", f"pipeline {pipeline.name!r} calls no step", pipeline.location)


def check_names(ctx: Context) -> None:
    doc = ctx.doc
    _names(ctx, "step", [(s.name, s.location) for s in doc.steps])
    _names(ctx, "pipeline", [(p.name, p.location) for p in doc.pipelines])
    for pipeline in doc.pipelines:
        tasks = [(t.id, t.location) for t in pipeline.tasks]
        params = [(p.name, p.location or pipeline.location) for p in pipeline.params]
        _repeats(ctx, "tasks", pipeline.name, tasks, "task ids must be unique")
        _repeats(ctx, "parameters", pipeline.name, params, "rename one")
        _names(ctx, "task", tasks, report_invalid=False)
        _names(ctx, "parameter", params)


def _repeats(
    ctx: Context, what: str, pipeline: str, names: list[tuple[str, ir.SourceLocation | None]], advice: str
) -> None:
    seen: set[str] = set()
    for name, where in names:
        if name in seen:
            ctx.report(
                "duplicate-name", f"two {what} are named {name!r} in pipeline {pipeline!r}; {advice}", where
            )
        seen.add(name)


def _names(
    ctx: Context, what: str, names: list[tuple[str, ir.SourceLocation | None]], report_invalid: bool = True
) -> None:
    seen: dict[str, str] = {}
    for name, where in names:
        problem = name_problem(name, what)
        if problem:
            if report_invalid:
                ctx.report("bad-name", problem, where)
            continue
        label = k8s_name(name)
        if label in seen and seen[label] != name:
            ctx.report(
                "name-collision",
                f"{what} names {seen[label]!r} and {name!r} both become {label!r} on Kubernetes; rename one",
                where,
            )
        seen.setdefault(label, name)


def check_unique_definitions(ctx: Context) -> None:
    for kind, items in (("step", ctx.doc.steps), ("pipeline", ctx.doc.pipelines)):
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                ctx.report(
                    "name-collision",
                    f"two different {kind}s are named {item.name!r}; rename one",
                    item.location,
                )
            seen.add(item.name)


# --------------------------------------------------------------------------- references and inputs


def check_references(ctx: Context) -> None:
    steps = {s.name for s in ctx.doc.steps}
    pipelines = {p.name for p in ctx.doc.pipelines}
    for pipeline in ctx.doc.pipelines:
        ids = {t.id for t in pipeline.tasks}
        for task in pipeline.tasks:
            if (task.step is None) == (task.pipeline is None):
                ctx.report(
                    "bad-task", f"task {task.id!r} must call exactly one step or pipeline", task.location
                )
            elif task.step is not None and task.step not in steps:
                ctx.report(
                    "unknown-step", f"task {task.id!r} calls unknown step {task.step!r}", task.location
                )
            elif task.pipeline is not None and task.pipeline not in pipelines:
                ctx.report(
                    "unknown-pipeline",
                    f"task {task.id!r} calls unknown pipeline {task.pipeline!r}",
                    task.location,
                )
            for other in task.after:
                if other not in ids:
                    ctx.report(
                        "unknown-task", f"task {task.id!r} runs after unknown task {other!r}", task.location
                    )


def check_inputs(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        for task in pipeline.tasks:
            params = ctx.callee_inputs(task)
            if params is None:
                continue
            known = {p.name for p in params}
            what = f"step {task.step!r}" if task.step else f"pipeline {task.pipeline!r}"
            for name in task.inputs:
                if name not in known:
                    hint = f"its inputs are {', '.join(sorted(known))}" if known else "it takes no inputs"
                    ctx.report("unknown-argument", f"{what} has no input {name!r}; {hint}", task.location)
            skip = ctx.unbound.get((pipeline.name, task.id), set())
            missing = [
                p.name for p in params if not p.optional and p.name not in task.inputs and p.name not in skip
            ]
            if missing:
                names = ", ".join(repr(m) for m in missing)
                plural = "s" if len(missing) > 1 else ""
                ctx.report(
                    "missing-input", f"{what} is missing required input{plural} {names}", task.location
                )


# --------------------------------------------------------------------------- types


def _select(type_: ir.TypeSpec, path: list[str | int]) -> ir.TypeSpec | None:
    for part in path:
        if type_.kind == "optional" and type_.items is not None:
            type_ = type_.items
        fields = type_.fields or {}
        if not isinstance(part, str) or part not in fields:
            return None
        type_ = fields[part]
    return type_


def binding_type(
    ctx: Context, pipeline: ir.PipelineSpec, binding: ir.Binding, where: ir.SourceLocation | None
) -> ir.TypeSpec | None:
    """The type a binding delivers; ``None`` (after reporting) when it does not resolve, or for constants."""
    if isinstance(binding, ir.ConstantBinding):
        return None
    base: ir.TypeSpec | None
    if isinstance(binding, ir.ParameterBinding):
        param = next((p for p in pipeline.params if p.name == binding.name), None)
        if param is None:
            ctx.report(
                "unknown-parameter", f"pipeline {pipeline.name!r} has no parameter {binding.name!r}", where
            )
            return None
        base, label = param.type, f"parameter {binding.name!r}"
    else:
        task = ctx.tasks.get(pipeline.name, {}).get(binding.task)
        if task is None:
            ctx.report("unknown-task", f"no task {binding.task!r} in pipeline {pipeline.name!r}", where)
            return None
        outputs = ctx.callee_outputs(task)
        if outputs is None:
            return None
        if binding.output not in outputs:
            known = ", ".join(outputs) or "none"
            ctx.report(
                "unknown-output",
                f"task {binding.task!r} has no output {binding.output!r} (outputs: {known})",
                where,
            )
            return None
        base, label = outputs[binding.output], f"output {binding.output!r} of task {binding.task!r}"
    selected = _select(base, binding.path)
    if selected is None:
        path = ".".join(str(p) for p in binding.path)
        ctx.report("no-such-field", f"{label} of type {base} has no field {path!r}", where)
    return selected


def check_types(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        for task in pipeline.tasks:
            params = {p.name: p for p in ctx.callee_inputs(task) or []}
            what = f"step {task.step!r}" if task.step else f"pipeline {task.pipeline!r}"
            for name, binding in task.inputs.items():
                param = params.get(name)
                source = binding_type(ctx, pipeline, binding, task.location)
                if param is None:
                    continue
                _check_flow(ctx, binding, source, param.type, f"input {name!r} of {what}", task.location)


def _check_flow(
    ctx: Context,
    binding: ir.Binding,
    source: ir.TypeSpec | None,
    target: ir.TypeSpec,
    what: str,
    where: ir.SourceLocation | None,
) -> None:
    if isinstance(binding, ir.ConstantBinding):
        if not target.is_parameter:
            if binding.value is not None or target.kind != "optional":
                ctx.report(
                    "type-mismatch", f"{what} is a {target}, which cannot be written as a literal", where
                )
            return
        problem = check_value(binding.value, target, what)
        if problem:
            ctx.report("type-mismatch", problem, where)
        return
    if source is not None and not assignable(source, target):
        origin = _describe_source(binding)
        ctx.report("type-mismatch", f"{what} expects {target}, but {origin} is {source}", where)


def _describe_source(binding: ir.Binding) -> str:
    if isinstance(binding, ir.ParameterBinding):
        return "pipeline parameter " + ".".join([binding.name, *map(str, binding.path)])
    assert isinstance(binding, ir.TaskOutputBinding)
    name = binding.task if binding.output == "output" else f"{binding.task}.{binding.output}"
    return "the output of " + ".".join([name, *map(str, binding.path)])


def check_params(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        for param in pipeline.params:
            where = param.location or pipeline.location
            if not param.type.is_parameter:
                ctx.report(
                    "artifact-parameter",
                    f"pipeline parameter {param.name!r} is a {param.type}; pipeline parameters must be JSON "
                    "values (load files and objects in a step)",
                    where,
                )
            elif param.optional:
                problem = check_value(
                    param.default, param.type, f"default of pipeline parameter {param.name!r}"
                )
                if problem:
                    ctx.report("bad-default", problem, where)
    for spec in ctx.doc.steps:
        for param in spec.inputs:
            if param.optional and param.type.is_parameter:
                problem = check_value(param.default, param.type, f"default of {param.name!r}")
                if problem:
                    ctx.report("bad-default", f"step {spec.name!r}: {problem}", spec.location)


def check_outputs(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        for out in pipeline.outputs:
            source = binding_type(ctx, pipeline, out.source, pipeline.location)
            what = f"output {out.name!r} of pipeline {pipeline.name!r}"
            _check_flow(ctx, out.source, source, out.type, what, pipeline.location)


# --------------------------------------------------------------------------- cycles


def _dependencies(task: ir.Task) -> Iterator[str]:
    yield from task.after
    for binding in task.inputs.values():
        if isinstance(binding, ir.TaskOutputBinding):
            yield binding.task


def check_cycles(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        graph = {t.id: sorted(set(_dependencies(t))) for t in pipeline.tasks}
        cycle = _find_cycle(graph)
        if cycle:
            where = pipeline.task(cycle[0]).location if cycle[0] in graph else pipeline.location
            ctx.report("cycle", f"tasks form a cycle: {' -> '.join(cycle)}", where)
    calls = {p.name: sorted({t.pipeline for t in p.tasks if t.pipeline}) for p in ctx.doc.pipelines}
    cycle = _find_cycle(calls)
    if cycle:
        where = next(p.location for p in ctx.doc.pipelines if p.name == cycle[0])
        ctx.report("recursion", f"pipelines call each other in a cycle: {' -> '.join(cycle)}", where)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in ``graph`` (node -> nodes it depends on), or None. Iterative, for deep graphs."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph.get(start, [])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child) and child in graph:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph.get(child, []))))
    return None


CHECKS: list[Check] = [
    check_root,
    check_not_empty,
    check_schedule,
    check_names,
    check_unique_definitions,
    check_references,
    check_inputs,
    check_types,
    check_params,
    check_outputs,
    check_cycles,
]
