"""Tracing: turning a pipeline function's body into tasks and bindings.

While ``@ml.pipeline`` builds, the active :class:`Trace` lives in a ``ContextVar`` (never in a global or a
class attribute), so building is thread-safe and nests for sub-pipelines. Step calls made while a trace is
active record a task and return a *handle*: a stand-in for a value that will exist only when the pipeline
runs. Handles refuse what cannot work at build time (``if handle:``, ``for x in handle``, comparing it),
but instead of stopping at the first mistake they record a problem and let the build go on, so that one
build reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from mlopsdsl._source import SourceRef, caller
from mlopsdsl.errors import Problem

if TYPE_CHECKING:
    from mlopsdsl import ir

_current: ContextVar[Trace | None] = ContextVar("mlopsdsl_trace", default=None)


def current_trace() -> Trace | None:
    return _current.get()


class Trace:
    """The state of one pipeline being built: its tasks, and the problems found so far."""

    def __init__(self, pipeline: Any, parent: Trace | None) -> None:
        self.pipeline = pipeline
        self.parent = parent
        self.tasks: list[dict[str, Any]] = []
        self.problems: list[Problem] = []
        self.steps: dict[str, list[tuple[Any, ir.StepSpec]]] = {}
        self.subpipelines: dict[str, list[tuple[Any, ir.Document]]] = {}
        self.sub_functions: dict[str, Any] = {}
        """Step name -> function, for the steps of sub-pipelines (shipped by value by the runners)."""
        self.portable: dict[str, str] = {}
        """Portable IR file name -> the path shown to the user, for problems found on the IR."""
        self.unbound: dict[str, set[str]] = {}
        self.after_stack: list[list[str]] = []
        self.groups: list[ir.Group] = []
        self.group_stack: list[str] = []
        self.last_when: dict[str | None, str] = {}
        """Per enclosing group: the ``when`` block that just closed there, for an ``otherwise`` to follow."""
        self._ids: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        self._labels: set[str] = set()
        self._token: Any = None
        self._locations: dict[tuple[str, int, str | None], ir.SourceLocation] = {}

    def __enter__(self) -> Trace:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)

    def ancestors(self) -> Iterator[Trace]:
        trace: Trace | None = self
        while trace is not None:
            yield trace
            trace = trace.parent

    def problem(self, code: str, message: str, ref: SourceRef | None) -> None:
        self.problems.append(Problem(ref.location if ref else None, code, message))

    def remember(self, ref: SourceRef | None) -> ir.SourceLocation | None:
        """The IR form of ``ref``, remembering how to show it to the user."""
        from mlopsdsl import ir

        if ref is None:
            return None
        key = (ref.filename, ref.line, ref.module)
        found = self._locations.get(key)
        if found is None:  # a step called in a loop comes back to the same line: one model per place
            portable = ref.portable
            self.portable[portable.file] = ref.location.file
            found = self._locations[key] = ir.SourceLocation(file=portable.file, line=portable.line)
        return found

    def after_block(self) -> list[str]:
        """Tasks that every task recorded now must follow (from enclosing ``with ml.after(...)`` blocks)."""
        return [task for block in self.after_stack for task in block]

    @property
    def group(self) -> str | None:
        """The innermost open ``when``/``otherwise`` block; ``None`` is the pipeline body."""
        return self.group_stack[-1] if self.group_stack else None

    def add_task(
        self,
        task_id: str,
        kind: str,
        callee: str,
        inputs: dict[str, ir.Binding],
        unbound: set[str],
        ref: SourceRef | None,
        map_spec: ir.MapSpec | None = None,
    ) -> None:
        """Record a task. ``unbound`` names inputs whose value was bad (already reported), so that
        validation does not report them missing as well."""
        after = list(dict.fromkeys(self.after_block()))
        self.tasks.append(
            {
                "id": task_id,
                kind: callee,
                "inputs": inputs,
                "after": after,
                "group": self.group,
                "map": map_spec,
                "location": self.remember(ref),
            }
        )
        self.unbound[task_id] = unbound
        self.last_when.pop(self.group, None)

    def new_group_id(self, kind: str) -> str:
        count = sum(1 for g in self.groups if g.kind == kind) + 1
        return f"{kind}-{count}"

    def new_task_id(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``...: unique here, and still unique as Kubernetes names."""
        from mlopsdsl.naming import k8s_name

        n = self._next_suffix.get(base, 1)
        task_id = base if n == 1 else f"{base}-{n}"
        while task_id in self._ids or (label := k8s_name(task_id)) in self._labels:
            n += 1
            task_id = f"{base}-{n}"
        self._next_suffix[base] = n + 1
        self._ids.add(task_id)
        self._labels.add(label)
        return task_id

    def bind(self, value: Any, what: str, ref: SourceRef | None) -> ir.Binding | None:
        """The binding for an argument value, or ``None`` (with a problem recorded) when there is none."""
        from mlopsdsl import ir
        from mlopsdsl._types import to_json_value

        if isinstance(value, Handle):
            return value._binding_in(self, what, ref)
        if isinstance(value, Poisoned):
            return None  # what made it was reported where it happened
        if isinstance(value, StructHandle):
            if not value._fields:
                self.problem(
                    "no-output", f"{what}: {value._label} returns None, so it has no output to pass", ref
                )
                return None
            names = ", ".join(f".{n}" for n in value._fields)
            self.problem(
                "whole-struct",
                f"{what}: {value._label} has several outputs; pass one of them ({names})",
                ref,
            )
            return None
        json_value, ok = to_json_value(value)
        if ok:
            return ir.ConstantBinding(value=json_value)
        if _contains_handle(value):
            return self._bind_collection(value, what, ref)
        else:
            self.problem(
                "non-json-literal",
                f"{what}: a {type(value).__name__} written in the pipeline cannot be passed to a step; "
                "literals must be JSON values (produce other objects in a step)",
                ref,
            )
        return None

    def _bind_collection(self, value: Any, what: str, ref: SourceRef | None) -> ir.Binding | None:
        """A list, tuple or dict holding step outputs: the fan-in of independent values into one input."""
        from mlopsdsl import ir

        if isinstance(value, list | tuple):
            items = [self.bind(item, f"{what}[{i}]", ref) for i, item in enumerate(value)]
            if any(item is None for item in items):
                return None
            return ir.ListBinding(items=[item for item in items if item is not None])
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            entries = {key: self.bind(item, f"{what}[{key!r}]", ref) for key, item in value.items()}
            if any(item is None for item in entries.values()):
                return None
            return ir.DictBinding(entries={k: v for k, v in entries.items() if v is not None})
        kind = type(value).__name__
        self.problem(
            "handle-in-literal",
            f"{what}: a {kind} holding step outputs cannot be passed; use a list, or a dict with str "
            f"keys, or build the {kind} in a step",
            ref,
        )
        return None


def _contains_handle(value: Any) -> bool:
    if isinstance(value, Handle | StructHandle | Poisoned):
        return True
    if isinstance(value, list | tuple | set):
        return any(_contains_handle(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_handle(v) for v in value.values())
    return False


class _Misuse:
    """What handles say when Python asks them for a value they do not have yet."""

    _trace: Trace

    @property
    def _label(self) -> str:
        """How error messages name this handle."""
        raise NotImplementedError

    def _misuse(self, code: str, message: str) -> None:
        self._trace.problem(code, message, caller())

    def __bool__(self) -> bool:
        self._misuse(
            "handle-as-bool",
            f"{self._label} has no value while the pipeline is built, so it cannot be used in an `if`, "
            "`while`, `and`/`or` or bool(); use `with ml.when(...)` for a condition that is decided when "
            "the pipeline runs",
        )
        return True

    def __iter__(self) -> Iterator[Any]:
        self._misuse(
            "handle-as-iterable",
            f"{self._label} has no value while the pipeline is built, so it cannot be looped over or "
            "unpacked; use `step.map(...)` to run a step for each element when the pipeline runs",
        )
        return iter(())

    def __len__(self) -> int:
        self._misuse(
            "handle-len",
            f"{self._label} has no value while the pipeline is built, so len() cannot be taken; compute "
            "it in a step",
        )
        return 0

    def __format__(self, spec: str) -> str:
        self._misuse(
            "handle-as-str",
            f"{self._label} has no value while the pipeline is built, so it cannot be formatted into a "
            "string; build the string in a step",
        )
        return f"<{self._label}>"

    def __str__(self) -> str:
        return self.__format__("")

    def _compare(self, op: str, other: object) -> Any:
        from mlopsdsl._control import compare

        return compare(self._trace, self, op, other)

    def __lt__(self, other: object) -> Any:
        return self._compare("<", other)

    def __le__(self, other: object) -> Any:
        return self._compare("<=", other)

    def __gt__(self, other: object) -> Any:
        return self._compare(">", other)

    def __ge__(self, other: object) -> Any:
        return self._compare(">=", other)

    def __eq__(self, other: object) -> Any:
        return self._compare("==", other)

    def __ne__(self, other: object) -> Any:
        return self._compare("!=", other)

    __hash__ = object.__hash__

    def _arithmetic(self, *other: object) -> Poisoned:
        self._misuse(
            "handle-arithmetic",
            f"{self._label} has no value while the pipeline is built, so Python operators cannot compute "
            "with it; do the computation in a step",
        )
        return Poisoned()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _arithmetic
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _arithmetic
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __neg__ = __pos__ = __abs__ = _arithmetic
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __invert__ = _arithmetic

    def __getitem__(self, key: object) -> Any:
        self._misuse(
            "handle-index",
            f"{self._label} has no value while the pipeline is built, so it cannot be indexed; pass it to a "
            "step that picks the element, or use `step.map(...)` to run a step for each element",
        )
        return Poisoned()


class Handle(_Misuse):
    """A value that will exist when the pipeline runs: a step's output or a pipeline parameter."""

    __slots__ = ("_after", "_path", "_ref", "_trace", "_type")

    def __init__(
        self, trace: Trace, type_: ir.TypeSpec, ref: SourceRef | None, path: tuple[str, ...]
    ) -> None:
        self._trace = trace
        self._type = type_
        self._ref = ref
        self._path = path

    def _source_binding(self) -> ir.Binding:
        raise NotImplementedError

    def _with_path(self, field: str, type_: ir.TypeSpec) -> Handle:
        raise NotImplementedError

    def _binding_in(self, trace: Trace, what: str, ref: SourceRef | None) -> ir.Binding | None:
        if trace is not self._trace:
            built = "another pipeline" if self._trace.pipeline is not trace.pipeline else "an earlier build"
            trace.problem(
                "foreign-handle",
                f"{what}: {self._label} belongs to {built} ({_pipeline_name(self._trace)}); pass values into "
                "a sub-pipeline as its arguments",
                ref,
            )
            return None
        return self._source_binding()

    def __getattr__(self, field: str) -> Any:
        if field.startswith("_"):
            raise AttributeError(field)
        fields = self._type.fields or {}
        selected = self._type.at([field])
        if selected is not None:
            return self._with_path(field, selected)
        element = self._type.items if self._type.kind == "list" else None
        if element is not None and element.kind in ("model", "dataclass"):
            fields = element.fields or {}
            hint = (
                f"its elements' fields are {', '.join(fields)}" if fields else "its elements have no fields"
            )
        elif self._type.kind in ("model", "dataclass"):
            hint = f"its fields are {', '.join(fields)}" if fields else "it has no fields"
        else:
            hint = "only dataclass and pydantic model values have fields"
        self._trace.problem(
            "no-such-field", f"{self._label} of type {self._type} has no field {field!r}; {hint}", caller()
        )
        return Poisoned()

    def __repr__(self) -> str:
        return f"<{self._label}: {self._type}>"

    def after(self, *others: Any) -> Handle:
        """Run this step only after ``others`` finished, though no data flows between them."""
        self._misuse(
            "bad-after",
            f".after() orders steps, but {self._label} is not a step's output (parameters are there from the "
            "start)",
        )
        return self


class OutputHandle(Handle):
    __slots__ = ("_output", "_task_id")

    def __init__(
        self,
        trace: Trace,
        task_id: str,
        output: str,
        type_: ir.TypeSpec,
        ref: SourceRef | None,
        path: tuple[str, ...] = (),
    ) -> None:
        super().__init__(trace, type_, ref, path)
        self._task_id = task_id
        self._output = output

    @property
    def _label(self) -> str:
        name = self._task_id if self._output == "output" else f"{self._task_id}.{self._output}"
        return "the output of " + ".".join([name, *self._path]) if self._path else f"the output of {name}"

    def _source_binding(self) -> ir.Binding:
        from mlopsdsl import ir

        return ir.TaskOutputBinding(task=self._task_id, output=self._output, path=list(self._path))

    def _with_path(self, field: str, type_: ir.TypeSpec) -> Handle:
        return OutputHandle(self._trace, self._task_id, self._output, type_, self._ref, (*self._path, field))

    def after(self, *others: Any) -> Handle:
        _add_after(self._trace, self._task_id, others)
        return self


class ParamHandle(Handle):
    __slots__ = ("_name",)

    def __init__(
        self, trace: Trace, name: str, type_: ir.TypeSpec, ref: SourceRef | None, path: tuple[str, ...] = ()
    ) -> None:
        super().__init__(trace, type_, ref, path)
        self._name = name

    @property
    def _label(self) -> str:
        return "pipeline parameter " + ".".join([self._name, *self._path])

    def _source_binding(self) -> ir.Binding:
        from mlopsdsl import ir

        return ir.ParameterBinding(name=self._name, path=list(self._path))

    def _with_path(self, field: str, type_: ir.TypeSpec) -> Handle:
        return ParamHandle(self._trace, self._name, type_, self._ref, (*self._path, field))


class StructHandle(_Misuse):
    """The outputs of a task: a NamedTuple's fields, or nothing for a step that returns ``None``.

    Fields are attributes; unpacking (``model, score = train(...)``) works because their number is known.
    """

    __slots__ = ("_fields", "_task_id", "_text", "_trace")

    def __init__(self, trace: Trace, task_id: str, fields: dict[str, OutputHandle], label: str) -> None:
        self._trace = trace
        self._task_id = task_id
        self._fields = fields
        self._text = label

    @property
    def _label(self) -> str:
        return self._text

    def __getattr__(self, field: str) -> Any:
        if field.startswith("_"):
            raise AttributeError(field)
        if field in self._fields:
            return self._fields[field]
        known = ", ".join(self._fields) or "none"
        self._trace.problem(
            "no-such-output", f"{self._label} has no output {field!r} (outputs: {known})", caller()
        )
        return Poisoned()

    def __iter__(self) -> Iterator[Any]:
        if not self._fields:
            return super().__iter__()
        return iter(self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __getitem__(self, index: object) -> Any:
        outputs = list(self._fields.values())
        if isinstance(index, int) and -len(outputs) <= index < len(outputs):
            return outputs[index]
        return super().__getitem__(index)

    def __repr__(self) -> str:
        return f"<{self._label}>"

    def after(self, *others: Any) -> StructHandle:
        """Run this task only after ``others`` finished, though no data flows between them."""
        _add_after(self._trace, self._task_id, others)
        return self


def _add_after(trace: Trace, task_id: str, others: tuple[Any, ...]) -> None:
    ref = caller()
    task = next(t for t in trace.tasks if t["id"] == task_id)
    for other in others:
        other_id = getattr(other, "_task_id", None)
        if other_id is None or getattr(other, "_trace", None) is not trace:
            trace.problem("bad-after", f".after() takes step outputs of this pipeline, got {other!r}", ref)
        elif other_id not in task["after"] and other_id != task_id:
            task["after"].append(other_id)


def _pipeline_name(trace: Trace) -> str:
    return str(getattr(trace.pipeline, "name", "?"))


class Poisoned:
    """What a mistake already reported evaluates to (``handle.no_such_field``, ``handle + 1``).

    It absorbs further use silently, so that one mistake is reported once, where it was made, instead of
    again at every place its result flows to.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Poisoned:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: object) -> Poisoned:
        return self

    def _absorb(self, *other: object) -> Poisoned:
        return self

    __lt__ = __le__ = __gt__ = __ge__ = _absorb
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _absorb
    __and__ = __rand__ = __or__ = __ror__ = __invert__ = __neg__ = _absorb

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<invalid value, reported above>"

    def after(self, *others: Any) -> Poisoned:
        return self


class after:
    """Run the steps called inside the block only after ``tasks`` finished, though no data flows.

    ::

        trained = train(rows=rows)
        with ml.after(trained):
            notify(message="training done")

    Outside a pipeline being built it does nothing, so the pipeline still runs as plain Python.
    """

    def __init__(self, *tasks: object) -> None:
        self._tasks = tasks
        self._trace: Trace | None = None

    def __enter__(self) -> None:
        self._trace = current_trace()
        if self._trace is not None:
            self._enter(self._trace)

    def _enter(self, trace: Trace) -> None:
        ref = caller()
        ids = []
        for task in self._tasks:
            task_id = getattr(task, "_task_id", None)
            if task_id is None or getattr(task, "_trace", None) is not trace:
                trace.problem(
                    "bad-after", f"ml.after() takes step outputs of this pipeline, got {task!r}", ref
                )
            else:
                ids.append(task_id)
        trace.after_stack.append(ids)

    def __exit__(self, *exc: object) -> None:
        if self._trace is not None:
            self._trace.after_stack.pop()
