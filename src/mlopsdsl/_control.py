"""Control flow while a pipeline is built: conditions, ``ml.when``/``ml.otherwise``, ``ml.one_of``, ``.map``.

Everything here records structure in the IR and decides nothing: a comparison of handles becomes a
condition, a ``with ml.when(...)`` block becomes a group whose tasks run only when it holds, ``.map``
marks a task to run once per element of a list, and ``ml.one_of`` picks the output of whichever branch
ran. The runner and the compilers give these one meaning everywhere; validation (``validate.py``) checks
that outputs are only used where they are sure to exist.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal

from mlopsdsl._source import SourceRef, caller
from mlopsdsl._tracing import Handle, OutputHandle, Poisoned, StructHandle, Trace, current_trace
from mlopsdsl.errors import DefinitionError

if TYPE_CHECKING:
    from mlopsdsl import ir


class ConditionExpr:
    """A condition on values that exist only when the pipeline runs: ``score > 0.8``, ``a & ~b``."""

    __slots__ = ("_condition", "_trace")

    def __init__(self, trace: Trace, condition: ir.Condition | None) -> None:
        self._trace = trace
        self._condition = condition  # None: a part of it was already reported as a problem

    def _combine(self, other: object, kind: str) -> ConditionExpr:
        from mlopsdsl import ir

        if not isinstance(other, ConditionExpr):
            other = as_condition(
                self._trace, other, caller(), f"the other side of {'&' if kind == 'all' else '|'}"
            )
        if self._condition is None or other._condition is None:
            return ConditionExpr(self._trace, None)
        parts: list[ir.Condition] = []
        for part in (self._condition, other._condition):
            parts.extend(part.conditions if part.kind == kind else [part])  # type: ignore[union-attr]
        node = ir.AllOf(conditions=parts) if kind == "all" else ir.AnyOf(conditions=parts)
        return ConditionExpr(self._trace, node)

    def __and__(self, other: object) -> ConditionExpr:
        return self._combine(other, "all")

    def __or__(self, other: object) -> ConditionExpr:
        return self._combine(other, "any")

    __rand__ = __and__
    __ror__ = __or__

    def __invert__(self) -> ConditionExpr:
        from mlopsdsl import ir

        if self._condition is None:
            return self
        if self._condition.kind == "not":
            return ConditionExpr(self._trace, self._condition.condition)
        return ConditionExpr(self._trace, ir.Not(condition=self._condition))

    def __bool__(self) -> bool:
        self._trace.problem(
            "condition-as-bool",
            "a condition on step outputs or parameters is decided when the pipeline runs, so Python's "
            "`if`, `while`, `and`, `or` and `not` cannot use it; write `with ml.when(condition):` (and `&`, "
            "`|`, `~` to combine conditions)",
            caller(),
        )
        return True

    def __repr__(self) -> str:
        return "<condition decided when the pipeline runs>"


def compare(trace: Trace, handle: object, op: Any, other: object) -> ConditionExpr:
    """``handle op other`` as a condition (``other`` is a handle or a JSON literal)."""
    from mlopsdsl import ir

    ref = caller()
    left = trace.bind(handle, f"the left side of {op}", ref)
    right = trace.bind(other, f"the right side of {op}", ref)
    if left is None or right is None:
        return ConditionExpr(trace, None)
    return ConditionExpr(trace, ir.Compare(op=op, left=left, right=right))


def as_condition(trace: Trace, value: object, ref: SourceRef | None, what: str) -> ConditionExpr:
    """A condition from what ``ml.when`` was given: a condition, or a handle of a bool value."""
    from mlopsdsl import ir

    if isinstance(value, ConditionExpr):
        return value
    if isinstance(value, Poisoned):
        return ConditionExpr(trace, None)
    if isinstance(value, Handle):
        binding = trace.bind(value, what, ref)
        if binding is None:
            return ConditionExpr(trace, None)
        return ConditionExpr(trace, ir.Compare(op="==", left=binding, right=ir.ConstantBinding(value=True)))
    trace.problem(
        "bad-condition",
        f"{what} must be a condition on step outputs or parameters (such as `score > 0.8`), not "
        f"{value!r}; a condition known when the pipeline is built needs no ml.when",
        ref,
    )
    return ConditionExpr(trace, None)


def _outside(name: str) -> DefinitionError:
    ref = caller()
    return DefinitionError(
        f"ml.{name} is decided when the pipeline runs, so it works only inside an @ml.pipeline function; "
        "to run a pipeline with conditions on this machine, use ml.run(pipeline)",
        ref.location if ref else None,
    )


class _Block:
    """A ``when``/``otherwise`` block: tasks called inside it belong to its group."""

    kind: Literal["when", "otherwise"]

    def __init__(self) -> None:
        self._trace: Trace | None = None
        self._id: str | None = None

    def _open(
        self,
        trace: Trace,
        condition: ir.Condition | None,
        else_of: str | None,
        ref: SourceRef | None,
        kind: Literal["when", "otherwise"] | None = None,
    ) -> None:
        from mlopsdsl import ir

        parent = trace.group
        kind = kind or self.kind
        self._trace = trace
        self._id = trace.new_group_id(kind)
        if condition is None:  # already reported; the block still groups its tasks
            condition = ir.Compare(
                op="==", left=ir.ConstantBinding(value=True), right=ir.ConstantBinding(value=True)
            )
        trace.groups.append(
            ir.Group(
                id=self._id,
                kind=kind,
                condition=condition,
                parent=parent,
                else_of=else_of,
                location=trace.remember(ref),
            )
        )
        trace.last_when.pop(parent, None)
        trace.group_stack.append(self._id)

    def __exit__(self, *exc: object) -> None:
        if self._trace is None:
            return
        self._trace.group_stack.pop()
        parent = self._trace.group
        if self.kind == "when":
            assert self._id is not None
            self._trace.last_when[parent] = self._id
        else:
            self._trace.last_when.pop(parent, None)


class when(_Block):
    """Run the steps called inside the block only when ``condition`` holds when the pipeline runs.

    ::

        score = evaluate(model=model)
        with ml.when(score > 0.8):
            deploy(model=model)
        with ml.otherwise():
            alert(score=score)

    Conditions compare step outputs and parameters with each other or with literals (``==``, ``!=``, ``<``,
    ``<=``, ``>``, ``>=``), combine with ``&``, ``|`` and ``~``, and nest. A bool output works on its own
    (``with ml.when(passed):``). Outputs of steps inside the block exist only if it ran: use them inside it,
    or pick them with :func:`one_of` together with the ``otherwise`` branch's.
    """

    kind: Literal["when", "otherwise"] = "when"

    def __init__(self, condition: object) -> None:
        super().__init__()
        self._condition = condition

    def __enter__(self) -> None:
        trace = current_trace()
        if trace is None:
            raise _outside("when")
        ref = caller()
        expr = as_condition(trace, self._condition, ref, "the condition of ml.when")
        self._open(trace, expr._condition, None, ref)


class otherwise(_Block):
    """Run the steps called inside the block only when the ``ml.when`` block just before it did not run."""

    kind: Literal["when", "otherwise"] = "otherwise"

    def __enter__(self) -> None:
        from mlopsdsl import ir

        trace = current_trace()
        if trace is None:
            raise _outside("otherwise")
        ref = caller()
        when_id = trace.last_when.get(trace.group)
        if when_id is None:
            trace.problem(
                "otherwise-without-when",
                "ml.otherwise() must come right after a `with ml.when(...)` block at the same level",
                ref,
            )
            self._open(trace, None, None, ref, kind="when")  # keeps its tasks grouped, reported once
            return
        condition = next(g.condition for g in trace.groups if g.id == when_id)
        self._open(trace, ir.Not(condition=condition), when_id, ref)


def one_of(*outputs: Any) -> Any:
    """The output of whichever branch ran: one output from an ``ml.when`` block and one from its
    ``ml.otherwise``, exactly one of which runs.

    ::

        with ml.when(score > 0.8):
            chosen = deploy(model=model)
        with ml.otherwise():
            chosen_else = retrain(model=model)
        report(url=ml.one_of(chosen, chosen_else))
    """
    from mlopsdsl import ir

    trace = current_trace()
    if trace is None:
        raise _outside("one_of")
    ref = caller()
    sources: list[ir.TaskOutputBinding] = []
    type_ = None
    for value in outputs:
        if isinstance(value, Poisoned):
            return Poisoned()
        if not isinstance(value, OutputHandle) or value._trace is not trace:
            shown = value._label if isinstance(value, Handle | StructHandle) else repr(value)
            trace.problem("bad-one-of", f"ml.one_of() takes step outputs of this pipeline, got {shown}", ref)
            return Poisoned()
        binding = value._source_binding()
        assert isinstance(binding, ir.TaskOutputBinding)
        sources.append(binding)
        type_ = type_ or value._type
    if len(sources) < 2:
        trace.problem("bad-one-of", "ml.one_of() takes one output of each branch: at least two", ref)
        return Poisoned()
    assert type_ is not None
    return OneOfHandle(trace, type_, ref, ir.OneOfBinding(sources=sources))


class OneOfHandle(Handle):
    """The value of ``ml.one_of(...)``."""

    __slots__ = ("_one_of",)

    def __init__(
        self, trace: Trace, type_: ir.TypeSpec, ref: SourceRef | None, binding: ir.OneOfBinding
    ) -> None:
        super().__init__(trace, type_, ref, ())
        self._one_of = binding

    @property
    def _label(self) -> str:
        return "ml.one_of(" + ", ".join(s.task for s in self._one_of.sources) + ")"

    def _source_binding(self) -> ir.Binding:
        return self._one_of

    def _with_path(self, field: str, type_: ir.TypeSpec) -> Handle:
        from mlopsdsl import ir

        sources = [dataclasses.replace(s, path=[*s.path, field]) for s in self._one_of.sources]
        return OneOfHandle(self._trace, type_, self._ref, ir.OneOfBinding(sources=sources))


def mapped_input(
    trace: Trace,
    what: str,
    params: list[ir.Param],
    inputs: dict[str, ir.Binding],
    values: dict[str, Any],
    ref: SourceRef | None,
) -> tuple[str | None, list[str]]:
    """The one argument of ``.map(...)`` that is a list of what its input takes, and every candidate.

    Reported when there is not exactly one.
    """
    from mlopsdsl._types import assignable, check_value

    types = {p.name: p.type for p in params}
    mapped = []
    for name, value in values.items():
        target = types.get(name)
        if target is None or name not in inputs:
            continue
        if isinstance(value, Handle):
            source = value._type
            over = source.kind == "list" and source.items is not None and assignable(source.items, target)
            if over and not assignable(source, target):
                mapped.append(name)
        elif isinstance(value, list | tuple):
            literal = inputs[name].value if inputs[name].kind == "constant" else None  # type: ignore[union-attr]
            if check_value(literal, target) and all(check_value(v, target) is None for v in literal or []):
                mapped.append(name)
    if len(mapped) == 1:
        return mapped[0], mapped
    if not mapped:
        trace.problem(
            "map-without-list",
            f"{what}.map() needs one argument that is a list of what its input takes (e.g. a list[str] for "
            "an input typed str); the other arguments are passed to every run as they are",
            ref,
        )
    else:
        names = ", ".join(repr(n) for n in mapped)
        trace.problem(
            "map-several-lists",
            f"{what}.map() runs once per element of one list, but {names} are all lists; combine them into "
            "one list of records in a step first",
            ref,
        )
    return None, mapped
