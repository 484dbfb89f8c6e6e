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
        self.groups = {p.name: {g.id: g for g in p.groups} for p in self.doc.pipelines}

    def callee_inputs(self, task: ir.Task) -> list[ir.Param] | None:
        """The inputs of what a task calls; ``None`` when that does not exist (reported elsewhere)."""
        if task.step in self.steps:
            return self.steps[task.step].inputs
        if task.pipeline in self.pipelines:
            return self.pipelines[task.pipeline].params
        return None

    def callee_outputs(self, task: ir.Task) -> dict[str, ir.TypeSpec] | None:
        """The outputs of a task: its callee's, as lists (one element per run) when the task is mapped."""
        outputs: dict[str, ir.TypeSpec] | None = None
        if task.step in self.steps:
            outputs = {o.name: o.type for o in self.steps[task.step].outputs}
        elif task.pipeline in self.pipelines:
            outputs = {o.name: o.type for o in self.pipelines[task.pipeline].outputs}
        if outputs is not None and task.map is not None:
            outputs = {n: ir.TypeSpec(kind="list", items=t) for n, t in outputs.items()}
        return outputs

    def group_chain(self, pipeline: ir.PipelineSpec, group: str | None) -> list[str]:
        """``group`` and the groups around it, innermost first (empty for the pipeline body)."""
        groups = self.groups[pipeline.name]
        chain: list[str] = []
        while group is not None and group in groups and group not in chain:
            chain.append(group)
            group = groups[group].parent
        return chain


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


def every_task(pipeline: ir.PipelineSpec) -> list[ir.Task]:
    """The pipeline's tasks, and its exit handler's."""
    return [*pipeline.tasks, *([pipeline.on_exit] if pipeline.on_exit is not None else [])]


def check_references(ctx: Context) -> None:
    steps = {s.name for s in ctx.doc.steps}
    pipelines = {p.name for p in ctx.doc.pipelines}
    for pipeline in ctx.doc.pipelines:
        ids = {t.id for t in pipeline.tasks}
        for task in every_task(pipeline):
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
        for task in every_task(pipeline):
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
    if isinstance(binding, ir.StatusBinding):
        return ir.TypeSpec(kind="str")
    if isinstance(binding, ir.OneOfBinding):
        types = [binding_type(ctx, pipeline, source, where) for source in binding.sources]
        first = types[0] if types else None
        for other in types[1:]:
            if (
                first is not None
                and other is not None
                and not (assignable(other, first) and assignable(first, other))
            ):
                ctx.report(
                    "type-mismatch",
                    f"ml.one_of() mixes {first} and {other}; its outputs must have one type",
                    where,
                )
        return first
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
        for task in every_task(pipeline):
            params = {p.name: p for p in ctx.callee_inputs(task) or []}
            what = f"step {task.step!r}" if task.step else f"pipeline {task.pipeline!r}"
            for name, binding in task.inputs.items():
                param = params.get(name)
                source = binding_type(ctx, pipeline, binding, task.location)
                if param is None:
                    continue
                target = param.type
                if task.map is not None and task.map.input == name:
                    target = ir.TypeSpec(kind="list", items=param.type)  # one element per run
                _check_flow(ctx, binding, source, target, f"input {name!r} of {what}", task.location)


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
    if isinstance(binding, ir.OneOfBinding):
        return "ml.one_of(" + ", ".join(_describe_source(s) for s in binding.sources) + ")"
    if isinstance(binding, ir.StatusBinding):
        return "the pipeline's status"
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


# --------------------------------------------------------------------------- control flow


def check_maps(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        for task in pipeline.tasks:
            if task.map is None:
                continue
            params = {p.name for p in ctx.callee_inputs(task) or []}
            if task.map.input not in params or task.map.input not in task.inputs:
                ctx.report(
                    "bad-map",
                    f"task {task.id!r} runs once per element of input {task.map.input!r}, which it does not "
                    "get",
                    task.location,
                )


def _condition_bindings(condition: ir.Condition) -> Iterator[ir.Binding]:
    if isinstance(condition, ir.Compare):
        yield condition.left
        yield condition.right
    elif isinstance(condition, ir.Not):
        yield from _condition_bindings(condition.condition)
    else:
        for part in condition.conditions:
            yield from _condition_bindings(part)


def _compares(condition: ir.Condition) -> Iterator[ir.Compare]:
    if isinstance(condition, ir.Compare):
        yield condition
    elif isinstance(condition, ir.Not):
        yield from _compares(condition.condition)
    else:
        for part in condition.conditions:
            yield from _compares(part)


_SCALAR = {"str", "int", "float", "bool", "null", "enum"}


def check_groups(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        groups = ctx.groups[pipeline.name]
        _repeats(
            ctx, "blocks", pipeline.name, [(g.id, g.location) for g in pipeline.groups], "ids must be unique"
        )
        for group in pipeline.groups:
            if group.parent is not None and group.parent not in groups:
                ctx.report(
                    "bad-group",
                    f"block {group.id!r} is inside unknown block {group.parent!r}",
                    group.location,
                )
            elif group.id in ctx.group_chain(pipeline, group.parent):
                ctx.report("bad-group", f"block {group.id!r} is inside itself", group.location)
            if group.kind == "otherwise":
                when = groups.get(group.else_of or "")
                if when is None or when.kind != "when" or when.parent != group.parent:
                    ctx.report(
                        "bad-group",
                        f"block {group.id!r} is not the otherwise of a when at its level",
                        group.location,
                    )
            for compare in _compares(group.condition):
                _check_compare(ctx, pipeline, compare, group.location)
        for task in pipeline.tasks:
            if task.group is not None and task.group not in groups:
                ctx.report("bad-group", f"task {task.id!r} is in unknown block {task.group!r}", task.location)


def _check_compare(
    ctx: Context, pipeline: ir.PipelineSpec, compare: ir.Compare, where: ir.SourceLocation | None
) -> None:
    sides: list[ir.TypeSpec | None] = []
    for binding in (compare.left, compare.right):
        if isinstance(binding, ir.ConstantBinding):
            sides.append(_literal_type(binding.value))
        else:
            sides.append(binding_type(ctx, pipeline, binding, where))
    left, right = sides
    if left is None or right is None:
        return
    left_kind = left.items.kind if left.kind == "optional" and left.items else left.kind
    right_kind = right.items.kind if right.kind == "optional" and right.items else right.kind
    numbers = {"int", "float"}
    if compare.op in ("<", "<=", ">", ">="):
        if not ((left_kind in numbers and right_kind in numbers) or (left_kind == right_kind == "str")):
            ctx.report(
                "bad-condition",
                f"{left} {compare.op} {right}: order comparisons take two numbers or two strings",
                where,
            )
    elif left_kind not in _SCALAR or right_kind not in _SCALAR:
        ctx.report(
            "bad-condition",
            f"{left} {compare.op} {right}: conditions compare single values (str, int, float, bool, None, "
            "enums); compute anything else in a step",
            where,
        )
    elif not (
        assignable(left, right)
        or assignable(right, left)
        or (left_kind in numbers and right_kind in numbers)
        or "null" in (left_kind, right_kind)
    ):
        ctx.report("bad-condition", f"{left} {compare.op} {right} compares values of different types", where)


def _literal_type(value: object) -> ir.TypeSpec:
    if isinstance(value, bool):
        return ir.TypeSpec(kind="bool")
    if isinstance(value, int):
        return ir.TypeSpec(kind="int")
    if isinstance(value, float):
        return ir.TypeSpec(kind="float")
    if isinstance(value, str):
        return ir.TypeSpec(kind="str")
    if isinstance(value, list):
        return ir.TypeSpec(kind="list", items=ir.TypeSpec(kind="json"))
    if isinstance(value, dict):
        return ir.TypeSpec(kind="dict", items=ir.TypeSpec(kind="json"))
    return ir.TypeSpec(kind="null") if value is None else ir.TypeSpec(kind="json")


def _sources(binding: ir.Binding) -> list[ir.TaskOutputBinding]:
    if isinstance(binding, ir.TaskOutputBinding):
        return [binding]
    return []


def check_scopes(ctx: Context) -> None:
    """An output is used only where its task is sure to have run: in its block, or in a block inside it.

    ``ml.one_of`` is the way out of a ``when``/``otherwise`` pair; conditions follow the same rule from
    where their block opens; the exit handler sees only parameters and the pipeline's status.
    """
    for pipeline in ctx.doc.pipelines:

        def visible(source: str, scope: str | None, what: str, where: ir.SourceLocation | None) -> None:
            _visible(ctx, pipeline, source, scope, what, where)  # noqa: B023 - called in this iteration only

        for task in pipeline.tasks:
            what = f"task {task.id!r}"
            for binding in task.inputs.values():
                if isinstance(binding, ir.OneOfBinding):
                    _check_one_of(ctx, pipeline, binding, task.group, task.location)
                for source in _sources(binding):
                    visible(source.task, task.group, what, task.location)
            for other in task.after:
                visible(other, task.group, what, task.location)
        for group in pipeline.groups:
            for binding in _condition_bindings(group.condition):
                for source in _sources(binding):
                    visible(source.task, group.parent, f"the condition of block {group.id!r}", group.location)
        for out in pipeline.outputs:
            where = out.location or pipeline.location
            if isinstance(out.source, ir.OneOfBinding):
                _check_one_of(ctx, pipeline, out.source, None, where)
            for source in _sources(out.source):
                visible(source.task, None, f"output {out.name!r} of pipeline {pipeline.name!r}", where)


def _visible(
    ctx: Context,
    pipeline: ir.PipelineSpec,
    source: str,
    scope: str | None,
    what: str,
    where: ir.SourceLocation | None,
) -> None:
    """Report ``source`` when the task cannot be sure to have run from ``scope``."""
    producer = ctx.tasks[pipeline.name].get(source)
    if producer is None or producer.group is None or producer.group in ctx.group_chain(pipeline, scope):
        return
    block = ctx.groups[pipeline.name].get(producer.group)
    kind = block.kind if block else "when"
    opened = f" (the block at line {block.location.line})" if block and block.location else ""
    ctx.report(
        "out-of-scope",
        f"{what} uses task {source!r}, which runs only inside `ml.{kind}(...)`{opened}; use it inside that "
        "block, or pick it with ml.one_of(...) together with the other branch's output",
        where,
    )


def _check_one_of(
    ctx: Context,
    pipeline: ir.PipelineSpec,
    binding: ir.OneOfBinding,
    scope: str | None,
    where: ir.SourceLocation | None,
) -> None:
    tasks = ctx.tasks[pipeline.name]
    groups = ctx.groups[pipeline.name]
    blocks = [tasks[s.task].group if s.task in tasks else None for s in binding.sources]
    pair = [groups.get(b) for b in blocks if b is not None]
    when = next((g for g in pair if g and g.kind == "when"), None)
    other = next((g for g in pair if g and g.kind == "otherwise"), None)
    ok = (
        len(pair) == len(binding.sources) == 2
        and when is not None
        and other is not None
        and other.else_of == when.id
        and (when.parent is None or when.parent in ctx.group_chain(pipeline, scope))
    )
    if not ok:
        ctx.report(
            "bad-one-of",
            "ml.one_of() takes one output made directly inside a `with ml.when(...)` block and one made "
            "directly inside the `with ml.otherwise()` block after it, so that exactly one exists",
            where,
        )


def check_exit_handlers(ctx: Context) -> None:
    for index, pipeline in enumerate(ctx.doc.pipelines):
        for task in pipeline.tasks:
            for binding in task.inputs.values():
                if isinstance(binding, ir.StatusBinding):
                    ctx.report(
                        "bad-status",
                        f"task {task.id!r}: only the exit handler gets the pipeline's status",
                        task.location,
                    )
        exit_task = pipeline.on_exit
        if exit_task is None:
            continue
        if index > 0:
            ctx.report(
                "nested-exit-handler",
                f"pipeline {pipeline.name!r} has an exit handler but is used as a sub-pipeline; exit "
                "handlers run when the whole pipeline ends, so only the pipeline you run or compile may have "
                "one",
                pipeline.location,
            )
        if exit_task.step is None or exit_task.map is not None or exit_task.group is not None:
            ctx.report("bad-exit-handler", "an exit handler is one step call", exit_task.location)
        for name, binding in exit_task.inputs.items():
            if isinstance(binding, ir.TaskOutputBinding | ir.OneOfBinding):
                ctx.report(
                    "bad-exit-handler",
                    f"exit handler input {name!r} uses a step's output, which may not exist when the "
                    "pipeline failed; give it `status` and pipeline parameters only",
                    exit_task.location,
                )


# --------------------------------------------------------------------------- cycles


def _dependencies(task: ir.Task, groups: dict[str, ir.Group]) -> Iterator[str]:
    """What a task waits for: its ``after``, its inputs' producers, and its blocks' conditions."""
    yield from task.after
    for binding in task.inputs.values():
        for source in _binding_sources(binding):
            yield source.task
    group = groups.get(task.group or "")
    seen: set[str] = set()
    while group is not None and group.id not in seen:
        seen.add(group.id)
        for binding in _condition_bindings(group.condition):
            for source in _binding_sources(binding):
                yield source.task
        group = groups.get(group.parent or "")


def _binding_sources(binding: ir.Binding) -> list[ir.TaskOutputBinding]:
    if isinstance(binding, ir.OneOfBinding):
        return list(binding.sources)
    return _sources(binding)


def check_cycles(ctx: Context) -> None:
    for pipeline in ctx.doc.pipelines:
        groups = ctx.groups[pipeline.name]
        graph = {t.id: sorted(set(_dependencies(t, groups))) for t in pipeline.tasks}
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
    check_maps,
    check_groups,
    check_scopes,
    check_exit_handlers,
    check_cycles,
]
