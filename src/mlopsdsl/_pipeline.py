"""``@ml.pipeline``: a typed function whose body, traced once, becomes the IR.

Building calls the function with handles in place of its parameters, records every step call as a task,
then validates the IR and raises one :class:`~mlopsdsl.errors.ValidationError` listing every problem.
Called inside another pipeline, a pipeline becomes a sub-pipeline task; called anywhere else it is its
function, so running it with real values runs every step in process, as plain Python.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from mlopsdsl import _source
from mlopsdsl._step import Step, bind_arguments, check_decorator, listed, map_of, output_handles
from mlopsdsl._tracing import Handle, ParamHandle, Poisoned, StructHandle, Trace, current_trace

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl.errors import Location, Problem

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Pipeline(Generic[P, R_co]):
    """A pipeline function. Created by :func:`pipeline`."""

    def __init__(
        self,
        fn: Callable[P, R_co],
        name: str | None,
        description: str | None,
        schedule: str | ir.Schedule | None = None,
        on_exit: Step[..., Any] | None = None,
        pod: ir.Pod | None = None,
    ) -> None:
        self.fn = fn
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", "pipeline")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", "__main__")
        self.name = name or self.__name__
        self.description = (
            description if description is not None else (inspect.cleandoc(fn.__doc__) if fn.__doc__ else None)
        )
        self.schedule = schedule
        self.on_exit = on_exit
        self.pod = pod
        self.defined_at = _source.definition(fn) or _source.caller()
        self._built: _Build | None = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        trace = current_trace()
        if trace is None:
            return typing.cast(R_co, self._call_plain(args, kwargs))
        return typing.cast(R_co, _call_in_trace(self, trace, args, kwargs))

    def map(
        self,
        *args: Any,
        max_parallel: int | None = None,
        allow_failures: bool | None = None,
        min_success: float | None = None,
        **kwargs: Any,
    ) -> list[R_co]:
        """Run the pipeline once per element of the one argument that is a list of what it takes.

        As :meth:`Step.map`; inside another pipeline this nests a mapped sub-pipeline (nested fan-out).
        ``allow_failures`` and ``min_success`` are refused (reported at this line): a mapped sub-pipeline
        is not a tolerant map; make the map of a step inside it tolerant.
        """
        from mlopsdsl._step import plain_map

        trace = current_trace()
        if allow_failures is not None or min_success is not None:
            message = (
                f"pipeline {self.name!r}.map(): a sub-pipeline's map cannot be tolerant (allow_failures, "
                "min_success); make the map of a step inside it tolerant"
            )
            if trace is None:
                from mlopsdsl.errors import DefinitionError

                raise DefinitionError(message, _source.caller_location())
            trace.problem("bad-map-option", message, _source.caller())
        if trace is None:
            params = self._build(None).document.pipeline.params
            run_one = functools.partial(self._call_plain, ())
            label = f"pipeline {self.name!r}"
            return typing.cast(list[R_co], plain_map(lambda **v: run_one(v), params, label, args, kwargs))
        return typing.cast(
            list[R_co], _call_in_trace(self, trace, args, kwargs, mapped=True, limit=max_parallel)
        )

    def _call_plain(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The function as plain Python; the exit handler runs afterwards, told how it ended."""
        if self.on_exit is None:
            return self.fn(*args, **kwargs)
        bound = inspect.signature(self.fn).bind(*args, **kwargs)
        bound.apply_defaults()
        status = "Failed"
        try:
            result = self.fn(*args, **kwargs)
            status = "Succeeded"
            return result
        finally:
            wanted = inspect.signature(self.on_exit.fn).parameters
            values = {k: v for k, v in bound.arguments.items() if k in wanted}
            if "status" in wanted:
                values["status"] = status
            self.on_exit(**values)

    def build(self) -> ir.Document:
        """The validated IR. Raises :class:`~mlopsdsl.errors.ValidationError` listing every problem."""
        from mlopsdsl.errors import ValidationError

        built = self._build(None)
        if built.problems:
            raise ValidationError(built.problems)
        return built.document

    def locate(self, where: ir.SourceLocation | Location | None) -> Location | None:
        """A location from this pipeline's IR (or a compile error's) as the user should see it (their path
        to the file)."""
        from mlopsdsl.errors import Location

        if where is None:
            return None
        return Location(self._build(None).portable.get(where.file, where.file), where.line)

    def step_functions(self) -> dict[str, Callable[..., Any]]:
        """The function of every step this pipeline runs, by step name, sub-pipelines' steps included.

        The local runner and the compilers ship these by value; everything else they read from the IR.
        """
        return dict(self._build(None).functions)

    def problems(self) -> list[Problem]:
        """Every problem of this pipeline, without raising."""
        return list(self._build(None).problems)

    def _build(self, parent: Trace | None) -> _Build:
        if self._built is None or parent is not None:
            from mlopsdsl._gc import paused

            with paused():
                built = _trace(self, parent)
            if parent is None:
                self._built = built
            return built
        return self._built

    def __repr__(self) -> str:
        from mlopsdsl.graph import summary

        try:
            doc = self._build(None).document
        except Exception:  # a repr must not raise, even for a pipeline that cannot be traced
            return f"<mlopsdsl pipeline {self.name!r} (cannot be built)>"
        return summary(doc, self._build(None).problems)

    def _repr_html_(self) -> str:
        from mlopsdsl.graph import to_html

        try:
            built = self._build(None)
        except Exception as exc:  # the notebook shows what went wrong instead of a traceback
            import html

            return f"<pre>pipeline {html.escape(self.name)!s} cannot be built: {html.escape(repr(exc))}</pre>"
        return to_html(built.document, built.problems)


class _Build:
    """The result of tracing: the IR, however broken, and every problem found."""

    def __init__(
        self,
        document: ir.Document,
        problems: list[Problem],
        portable: dict[str, str],
        functions: dict[str, Callable[..., Any]] | None = None,
    ) -> None:
        self.document = document
        self.problems = problems
        self.portable = portable
        self.functions = functions or {}
        """Step name -> the step's function, sub-pipelines' steps included (for shipping code by value)."""


def _trace(pipeline: Pipeline[Any, Any], parent: Trace | None) -> _Build:
    from mlopsdsl import ir
    from mlopsdsl.errors import Location, Problem
    from mlopsdsl.validate import validate

    trace = Trace(pipeline, parent)
    params = _parameters(pipeline, trace)
    handles = {p.name: ParamHandle(trace, p.name, p.type, pipeline.defined_at) for p in params}
    with trace:
        result = pipeline.fn(**handles)
    outputs = _pipeline_outputs(pipeline, trace, result)
    location = trace.remember(pipeline.defined_at)
    tasks = [
        ir.Task(
            id=t["id"],
            step=t.get("step"),
            pipeline=t.get("pipeline"),
            inputs=t["inputs"],
            after=sorted(t["after"]),
            group=t["group"],
            map=t["map"],
            location=t["location"],
        )
        for t in trace.tasks
    ]
    on_exit = _exit_task(pipeline, trace, params) if pipeline.on_exit is not None else None
    spec = ir.PipelineSpec(
        name=pipeline.name,
        description=pipeline.description,
        schedule=_schedule(pipeline, trace),
        pod=_pod(pipeline, trace),
        params=params,
        outputs=outputs,
        tasks=tasks,
        groups=trace.groups,
        on_exit=on_exit,
        location=location,
    )
    steps = _unique(trace, "step", trace.steps)
    subs: dict[str, ir.PipelineSpec] = {}
    for name, docs in sorted(trace.subpipelines.items()):
        _unique(trace, "pipeline", {name: [(p, d.pipeline) for p, d in docs]})
        for _, doc in docs[:1]:
            for sub in doc.pipelines:
                subs.setdefault(sub.name, sub)
            for step_spec in doc.steps:
                steps.setdefault(step_spec.name, step_spec)
    if pipeline.name in subs:
        trace.problem(
            "name-collision",
            f"pipeline {pipeline.name!r} has a sub-pipeline of the same name",
            pipeline.defined_at,
        )
        subs.pop(pipeline.name)
    document = _finish(spec, [subs[n] for n in sorted(subs)], [steps[n] for n in sorted(steps)])
    unbound = {(pipeline.name, task): names for task, names in trace.unbound.items() if names}
    problems = list(trace.problems)
    for problem in validate(document, unbound):
        loc = problem.location
        if loc is not None:
            loc = Location(trace.portable.get(loc.file, loc.file), loc.line)
        problems.append(Problem(loc, problem.code, problem.message))
    functions = {name: entries[0][0].fn for name, entries in trace.steps.items()}
    for name, fn in trace.sub_functions.items():
        functions.setdefault(name, fn)
    return _Build(document, list(dict.fromkeys(problems)), trace.portable, functions)


def _exit_task(pipeline: Pipeline[Any, Any], trace: Trace, params: list[ir.Param]) -> ir.Task | None:
    """The exit handler's task: its ``status`` input gets how the pipeline ended, and inputs named like a
    pipeline parameter get that parameter."""
    from mlopsdsl import ir
    from mlopsdsl._step import _call_in_trace as record_step

    step = pipeline.on_exit
    ref = pipeline.defined_at
    if not isinstance(step, Step):
        trace.problem("bad-exit-handler", f"on_exit must be an @ml.step, not {step!r}", ref)
        return None
    spec = step.spec()[0]
    known = {p.name for p in params}
    kwargs: dict[str, Any] = {}
    missing = set()
    for param in spec.inputs:
        if param.name in known:
            kwargs[param.name] = ParamHandle(trace, param.name, param.type, ref)
        elif param.name != "status" and not param.optional:
            missing.add(param.name)
            trace.problem(
                "bad-exit-handler",
                f"exit handler {spec.name!r}: input {param.name!r} has no value; an exit handler's inputs "
                "are `status` (how the pipeline ended) and parameters of the pipeline, by name",
                ref,
            )
    before = len(trace.tasks)
    record_step(step, trace, (), kwargs)
    task = trace.tasks.pop(before)
    trace.unbound[task["id"]] |= missing  # reported above, not again as missing
    inputs = dict(task["inputs"])
    if any(p.name == "status" for p in spec.inputs):
        inputs["status"] = ir.StatusBinding()
    where = trace.remember(ref)
    return ir.Task(id=task["id"], step=spec.name, inputs=dict(sorted(inputs.items())), location=where)


def _unique(trace: Trace, kind: str, found: Mapping[str, list[tuple[Any, Any]]]) -> dict[str, Any]:
    """One spec per name; different definitions under one name are a collision."""
    out = {}
    for name, entries in found.items():
        first = entries[0][1]
        for obj, spec in entries[1:]:
            if _comparable(spec) != _comparable(first):
                where = getattr(obj, "defined_at", None)
                other = getattr(entries[0][0], "defined_at", None)
                at = f" (the other is at {other.location})" if other is not None else ""
                trace.problem(
                    "name-collision",
                    f"two different {kind}s are named {name!r}{at}; rename one with name=",
                    where,
                )
        out[name] = first
    return out


def _comparable(spec: Any) -> Any:
    from mlopsdsl import ir

    return ir.dump(spec, skip=frozenset({"location", "digest"}))


def _finish(root: ir.PipelineSpec, subs: list[ir.PipelineSpec], steps: list[ir.StepSpec]) -> ir.Document:
    from mlopsdsl import ir

    return ir.Document(root=root.name, pipelines=[root, *subs], steps=steps).with_digests()


def _parameters(pipeline: Pipeline[Any, Any], trace: Trace) -> list[ir.Param]:
    from mlopsdsl import ir
    from mlopsdsl._types import UnsupportedType, to_json_value, to_spec

    label = f"pipeline {pipeline.name!r}"
    defined = pipeline.defined_at
    try:
        hints = typing.get_type_hints(pipeline.fn, include_extras=True)
    except Exception as exc:
        trace.problem("bad-annotation", f"{label}: its annotations cannot be resolved: {exc}", defined)
        hints = {}
    params = []
    lines = _source.parameter_lines(pipeline.fn)
    for param in inspect.signature(pipeline.fn).parameters.values():
        ref = defined
        if defined is not None and param.name in lines:
            ref = _source.SourceRef(defined.filename, lines[param.name], defined.module)
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            trace.problem(
                "var-args", f"{label}: {star}{param.name} is not allowed; parameters must be named", ref
            )
            continue
        if param.name not in hints:
            trace.problem(
                "missing-annotation", f"{label}: parameter {param.name!r} has no type annotation", ref
            )
            type_ = ir.TypeSpec(kind="json")
        else:
            try:
                type_ = to_spec(hints[param.name])
            except UnsupportedType as exc:
                trace.problem("unsupported-type", f"{label}: parameter {param.name!r}: {exc}", ref)
                type_ = ir.TypeSpec(kind="json")
        default: Any = None
        optional = param.default is not param.empty
        if optional:
            default, ok = to_json_value(param.default)
            if not ok and type_.is_parameter:  # a non-JSON type is reported as such by validation
                kind = type(param.default).__name__
                trace.problem(
                    "bad-default",
                    f"{label}: default of {param.name!r} is a {kind}, which is not a JSON value",
                    ref,
                )
            if not ok:
                optional, default = False, None
        params.append(
            ir.Param(
                name=param.name, type=type_, optional=optional, default=default, location=trace.remember(ref)
            )
        )
    return params


def _pipeline_outputs(pipeline: Pipeline[Any, Any], trace: Trace, result: Any) -> list[ir.PipelineOutput]:
    from mlopsdsl import ir
    from mlopsdsl._types import UnsupportedType, to_spec

    ref = pipeline.defined_at
    annotation = typing.get_type_hints(pipeline.fn).get("return") if _annotations_ok(pipeline.fn) else None
    named: dict[str, Any]
    if result is None:
        return []
    if isinstance(result, StructHandle):
        named = dict(result._fields)
    elif isinstance(result, dict):
        named = {str(k): v for k, v in result.items()}
    elif isinstance(result, tuple):
        fields = getattr(annotation, "_fields", None) or getattr(result, "_fields", None)
        names = (
            list(fields)
            if fields and len(fields) == len(result)
            else [f"output_{i}" for i in range(len(result))]
        )
        named = dict(zip(names, result, strict=True))
    else:
        named = {"output": result}
    declared: dict[str, Any] = {}
    if annotation is not None and isinstance(annotation, type) and hasattr(annotation, "_fields"):
        declared = typing.get_type_hints(annotation)
    elif annotation is not None and len(named) == 1 and "output" in named:
        declared = {"output": annotation}
    outputs = []
    for name, value in named.items():
        binding = trace.bind(value, f"output {name!r} of pipeline {pipeline.name!r}", ref)
        if binding is None:
            continue
        type_: ir.TypeSpec | None = None
        if name in declared:
            try:
                type_ = to_spec(declared[name])
            except UnsupportedType as exc:
                trace.problem("unsupported-type", f"pipeline {pipeline.name!r}: output {name!r}: {exc}", ref)
        if type_ is None:
            type_ = value._type if isinstance(value, Handle) else ir.TypeSpec(kind="json")
        made = trace.remember(value._ref) if isinstance(value, Handle) else None
        outputs.append(ir.PipelineOutput(name=name, type=type_, source=binding, location=made))
    return outputs


def _annotations_ok(fn: Callable[..., Any]) -> bool:
    try:
        typing.get_type_hints(fn)
    except Exception:
        return False
    return True


def _call_in_trace(
    pipeline: Pipeline[Any, Any],
    trace: Trace,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    mapped: bool = False,
    limit: int | None = None,
) -> Any:
    ref = _source.caller()
    task_id = trace.new_task_id(pipeline.name)
    if any(t.pipeline is pipeline for t in trace.ancestors()):
        chain = " -> ".join(t.pipeline.name for t in reversed(list(trace.ancestors())))
        trace.problem(
            "recursion", f"pipeline {pipeline.name!r} calls itself ({chain} -> {pipeline.name})", ref
        )
        return StructHandle(trace, task_id, {}, f"recursive call of {pipeline.name!r}")
    built = pipeline._build(trace)
    for problem in built.problems:
        if problem not in trace.problems:
            trace.problems.append(problem)
    trace.portable.update(built.portable)
    for name, fn in built.functions.items():
        trace.sub_functions.setdefault(name, fn)
    doc = built.document
    trace.subpipelines.setdefault(pipeline.name, [])
    if not any(p is pipeline for p, _ in trace.subpipelines[pipeline.name]):
        trace.subpipelines[pipeline.name].append((pipeline, doc))
    spec = doc.pipeline
    names = [p.name for p in spec.params]
    label = f"pipeline {spec.name!r}"
    inputs, failed = bind_arguments(trace, label, names, args, kwargs, ref)
    map_spec = (
        map_of(trace, label, spec.params, inputs, failed, names, args, kwargs, ref, limit) if mapped else None
    )
    trace.add_task(task_id, "pipeline", spec.name, inputs, failed, ref, map_spec)
    if mapped and map_spec is None:
        return Poisoned()
    outs = [_as_output(o) for o in spec.outputs]
    shape = "single" if len(outs) == 1 and outs[0].name == "output" else "fields"
    if mapped:
        outs = listed(outs)
    return output_handles(trace, task_id, f"pipeline {spec.name!r}", outs, shape, ref)


def _as_output(out: ir.PipelineOutput) -> ir.Output:
    from mlopsdsl import ir

    return ir.Output(name=out.name, type=out.type)


def _schedule(pipeline: Pipeline[Any, Any], trace: Trace) -> ir.Schedule | None:
    from mlopsdsl.options import Schedule

    value = pipeline.schedule
    if value is None or isinstance(value, Schedule):
        return value
    if isinstance(value, str):
        return Schedule(cron=value)
    message = f"@ml.pipeline(schedule=...) must be a cron string or ml.Schedule(...), not {value!r}"
    trace.problem("bad-option", message, pipeline.defined_at)
    return None


def _pod(pipeline: Pipeline[Any, Any], trace: Trace) -> ir.Pod | None:
    from mlopsdsl.options import Pod

    if pipeline.pod is None or isinstance(pipeline.pod, Pod):
        return pipeline.pod
    message = f"@ml.pipeline(pod=...) must be ml.Pod(...), not {pipeline.pod!r}"
    trace.problem("bad-option", message, pipeline.defined_at)
    return None


OPTIONS = ("name", "description", "schedule", "on_exit", "pod")
"""Every keyword ``@ml.pipeline(...)`` takes (its overload lists the same, a test checks)."""


@overload
def pipeline(fn: Callable[P, R], /) -> Pipeline[P, R]: ...


@overload
def pipeline(
    *,
    name: str | None = None,
    description: str | None = None,
    schedule: str | ir.Schedule | None = None,
    on_exit: Step[..., Any] | None = None,
    pod: ir.Pod | None = None,
) -> Callable[[Callable[P, R]], Pipeline[P, R]]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    schedule: str | ir.Schedule | None = None,
    on_exit: Step[..., Any] | None = None,
    pod: ir.Pod | None = None,
    **unknown: Any,
) -> Any:
    """Make a typed function a pipeline.

    Works bare (``@ml.pipeline``) and with options (``@ml.pipeline(name="training")``). The function's
    parameters, with their defaults, are the pipeline's parameters; what it returns (a handle, a tuple or
    a dict of handles) are its outputs.

    Args:
        fn: The function, when used bare.
        name: The pipeline's name; the function's name by default.
        description: Shown by backends; the docstring by default.
        schedule: When the published pipeline runs by itself: a cron schedule (``"0 3 * * *"``,
            ``"@daily"``) or :class:`mlopsdsl.Schedule` with time zone, concurrency, catch-up...
            ``mlopsdsl publish`` makes a KFP recurring run or an Argo CronWorkflow of it.
        on_exit: A step that runs when the pipeline ends, whether it succeeded or failed. Its ``status``
            input gets ``"Succeeded"`` or ``"Failed"``; inputs named like pipeline parameters get them.
        pod: Pod settings every step starts from (:class:`mlopsdsl.Pod`); a step's own ``pod`` wins,
            setting by setting. Only the pipeline that is run sets them, not one called as a sub-pipeline.

    Returns:
        A :class:`Pipeline`.
    """

    strings = {"name": name, "description": description}
    check_decorator("@ml.pipeline", OPTIONS, unknown, strings)
    if schedule is not None and not isinstance(schedule, str):
        from mlopsdsl.options import Schedule

        if not isinstance(schedule, Schedule):
            from mlopsdsl.errors import DefinitionError

            message = (
                f"@ml.pipeline(...): schedule must be a cron string or ml.Schedule(...), not {schedule!r}"
            )
            raise DefinitionError(message, _source.caller_location())

    def wrap(func: Callable[..., Any]) -> Pipeline[Any, Any]:
        if isinstance(func, Pipeline):
            func = func.fn
        if not callable(func):
            from mlopsdsl.errors import DefinitionError

            named = isinstance(func, str)
            hint = f" (to name the pipeline, write @ml.pipeline(name={func!r}))" if named else ""
            message = f"@ml.pipeline decorates functions, not {func!r}{hint}"
            raise DefinitionError(message, _source.caller_location())
        return Pipeline(func, name, description, schedule, on_exit, pod)

    if fn is not None:
        return wrap(fn)
    return wrap
