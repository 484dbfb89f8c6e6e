"""Checks of control flow and order: maps, ``when``/``otherwise`` blocks and their conditions, where an output
may be used (scopes, ``one_of``), exit handlers, and cycles."""

from __future__ import annotations

from collections.abc import Iterator

from mlopsdsl import ir
from mlopsdsl._types import assignable
from mlopsdsl.validate._context import Context
from mlopsdsl.validate._structure import _repeats
from mlopsdsl.validate._typing import binding_type

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
            if task.map.min_success is not None and task.step is None:
                # Authoring refuses it at the .map line; this guards a document written by other means.
                ctx.report(
                    "bad-map",
                    f"task {task.id!r} maps a sub-pipeline tolerantly (min_success); only a step's map may "
                    "leave failed elements out",
                    task.location,
                )


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
    return [leaf for leaf in ir.leaves(binding) if isinstance(leaf, ir.TaskOutputBinding)]


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
                for leaf in ir.leaves(binding):
                    if isinstance(leaf, ir.OneOfBinding):
                        _check_one_of(ctx, pipeline, leaf, task.group, task.location)
                for source in _sources(binding):
                    visible(source.task, task.group, what, task.location)
            for other in task.after:
                visible(other, task.group, what, task.location)
        for group in pipeline.groups:
            for binding in ir.operands(group.condition):
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
            for binding in [leaf for b in task.inputs.values() for leaf in ir.leaves(b)]:
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
        for name, whole in exit_task.inputs.items():
            if any(isinstance(b, ir.TaskOutputBinding | ir.OneOfBinding) for b in ir.leaves(whole)):
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
        for source in ir.task_outputs_read(binding):
            yield source.task
    group = groups.get(task.group or "")
    seen: set[str] = set()
    while group is not None and group.id not in seen:
        seen.add(group.id)
        for binding in ir.operands(group.condition):
            for source in ir.task_outputs_read(binding):
                yield source.task
        group = groups.get(group.parent or "")


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
