"""Where each binding's value is, in the scope of one DAG template: a :class:`Source` built of references.

A binding in the IR names a constant, a parameter of its pipeline, an output of a task (a step, or a
sub-pipeline whose own outputs are resolved first), or ``ml.one_of`` over task outputs. :class:`Sources`
turns each into a :class:`Source`: how the value travels (by value, stored, a loop's results) and where
Argo finds it, as the typed references of :mod:`._refs`. Decisions about a source (is it made by a task?
does a sub-pipeline pass one of its parameters straight through?) read those types; nothing here writes
``{{...}}`` text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field, replace
from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import stored_kind
from mlopsdsl_argo._launch import META
from mlopsdsl_argo._naming import Names
from mlopsdsl_argo._options import BACKEND
from mlopsdsl_argo._refs import Call, Chosen, Input, Item, Literal, Ref, TaskOutput

__all__ = ["Scope", "Source", "Sources"]


@dataclass(frozen=True)
class Source:
    """Where a value comes from, in the scope of one DAG template."""

    kind: str
    """``literal``, ``parameter``, ``artifact`` (a stored value), ``collected`` (the stored outputs of a
    loop), or ``element`` (one of them, for a map over them: ``ref`` is the loop's item, one run's
    record)."""
    ref: Ref
    """The value: a :class:`~._refs.Literal`, or where Argo finds it. For ``artifact``: the artifact; for
    ``collected``: the aggregated records."""
    path: tuple[str | int, ...] = ()
    deps: frozenset[str] = field(default_factory=frozenset)
    """``depends`` terms: task names, or ``(a.Succeeded || b.Succeeded)`` for ``ml.one_of``."""
    meta: Ref | None = None
    """For ``artifact``: the producer's output record."""
    gathered: bool = False
    """For ``parameter``: a loop's aggregate, a JSON list of each run's armored text."""
    prefix: str | None = None
    """For ``collected`` and ``element``: the repository key prefix (under the workflow's folder) the runs
    uploaded to."""

    @property
    def value(self) -> Any:
        """A literal's value, with ``path`` selected."""
        assert isinstance(self.ref, Literal), self
        return _select(self.ref.value, self.path)

    def element(self) -> Source:
        """One element of this list, for a task that runs once per element (``{{item}}``)."""
        if self.kind == "collected":  # one of another loop's stored results per run: its record
            return Source("element", Item(), self.path, prefix=self.prefix)
        return Source("parameter", Item())


@dataclass
class Scope:
    """One pipeline being lowered: its spec, task labels, groups, and the helper tasks it needs."""

    spec: ir.PipelineSpec
    labels: Names
    names: dict[str, str]
    stack: tuple[str, ...]
    groups: dict[str, ir.Group] = field(default_factory=dict)
    conditions: dict[str, str] = field(default_factory=dict)
    """Label of the condition task of each ``when`` group."""
    helpers: list[Call] = field(default_factory=list)


class Sources:
    """Resolves bindings to sources, for one compilation.

    Args:
        document: The (desugared) IR document.
        dag_names: The template name of each pipeline.
        outputs: The sources of a sub-pipeline's outputs in its own scope, lowering it when first asked
            (given the stack of pipelines that leads to it, to refuse recursion).
    """

    def __init__(
        self,
        document: ir.Document,
        dag_names: dict[str, str],
        outputs: Callable[[str, tuple[str, ...]], dict[str, Source]],
    ) -> None:
        self.specs = {p.name: p for p in document.pipelines}
        self.task_index = {p.name: {t.id: t for t in p.tasks} for p in document.pipelines}
        self.steps = {s.name: s for s in document.steps}
        self.dag_names = dag_names
        self.outputs = outputs

    def resolve(self, scope: Scope, binding: ir.Binding, where: ir.SourceLocation | None) -> Source:
        """``binding`` as a source in ``scope``; ``where`` is the user's line that uses it."""
        spec = scope.spec
        if isinstance(binding, ir.ConstantBinding):
            return Source("literal", Literal(binding.value))
        if isinstance(binding, ir.ParameterBinding):
            param = next(p for p in spec.params if p.name == binding.name)
            path = tuple(binding.path)
            if stored_kind(param.type) is not None:
                meta = Input(binding.name + META)
                return Source("artifact", Input(binding.name, artifact=True), path, meta=meta)
            return Source("parameter", Input(binding.name), path)
        if isinstance(binding, ir.OneOfBinding):
            return self._one_of(scope, binding, where)
        if isinstance(binding, ir.StatusBinding):
            raise CompileError(
                f"pipeline {spec.name!r}: only the exit handler gets the status", BACKEND, location=where
            )
        # Written lists and dicts were made into gather tasks by mlopsdsl.lowering.desugar.
        assert isinstance(binding, ir.TaskOutputBinding), binding
        return self._task_output(scope, binding, where)

    def argument(self, scope: Scope, task: ir.Task, name: str) -> Source:
        """The source of input ``name`` of ``task``: its binding, or the callee's default."""
        binding = task.inputs.get(name)
        if binding is not None:
            return self.resolve(scope, binding, task.location)
        callee = self.specs[task.pipeline].params if task.pipeline else self.steps[task.callee].inputs
        param = next(p for p in callee if p.name == name)
        return Source("literal", Literal(param.default))

    def prefix(self, scope: Scope, label: str) -> str:
        """The key prefix of a loop's stored outputs: unique per DAG template and task. Instances of one
        sub-pipeline share it; each consumer reads only the files its records name."""
        return f"{self.dag_names[scope.spec.name]}/{label}"

    def _task_output(
        self, scope: Scope, binding: ir.TaskOutputBinding, where: ir.SourceLocation | None
    ) -> Source:
        spec = scope.spec
        producer = self.task_index[spec.name][binding.task]
        label = scope.names[binding.task]
        deps = frozenset({label})
        path = tuple(binding.path)
        mapped = producer.map is not None
        if producer.step is not None:
            out = next(o for o in self.steps[producer.step].outputs if o.name == binding.output)
            if stored_kind(out.type) is not None:
                meta = TaskOutput(label, out.name + META)
                if mapped:
                    prefix = f"{self.prefix(scope, label)}/{out.name}"
                    return Source("collected", meta, path, deps=deps, prefix=prefix)
                return Source("artifact", TaskOutput(label, out.name, artifact=True), path, deps, meta)
            return Source("parameter", TaskOutput(label, out.name), path, deps, gathered=mapped)
        assert producer.pipeline is not None
        inner = self.outputs(producer.pipeline, scope.stack)[binding.output]
        if mapped and (inner.kind != "parameter" or inner.gathered or not isinstance(inner.ref, TaskOutput)):
            raise CompileError(
                f"pipeline {spec.name!r}: output {binding.output!r} of mapped sub-pipeline "
                f"{producer.pipeline!r} is {'stored' if inner.kind != 'parameter' else 'not made by a step'}"
                "; this backend collects only values made by a step inside a mapped sub-pipeline yet",
                BACKEND,
                location=producer.location or where,
            )
        if isinstance(inner.ref, Literal):
            return Source("literal", inner.ref, inner.path + path, deps)
        if isinstance(inner.ref, Input):
            # The sub-pipeline passes one of its parameters straight through: use what we gave it.
            given = self.argument(scope, producer, inner.ref.name)
            return replace(given, path=given.path + inner.path + path, deps=given.deps | deps)
        meta = TaskOutput(label, binding.output + META)
        if inner.kind == "collected":
            return Source("collected", meta, deps=deps, prefix=inner.prefix)
        if inner.kind == "artifact":
            ref = TaskOutput(label, binding.output, artifact=True)
            return Source("artifact", ref, inner.path + path, deps, meta)
        ref = TaskOutput(label, binding.output)
        return Source("parameter", ref, inner.path + path, deps, gathered=inner.gathered or mapped)

    def _one_of(self, scope: Scope, binding: ir.OneOfBinding, where: ir.SourceLocation | None) -> Source:
        sources = [self._task_output(scope, s, where) for s in binding.sources]
        labels = [scope.names[s.task] for s in binding.sources]
        first = sources[0]
        if any(s.kind not in ("parameter", "artifact") or s.gathered for s in sources) or any(
            (s.kind, s.path) != (first.kind, first.path) or not isinstance(s.ref, TaskOutput) for s in sources
        ):
            raise CompileError(
                f"pipeline {scope.spec.name!r}: ml.one_of over "
                + ", ".join(s.task for s in binding.sources)
                + " needs step outputs of one kind with the same field selection on this backend",
                BACKEND,
                location=where,
            )

        def choose(refs: list[Ref | None]) -> Chosen:
            options = []
            for label, ref in zip(labels, refs, strict=True):
                assert isinstance(ref, TaskOutput), ref
                options.append((label, ref))
            return Chosen(tuple(options))

        def ran(src: Source, label: str) -> str:
            # The branch's task decides; a sub-pipeline that passes a value through reads it from a task
            # before it (what we gave it), which the consumer must depend on too.
            terms = sorted(f"{d}.Succeeded" for d in src.deps | {label})
            return terms[0] if len(terms) == 1 else "(" + " && ".join(terms) + ")"

        deps = frozenset(
            {"(" + " || ".join(ran(s, lab) for s, lab in zip(sources, labels, strict=True)) + ")"}
        )
        value = choose([s.ref for s in sources])
        if first.kind == "artifact":
            return Source("artifact", value, first.path, deps, choose([s.meta for s in sources]))
        return Source("parameter", value, first.path, deps)


def _select(value: Any, path: tuple[str | int, ...]) -> Any:
    """The field at ``path`` of a literal value (JSON data)."""
    for part in path:
        value = value[part]
    return value
