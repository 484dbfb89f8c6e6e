"""``@ml.step``: a typed Python function that becomes one task wherever a pipeline calls it.

Outside a pipeline a step is its function: calling it runs it, so steps are unit-tested as plain Python.
Inside a pipeline being built, calling it records a task and returns a handle to its output(s). Mistakes
in the definition (missing annotations, ``*args``, a default that is not JSON, a bad option value) do not
stop the import of the user's module; they are reported, with the decorator's line, by the first build
that uses the step, together with every other problem of that build. Checking them needs the IR (pydantic),
which the decorator must not import: it also runs inside every step's container. An option the decorator
does not know, or a name that is not a string, is different: it costs nothing to see and would otherwise
be silently dropped, so it raises :class:`~mlopsdsl.errors.DefinitionError` at the decorator's line at once,
as Python itself raises for an unexpected keyword.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from mlopsdsl import _source
from mlopsdsl._tracing import Handle, OutputHandle, Poisoned, StructHandle, Trace, current_trace

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl.errors import Problem

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Step(Generic[P, R_co]):
    """A step function and its options. Created by :func:`step`."""

    def __init__(self, fn: Callable[P, R_co], name: str | None, options: dict[str, Any]) -> None:
        self.fn = fn
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", "step")
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)
        self.__module__ = getattr(fn, "__module__", "__main__")
        self.name = name or self.__name__
        self.options = options
        self.defined_at = _source.definition(fn) or _source.caller()
        self.takes_varargs = any(
            p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in inspect.signature(fn).parameters.values()
        )
        self._spec: tuple[ir.StepSpec, list[Problem], dict[str, str]] | None = None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        trace = current_trace()
        if trace is None:
            return self.fn(*args, **kwargs)
        return typing.cast(R_co, _call_in_trace(self, trace, args, kwargs))

    def map(
        self,
        *args: Any,
        max_parallel: int | None = None,
        allow_failures: bool | None = None,
        min_success: float | None = None,
        **kwargs: Any,
    ) -> list[R_co]:
        """Run the step once per element of the one argument that is a list of what its input takes.

        The other arguments go to every run as they are. Returns the outputs as a list, in input order;
        inside a pipeline, a handle to that list, which later steps take as a whole (fan-in).

        A tolerant map (``allow_failures`` or ``min_success``) lets elements fail: each failure is
        reported (its index and error) and left out, so the list holds the successful elements' results,
        in input order. The map itself fails only when fewer than ``min_success`` of its elements succeed.

        Args:
            *args: Arguments, as for a call.
            max_parallel: Most runs at once (on backends that can limit it).
            allow_failures: ``True``: any number of elements may fail (the same as ``min_success=0``).
            min_success: The fraction of elements (0 to 1) that must succeed, rounded up: ``0.9`` of 5
                elements is 5. Give this or ``allow_failures``, not both.
            **kwargs: Arguments, as for a call.
        """
        trace = current_trace()
        if trace is None:
            spec = self.spec()[0]
            fields = typing.get_type_hints(self.fn).get("return") if spec.returns.kind == "fields" else None
            label = f"step {self.name!r}"
            tolerance = plain_tolerance(label, allow_failures, min_success)
            return typing.cast(
                list[R_co], plain_map(self.fn, spec.inputs, label, args, kwargs, fields, tolerance)
            )
        tolerance = map_tolerance(trace, f"step {self.name!r}", allow_failures, min_success, _source.caller())
        return typing.cast(
            list[R_co],
            _call_in_trace(self, trace, args, kwargs, mapped=True, limit=max_parallel, tolerance=tolerance),
        )

    def __repr__(self) -> str:
        return f"<mlopsdsl step {self.name!r}>"

    def spec(self) -> tuple[ir.StepSpec, list[Problem], dict[str, str]]:
        """The IR of this step, the problems of its definition, and portable-to-display file names."""
        if self._spec is None:
            self._spec = _build_spec(self)
        return self._spec


def _call_in_trace(
    step: Step[Any, Any],
    trace: Trace,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    mapped: bool = False,
    limit: int | None = None,
    tolerance: float | None = None,
) -> Any:
    spec, problems, files = step.spec()
    for problem in problems:
        if problem not in trace.problems:
            trace.problems.append(problem)
    trace.portable.update(files)
    trace.steps.setdefault(spec.name, [])
    if not any(s is step for s, _ in trace.steps[spec.name]):
        trace.steps[spec.name].append((step, spec))
    ref = _source.caller()
    task_id = trace.new_task_id(spec.name)
    names = [p.name for p in spec.inputs]
    if step.takes_varargs:
        # *args / **kwargs were reported with the definition; do not report their arguments again here.
        args = args[: len(names)]
        kwargs = {k: v for k, v in kwargs.items() if k in names}
    label = f"step {spec.name!r}"
    inputs, failed = bind_arguments(trace, label, names, args, kwargs, ref)
    map_spec = (
        map_of(trace, label, spec.inputs, inputs, failed, names, args, kwargs, ref, limit, tolerance)
        if mapped
        else None
    )
    trace.add_task(task_id, "step", spec.name, inputs, failed, ref, map_spec)
    if mapped and map_spec is None:
        return Poisoned()  # reported; what uses the result is not reported again
    outputs = listed(spec.outputs) if mapped else spec.outputs
    return output_handles(trace, task_id, label, outputs, spec.returns.kind, ref)


def map_of(
    trace: Trace,
    label: str,
    params: list[ir.Param],
    inputs: dict[str, ir.Binding],
    failed: set[str],
    names: Sequence[str],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    ref: _source.SourceRef | None,
    limit: int | None,
    tolerance: float | None = None,
) -> ir.MapSpec | None:
    """The map of a ``.map(...)`` call: which input takes one element per run, and the parallelism.

    When no single input can be mapped (reported), the candidate lists are left unbound, so that they are
    not reported again as type mismatches.
    """
    from mlopsdsl import ir
    from mlopsdsl._control import mapped_input
    from mlopsdsl._keywords import closest

    for name in kwargs:
        # A keyword that is no input is reported by validation as an unknown argument, unless it looks
        # like a misspelled option of .map itself, which it then almost surely is.
        if name not in names and (option := closest(name, [*names, *MAP_OPTIONS])) in MAP_OPTIONS:
            message = f"{label}.map(): unknown option {name!r}; did you mean {option!r}?"
            trace.problem("unknown-option", message, ref)
            inputs.pop(name, None)
    values = {**dict(zip(names, args, strict=False)), **kwargs}
    which, candidates = mapped_input(trace, label, params, inputs, values, ref)
    if which is None:
        for name in candidates:
            inputs.pop(name, None)
            failed.add(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        trace.problem(
            "bad-max-parallel", f"max_parallel of {label}.map() must be a whole number of at least 1", ref
        )
        limit = None
    if which is None:
        return None
    return ir.MapSpec(input=which, max_parallel=limit, min_success=tolerance)


MAP_OPTIONS = ("max_parallel", "allow_failures", "min_success")
"""The options of ``.map`` itself (not arguments of the step)."""


def tolerance_problem(allow_failures: Any, min_success: Any) -> str | None:
    """What is wrong with a map's ``allow_failures`` / ``min_success``, or ``None``."""
    if allow_failures is not None and min_success is not None:
        return "give allow_failures or min_success, not both (allow_failures=True means min_success=0)"
    if allow_failures is not None and not isinstance(allow_failures, bool):
        return f"allow_failures must be True or False, got {allow_failures!r}"
    if isinstance(allow_failures, Handle) or isinstance(min_success, Handle):
        return (
            "allow_failures and min_success are written in the pipeline, not a parameter or a step's output"
        )
    if min_success is not None and (
        isinstance(min_success, bool)
        or not isinstance(min_success, int | float)
        or not 0 <= min_success <= 1  # also refuses NaN
    ):
        return (
            f"min_success must be a fraction from 0 to 1 (0.9: nine in ten must succeed), got {min_success!r}"
        )
    return None


def tolerance_of(allow_failures: bool | None, min_success: float | None) -> float | None:
    """The IR's ``min_success`` of valid options: ``None`` for a strict map."""
    if min_success is not None:
        return float(min_success)
    return 0.0 if allow_failures else None


def map_tolerance(
    trace: Trace, label: str, allow_failures: Any, min_success: Any, ref: _source.SourceRef | None
) -> float | None:
    """The ``min_success`` of a ``.map`` call inside a pipeline; a bad value is reported at its line."""
    problem = tolerance_problem(allow_failures, min_success)
    if problem is not None:
        trace.problem("bad-map-option", f"{label}.map(): {problem}", ref)
        return None
    return tolerance_of(allow_failures, min_success)


def plain_tolerance(label: str, allow_failures: Any, min_success: Any) -> float | None:
    """The ``min_success`` of a ``.map`` call outside a pipeline; a bad value raises at the call."""
    from mlopsdsl.errors import DefinitionError

    problem = tolerance_problem(allow_failures, min_success)
    if problem is not None:
        raise DefinitionError(f"{label}.map(): {problem}", _source.caller_location())
    return tolerance_of(allow_failures, min_success)


def listed(outputs: Sequence[ir.Output]) -> list[ir.Output]:
    """The outputs of a mapped task: a list of each output, one element per run."""
    from mlopsdsl import ir

    return [ir.Output(name=o.name, type=ir.TypeSpec(kind="list", items=o.type)) for o in outputs]


def plain_map(
    fn: Callable[..., Any],
    params: list[ir.Param],
    label: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    fields: Any = None,
    tolerance: float | None = None,
) -> Any:
    """``.map`` outside a pipeline: call ``fn`` once per element of the one list argument.

    With ``fields`` (the NamedTuple class of the outputs), the result is that NamedTuple holding a list
    per field, as a mapped task's outputs are inside a pipeline: ``pairs.low`` means the same everywhere.
    With ``tolerance`` (a tolerant map's ``min_success``), an element that raises is left out, as it is
    inside a pipeline; too few successes raise :class:`~mlopsdsl.errors.RunError` from the last error.
    """
    from mlopsdsl._keywords import unknown_keywords
    from mlopsdsl.errors import DefinitionError

    names = [p.name for p in params]
    unknown = unknown_keywords(kwargs, [*names, *MAP_OPTIONS], noun="argument")
    if unknown is not None:
        raise DefinitionError(f"{label}.map(): {unknown}", _source.caller_location())
    values = {**dict(zip(names, args, strict=False)), **kwargs}
    kinds = {p.name: p.type.kind for p in params}
    lists = [
        name
        for name, value in values.items()
        if isinstance(value, list | tuple)
        and (kinds.get(name) not in ("list", "json") or all(isinstance(v, list | tuple) for v in value))
    ]
    if len(lists) != 1:
        where = _source.caller_location()
        raise DefinitionError(f"{label}.map() needs exactly one argument that is a list to run over", where)
    name = lists[0]
    if tolerance is None:
        results = [fn(**{**values, name: item}) for item in values[name]]
    else:
        results = _tolerant(fn, values, name, label, tolerance)
    if fields is None:
        return Results(results)
    return fields(*([getattr(r, f) for r in results] for f in fields._fields))


def _tolerant(
    fn: Callable[..., Any], values: dict[str, Any], name: str, label: str, tolerance: float
) -> list[Any]:
    """The results of the elements that did not raise; raises when fewer than ``tolerance`` succeeded."""
    from mlopsdsl.errors import RunError
    from mlopsdsl.lowering._maps import verdict

    results: list[Any] = []
    failed: list[int] = []
    last: Exception | None = None
    for index, item in enumerate(values[name]):
        try:
            results.append(fn(**{**values, name: item}))
        except Exception as exc:  # the user's step raised: a failed element, as in a pipeline
            failed.append(index)
            last = exc
    problem = verdict(label, tolerance, len(values[name]), failed)
    if problem is not None:
        raise RunError(problem) from last
    return results


class Results(list):  # type: ignore[type-arg]
    """The results of ``.map`` outside a pipeline: a list whose attributes are a field of every element
    (``scores.name``), as a mapped task's results are inside a pipeline."""

    def __getattr__(self, field: str) -> list[Any]:
        if field.startswith("_"):
            raise AttributeError(field)
        from mlopsdsl.runtime._values import select

        try:
            return typing.cast(list[Any], select(list(self), [field]))
        except (AttributeError, KeyError, TypeError):
            raise AttributeError(f"the elements of these results have no field {field!r}") from None


def bind_arguments(
    trace: Trace,
    what: str,
    names: Sequence[str],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    ref: _source.SourceRef | None,
) -> tuple[dict[str, ir.Binding], set[str]]:
    """Bind arguments to input names: the bindings, and the names whose value could not be bound.

    Unknown names are kept, for validation to report with everything else.
    """
    bound: dict[str, Any] = {}
    if len(args) > len(names):
        trace.problem(
            "too-many-arguments",
            f"{what} takes {len(names)} argument{'s' if len(names) != 1 else ''} but {len(args)} were given",
            ref,
        )
    for name, value in zip(names, args, strict=False):
        bound[name] = value
    for name, value in kwargs.items():
        if name in bound:
            trace.problem("duplicate-argument", f"{what} got argument {name!r} twice", ref)
        bound[name] = value
    inputs: dict[str, ir.Binding] = {}
    failed: set[str] = set()
    for name, value in bound.items():
        binding = trace.bind(value, f"argument {name!r} of {what}", ref)
        if binding is not None:
            inputs[name] = binding
        else:
            failed.add(name)
    return dict(sorted(inputs.items())), failed


def output_handles(
    trace: Trace,
    task_id: str,
    label: str,
    outputs: Sequence[ir.Output],
    shape: str,
    ref: _source.SourceRef | None,
) -> Any:
    if shape == "single":
        return OutputHandle(trace, task_id, outputs[0].name, outputs[0].type, ref)
    fields = {o.name: OutputHandle(trace, task_id, o.name, o.type, ref) for o in outputs}
    return StructHandle(trace, task_id, fields, label)


# --------------------------------------------------------------------------- building the IR of a step


_OPTION_FIELDS = (
    "image",
    "packages",
    "resources",
    "retry",
    "timeout",
    "cache",
    "cache_max_age",
    "cache_ignore",
    "env",
    "secrets",
)
_K8S_FIELDS = ("node_selector", "tolerations", "volumes", "labels", "annotations", "pod")
OPTIONS = ("name", *_OPTION_FIELDS, *_K8S_FIELDS)
"""Every keyword ``@ml.step(...)`` takes (the overload of :func:`step` lists the same, a test checks)."""


def _build_spec(step: Step[Any, Any]) -> tuple[ir.StepSpec, list[Problem], dict[str, str]]:
    from mlopsdsl import ir
    from mlopsdsl._code import code_digest
    from mlopsdsl.errors import Location, Problem

    ref = step.defined_at
    where: Location | None = ref.location if ref else None
    problems: list[Problem] = []
    lines = _source.parameter_lines(step.fn)

    def problem(code: str, message: str, param: str | None = None) -> None:
        at = where
        if at is not None and param in lines:
            at = Location(at.file, lines[param])
        problems.append(Problem(at, code, message))

    fn = step.fn
    label = f"step {step.name!r}"
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve, say
        problem("bad-annotation", f"{label}: its annotations cannot be resolved: {exc}")
        hints = {}
    inputs: list[ir.Param] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            message = f"{label}: {star}{param.name} is not allowed; a step's inputs must be named"
            problem("var-args", message, param.name)
            continue
        if param.kind is param.POSITIONAL_ONLY:
            message = f"{label}: parameter {param.name!r} is positional-only; steps bind by name"
            problem("positional-only", message, param.name)
        inputs.append(_input(param, hints, label, functools.partial(_at_param, problem, param.name)))

    outputs: list[ir.Output] = []
    returns = ir.ReturnShape(kind="none")
    if "return" not in hints:
        problem(
            "missing-annotation",
            f"{label}: the return type is not annotated (write `-> None` if it returns nothing)",
        )
    else:
        outputs, returns = _outputs(hints["return"], label, functools.partial(problem, param="return"))

    options, option_problems = _options(step.options)
    for message in option_problems:
        problem("bad-option", f"{label}: {message}")
    names = {p.name for p in inputs}
    for name in options.cache_ignore:
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            problem(
                "bad-option", f"{label}: cache_ignore names {name!r}, which is not an input (inputs: {known})"
            )

    files: dict[str, str] = {}
    location = None
    if ref is not None:
        portable = ref.portable
        files[portable.file] = ref.location.file
        location = ir.SourceLocation(file=portable.file, line=portable.line)
    code = ir.CodeRef(
        module=step.__module__,
        qualname=step.__qualname__,
        file=location.file if location else "",
        digest=code_digest(fn),
    )
    spec = ir.StepSpec(
        name=step.name,
        description=inspect.cleandoc(fn.__doc__) if fn.__doc__ else None,
        code=code,
        inputs=inputs,
        outputs=outputs,
        returns=returns,
        options=options,
        location=location,
    )
    return dataclasses.replace(spec, digest=ir.step_digest(spec)), problems, files


def _at_param(problem: Callable[[str, str, str | None], None], param: str, code: str, message: str) -> None:
    problem(code, message, param)


def _input(
    param: inspect.Parameter, hints: dict[str, Any], label: str, problem: Callable[[str, str], None]
) -> ir.Param:
    """The IR of one input. A broken one is still kept (typed as any JSON value) so that calls binding it
    are not reported a second time for what the definition already was."""
    from mlopsdsl import ir
    from mlopsdsl._types import UnsupportedType, check_value, describe, to_json_value, to_spec

    name = param.name
    has_default = param.default is not param.empty
    broken = ir.Param(name=name, type=ir.TypeSpec(kind="json"), optional=has_default)
    if name not in hints:
        problem("missing-annotation", f"{label}: parameter {name!r} has no type annotation")
        return broken
    try:
        type_ = to_spec(hints[name])
    except UnsupportedType as exc:
        problem("unsupported-type", f"{label}: parameter {name!r}: {exc}")
        return broken
    if not has_default:
        return ir.Param(name=name, type=type_)
    if not type_.is_parameter:
        if param.default is not None:
            problem(
                "bad-default", f"{label}: {describe(hints[name])} input {name!r} can only default to None"
            )
        return ir.Param(name=name, type=type_, optional=True)
    default, ok = to_json_value(param.default)
    if not ok:
        kind = type(param.default).__name__
        problem("bad-default", f"{label}: default of {name!r} is a {kind}, which is not a JSON value")
        return broken
    mismatch = check_value(default, type_, f"default of {name!r}")
    if mismatch:
        problem("bad-default", f"{label}: {mismatch}")
        return broken
    return ir.Param(name=name, type=type_, optional=True, default=default)


def _outputs(
    annotation: Any, label: str, problem: Callable[[str, str], None]
) -> tuple[list[ir.Output], ir.ReturnShape]:
    from mlopsdsl import ir
    from mlopsdsl._types import UnsupportedType, to_spec, type_name

    if annotation is None or annotation is type(None):
        return [], ir.ReturnShape(kind="none")
    if isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields"):
        hints = typing.get_type_hints(annotation)
        outputs = []
        for field in annotation._fields:
            if field not in hints:
                problem("missing-annotation", f"{label}: NamedTuple field {field!r} has no type annotation")
                continue
            try:
                outputs.append(ir.Output(name=field, type=to_spec(hints[field])))
            except UnsupportedType as exc:
                problem("unsupported-type", f"{label}: output {field!r}: {exc}")
        return outputs, ir.ReturnShape(kind="fields", type=type_name(annotation))
    try:
        return [ir.Output(name="output", type=to_spec(annotation))], ir.ReturnShape(kind="single")
    except UnsupportedType as exc:
        problem("unsupported-type", f"{label}: return type: {exc}")
        return [], ir.ReturnShape(kind="none")


def _options(raw: dict[str, Any]) -> tuple[ir.StepOptions, list[str]]:
    """Check the decorator's options one by one, so each bad option is reported on its own."""
    from mlopsdsl import ir
    from mlopsdsl._keywords import unknown_keywords
    from mlopsdsl.options import parse_duration

    unknown = unknown_keywords(raw, OPTIONS)  # a Step(...) made without the decorator
    problems: list[str] = [unknown] if unknown is not None else []
    fields: dict[str, Any] = {}
    for key in _OPTION_FIELDS:
        if key in raw and raw[key] is not None:
            value = raw[key]
            if key in ("timeout", "cache_max_age"):
                try:
                    value = parse_duration(value, key)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
            fields[key] = value
    k8s = {key: raw[key] for key in _K8S_FIELDS if raw.get(key) is not None}
    checked: dict[str, Any] = {}
    kubernetes: dict[str, Any] = {}
    for into, owner, given in ((checked, ir.StepOptions, fields), (kubernetes, ir.Kubernetes, k8s)):
        hints = _field_types(owner)
        for key, value in given.items():
            value = _plain(value)
            found = _strict_problems(value, hints[key], key)
            if key == "env" and not found:
                problem = ir.env_name_problem(value)
                found = [f"option env: {problem}"] if problem is not None else []
            if found:
                problems.extend(found)
            else:
                into[key] = value
    problems.extend(env_problems(checked.get("env") or {}))
    if "env" in checked:
        checked["env"] = _sorted_maps(checked["env"])
    if kubernetes:
        checked["kubernetes"] = ir.Kubernetes(**_sorted_maps(kubernetes))
    return ir.StepOptions(**checked), problems


def _field_types(cls: type) -> dict[str, Any]:
    """The evaluated field types of an IR dataclass."""
    found = _FIELD_TYPES.get(cls)
    if found is None:
        found = _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return found


_FIELD_TYPES: dict[type, dict[str, Any]] = {}

_WANTED = {
    str: "a valid string",
    bool: "a valid boolean",
    int: "a valid integer",
    float: "a valid number",
    list: "a valid list",
    dict: "a valid dictionary",
}


def _strict_problems(value: Any, type_: Any, where: str) -> list[str]:
    """What keeps ``value`` from being a ``type_`` with no conversion (an option's field type: text, numbers,
    lists and dicts of them, option classes, each optional), one message per wrong part, each at its place
    (``env.A``).

    Raises:
        TypeError: ``type_`` is none of those: a new option field needs its type taught here.
    """
    origin = typing.get_origin(type_)
    if origin is types.UnionType or origin is typing.Union:
        members = [m for m in typing.get_args(type_) if m is not type(None)]
        if len(members) != 1:
            raise TypeError(f"option {where}: no strict check for {type_}")
        if value is None and len(members) < len(typing.get_args(type_)):
            return []
        return _strict_problems(value, members[0], where)
    if origin is list:
        if type(value) is not list:
            return [f"option {where}: Input should be {_WANTED[list]}, not {value!r}"]
        (item,) = typing.get_args(type_)
        return [p for i, v in enumerate(value) for p in _strict_problems(v, item, f"{where}.{i}")]
    if origin is dict:
        if type(value) is not dict:
            return [f"option {where}: Input should be {_WANTED[dict]}, not {value!r}"]
        key_type, item = typing.get_args(type_)
        found = []
        for key, v in value.items():
            found += _strict_problems(key, key_type, f"{where}.{key}.[key]")
            found += _strict_problems(v, item, f"{where}.{key}")
        return found
    if dataclasses.is_dataclass(type_):
        if type(value) is not type_:
            return [f"option {where} must be ml.{getattr(type_, '__name__', type_)}(...), not {value!r}"]
        return []
    if type_ not in _WANTED:
        raise TypeError(f"option {where}: no strict check for {type_}")
    ok = type(value) in (float, int) if type_ is float else type(value) is type_
    return [] if ok else [f"option {where}: Input should be {_WANTED[type_]}, not {value!r}"]


ENV_ITEM_LIMIT = 128 * 1024
"""The most bytes one ``NAME=value`` environment string may hold (Linux's ``MAX_ARG_STRLEN``, with its
NUL); a longer one makes starting the step fail with ``Argument list too long`` on every backend."""


def env_problems(env: Mapping[str, Any]) -> list[str]:
    """What no process could be started with: NUL bytes, ``=`` in a name, an item over the kernel's limit."""
    problems = []
    for name, value in env.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue  # reported by the option's own validation
        if "\x00" in name or "\x00" in value:
            problems.append(f"option env: {name!r} holds a NUL byte, which no environment variable can hold")
        elif "=" in name or not name:
            problems.append(f"option env: {name!r} is not a valid environment variable name")
        else:
            try:
                size = len(f"{name}={value}".encode()) + 1
            except UnicodeEncodeError:
                problems.append(f"option env: {name!r} is not valid UTF-8 text")
                continue
            if size > ENV_ITEM_LIMIT:
                problems.append(
                    f"option env: {name!r} is {size} bytes, over the {ENV_ITEM_LIMIT // 1024} KiB an "
                    "environment variable may hold (the kernel's MAX_ARG_STRLEN); pass it as a parameter "
                    "or in a file"
                )
    return problems


def _plain(value: Any) -> Any:
    """Option values as pydantic validates them: sequences as lists, mappings as dicts."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _sorted_maps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_maps(v) for k, v in sorted(value.items())}
    return value


# --------------------------------------------------------------------------- the decorator


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    image: str | None = None,
    packages: Sequence[str] | None = None,
    resources: ir.Resources | None = None,
    retry: ir.Retry | None = None,
    timeout: str | float | None = None,
    cache: bool | None = None,
    cache_max_age: str | float | None = None,
    cache_ignore: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[ir.Secret] | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[ir.Toleration] | None = None,
    volumes: Sequence[ir.Volume] | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    pod: ir.Pod | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, **options: Any) -> Any:
    """Make a typed function a pipeline step.

    Works bare (``@ml.step``) and with options (``@ml.step(image=..., retry=ml.Retry(attempts=3))``).

    Args:
        fn: The function, when used bare.
        name: The step's name; the function's name by default.
        image: Container image; the backend's default when left out.
        packages: pip requirements installed before the step runs on a cluster.
        resources: CPU, memory and accelerators (:class:`mlopsdsl.Resources`).
        retry: Retries with backoff (:class:`mlopsdsl.Retry`).
        timeout: Longest time one attempt may take: seconds or a duration such as ``"30m"``.
        cache: Reuse earlier results for the same code and inputs (on unless ``False``).
        cache_max_age: Reuse only results younger than this: seconds or a duration (``"7d"``).
        cache_ignore: Inputs the cache key leaves out (a seed, a log level), by name.
        env: Environment variables.
        secrets: Kubernetes secret keys exposed as environment variables (:class:`mlopsdsl.Secret`).
        node_selector: Kubernetes node labels the step's pod must match.
        tolerations: Kubernetes tolerations (:class:`mlopsdsl.Toleration`).
        volumes: Volumes to mount (:class:`mlopsdsl.Volume`).
        labels: Labels on the step's pod.
        annotations: Annotations on the step's pod.
        pod: Pod settings: service account, affinity, pull secrets, user, ``/dev/shm``, priority, a
            patch (:class:`mlopsdsl.Pod`); they win over the pipeline's ``pod``.

    Returns:
        A :class:`Step`, which behaves as the function outside a pipeline.
    """

    check_decorator("@ml.step", OPTIONS, options, {"name": name})

    def wrap(func: Callable[..., Any]) -> Step[Any, Any]:
        if isinstance(func, Step):
            func = func.fn
        if not callable(func):
            from mlopsdsl.errors import DefinitionError

            hint = f" (to name the step, write @ml.step(name={func!r}))" if isinstance(func, str) else ""
            message = f"@ml.step decorates functions, not {func!r}{hint}"
            raise DefinitionError(message, _source.caller_location())
        return Step(func, name, options)

    if fn is not None:
        return wrap(fn)
    return wrap


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_decorator(
    what: str, known: Sequence[str], options: Mapping[str, Any], strings: Mapping[str, object]
) -> None:
    """Raise at the decorator's line for what needs no IR to see: an unknown option, a name not a string.

    These cannot wait for the build, as bad option values do: a misspelled option would otherwise be
    dropped without a word, and a name that is not a string cannot even name the problems. Checking costs
    a set lookup, so the decorator stays cheap where it also runs, inside every step's container.

    Args:
        what: The decorator, as messages name it (``@ml.step``).
        known: Every keyword the decorator takes.
        options: The keywords given, besides those in ``strings``.
        strings: Options that must be a string or ``None``, by name.
    """
    from mlopsdsl._keywords import unknown_keywords

    problem = unknown_keywords(options, known)
    for option, value in strings.items():
        if problem is None and value is not None and not isinstance(value, str):
            problem = f"{option} must be a string, not {value!r}"
        elif problem is None and isinstance(value, str) and not _encodable(value):
            problem = f"{option} is not valid UTF-8 text (it holds a lone surrogate): {ascii(value)[:60]}"
    if problem is not None:
        from mlopsdsl.errors import DefinitionError

        raise DefinitionError(f"{what}(...): {problem}", _source.caller_location())
