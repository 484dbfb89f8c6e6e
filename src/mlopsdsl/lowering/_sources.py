"""Sources: what a binding resolves to once sub-pipelines are opened and parameters are known.

A binding in the IR names things relative to its own pipeline (a parameter, a task's output). Resolved
through the calls that lead to it, every binding becomes one of a few typed sources: a value known before the
run (:class:`Const`), an output of a step call (:class:`Ref`, with the fields to select composed through
every sub-pipeline on the way), whichever branch ran (:class:`OneOf`), the pipeline's status
(:class:`Status`), or several sources gathered into one list or dict (:class:`Gather`). This module is the
one place that says how: the local runner's plan resolves with it, and the backends' desugaring asks the
same questions of the IR (:func:`mlopsdsl.lowering.reads`).
"""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.runtime._values import select

__all__ = ["Const", "Gather", "OneOf", "Ref", "Source", "Status", "extend", "resolve", "sources_of"]


@dataclass(frozen=True)
class Const:
    """A value known before the run: a literal, a parameter's value, or a default."""

    value: Any


@dataclass(frozen=True)
class Ref:
    """An output of a step call, with the fields (or, for a collected list, the element) to select."""

    node: str
    output: str
    path: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class OneOf:
    """The source of whichever branch ran (``ml.one_of``)."""

    sources: tuple[Const | Ref, ...]


@dataclass(frozen=True)
class Status:
    """How the pipeline ended; only the exit handler reads it."""


@dataclass(frozen=True)
class Gather:
    """Several sources delivered as one list (``keys`` is ``None``) or one dict (``keys`` name the items)."""

    items: tuple[Source, ...]
    keys: tuple[str, ...] | None = None


Source = Const | Ref | OneOf | Status | Gather


def resolve(binding: ir.Binding, env: dict[str, Source], outputs: dict[str, dict[str, Source]]) -> Source:
    """The source of ``binding``, given the sources of the pipeline's parameters and of its tasks' outputs."""
    if isinstance(binding, ir.ConstantBinding):
        return Const(binding.value)
    if isinstance(binding, ir.StatusBinding):
        return Status()
    if isinstance(binding, ir.OneOfBinding):
        parts = [resolve(s, env, outputs) for s in binding.sources]
        return OneOf(tuple(p for p in parts if isinstance(p, Const | Ref)))
    if isinstance(binding, ir.ListBinding):
        return Gather(tuple(resolve(item, env, outputs) for item in binding.items))
    if isinstance(binding, ir.DictBinding):
        keys = tuple(binding.entries)
        return Gather(tuple(resolve(binding.entries[k], env, outputs) for k in keys), keys)
    if isinstance(binding, ir.ParameterBinding):
        return extend(env[binding.name], tuple(binding.path))
    return extend(outputs[binding.task][binding.output], tuple(binding.path))


def extend(base: Source, path: tuple[str | int, ...]) -> Source:
    """``base`` with ``path`` selected from it (as the step runtime's ``select`` would)."""
    if not path:
        return base
    if isinstance(base, Const):
        return Const(select(base.value, path))
    if isinstance(base, Ref):
        return Ref(base.node, base.output, base.path + path)
    if isinstance(base, OneOf):
        return OneOf(tuple(extend(s, path) for s in base.sources))  # type: ignore[misc]
    if isinstance(base, Gather) and base.keys is None and isinstance(path[0], int):
        return extend(base.items[path[0]], path[1:])
    if isinstance(base, Gather) and base.keys is not None and isinstance(path[0], str):
        return extend(base.items[base.keys.index(path[0])], path[1:])
    if isinstance(base, Gather):
        return Gather(tuple(extend(item, path) for item in base.items), base.keys)
    return base


def sources_of(source: Source) -> set[str]:
    """The step calls a source reads."""
    if isinstance(source, Ref):
        return {source.node}
    if isinstance(source, OneOf):
        return {s.node for s in source.sources if isinstance(s, Ref)}
    if isinstance(source, Gather):
        return {node for item in source.items for node in sources_of(item)}
    return set()
