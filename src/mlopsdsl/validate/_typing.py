"""Checks of values: what each binding delivers, against the type of the input it feeds; literals; parameter
defaults; pipeline outputs."""

from __future__ import annotations

from mlopsdsl import ir
from mlopsdsl._types import assignable, check_value, is_artifact_parameter
from mlopsdsl.runtime.builtins import uri_problem
from mlopsdsl.validate._context import Context, every_task

# --------------------------------------------------------------------------- types


def _select(type_: ir.TypeSpec, path: list[str | int]) -> ir.TypeSpec | None:
    return type_.at(path)


def binding_type(
    ctx: Context, pipeline: ir.PipelineSpec, binding: ir.Binding, where: ir.SourceLocation | None
) -> ir.TypeSpec | None:
    """The type a binding delivers; ``None`` (after reporting) when it does not resolve, or for constants
    and for lists and dicts of bindings (whose elements are checked one by one)."""
    if isinstance(binding, ir.ConstantBinding):
        return None
    if isinstance(binding, ir.ListBinding | ir.DictBinding):
        for leaf in ir.leaves(binding):
            binding_type(ctx, pipeline, leaf, where)
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
                if isinstance(binding, ir.ListBinding | ir.DictBinding):
                    _check_collection(
                        ctx, pipeline, binding, target, f"input {name!r} of {what}", task.location
                    )
                    continue
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


def _check_collection(
    ctx: Context,
    pipeline: ir.PipelineSpec,
    binding: ir.ListBinding | ir.DictBinding,
    target: ir.TypeSpec,
    what: str,
    where: ir.SourceLocation | None,
) -> None:
    """Each element of a written list or dict against the element type of the input it feeds."""
    inner = target.items if target.kind == "optional" and target.items is not None else target
    wanted = "list" if isinstance(binding, ir.ListBinding) else "dict"
    if inner.kind == "json":
        element = ir.TypeSpec(kind="json")
    elif inner.kind == wanted and inner.items is not None:
        element = inner.items
    elif inner.kind == "object" and (inner.name or "").startswith(wanted) and inner.items is not None:
        element = inner.items  # a list or dict of stored values, stored whole
    else:
        ctx.report("type-mismatch", f"{what} expects {target}, but a {wanted} of values is passed", where)
        return
    items: list[tuple[object, ir.Binding]] = (
        list(enumerate(binding.items))
        if isinstance(binding, ir.ListBinding)
        else list(binding.entries.items())
    )
    for key, item in items:
        label = f"element {key!r} of {what}"
        if isinstance(item, ir.ListBinding | ir.DictBinding):
            _check_collection(ctx, pipeline, item, element, label, where)
        else:
            _check_flow(ctx, item, binding_type(ctx, pipeline, item, where), element, label, where)


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
            if is_artifact_parameter(param.type) and pipeline.name == ctx.doc.root:
                # The URI of an existing artifact, read by an importer task (lowering's desugar); an
                # optional one may be left out (None).
                problem = uri_problem(param.default, f"default of pipeline parameter {param.name!r}")
                absent = param.type.kind == "optional" and param.default is None
                if param.optional and problem and not absent:
                    ctx.report("bad-default", problem, where)
            elif param.type.kind == "artifact":
                # A sub-pipeline's: bound by its caller to an artifact a task made, so nothing to import.
                if param.optional:
                    ctx.report(
                        "bad-default",
                        f"sub-pipeline parameter {param.name!r} is a {param.type}: its caller binds it to "
                        "an artifact; a URI default applies only on the pipeline that is run",
                        where,
                    )
            elif is_artifact_parameter(param.type):
                ctx.report(
                    "artifact-parameter",
                    f"sub-pipeline parameter {param.name!r} is a {param.type}: its caller binds it to an "
                    "artifact, so it cannot be optional (only the pipeline that is run has optional "
                    "artifact parameters)",
                    where,
                )
            elif not param.type.is_parameter:
                ctx.report(
                    "artifact-parameter",
                    f"pipeline parameter {param.name!r} is a {param.type}; pipeline parameters must be JSON "
                    "values or, on the pipeline that is run, an artifact (ml.Dataset, ml.Model, "
                    "ml.Artifact) given by URI (load other objects in a step)",
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
            if isinstance(out.source, ir.ListBinding | ir.DictBinding):
                _check_collection(ctx, pipeline, out.source, out.type, what, pipeline.location)
                continue
            _check_flow(ctx, out.source, source, out.type, what, pipeline.location)
