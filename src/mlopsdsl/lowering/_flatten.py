"""Flattening: the IR's pipelines opened into the step calls that run, and where each input comes from.

Sub-pipelines are expanded inline: a task ``prep`` calling a sub-pipeline whose task is ``clean`` becomes
the node ``prep/clean``, its parameters become the bindings of the calling task, and its outputs the
sources they resolve to. Field paths compose (``metrics.accuracy`` of a sub-pipeline output that is itself
``report.metrics``). ``.after()`` on a sub-pipeline task waits for every node inside it.

Control flow stays as data: a node carries the *guards* of the ``when``/``otherwise`` blocks around it
(conditions whose operands are sources), a ``one_of`` input is a :class:`~._sources.OneOf` source, and a
mapped task is one *map node* (for a mapped sub-pipeline, with the pipeline run per element).

What a sub-pipeline call means is shared by every consumer, so it is computed here once: the local runner
builds its run plan on :func:`flatten` (and flattens a mapped sub-pipeline's elements with it while the run
goes), and a backend whose engine has no nested graphs (Airflow) renders the nodes it returns.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import ParameterError
from mlopsdsl.lowering._sources import Const, Ref, Source, sources_of
from mlopsdsl.lowering._sources import resolve as _resolve

__all__ = ["Guard", "Node", "flatten", "guard_sources", "sub_environment"]

Guard = tuple[Any, ...]
"""A condition whose operands are sources: ``("compare", op, left, right)``, ``("all", [...])``,
``("any", [...])`` or ``("not", guard)``."""


@dataclass
class Node:
    """One step call of the flattened pipeline, or a map waiting for its list."""

    id: str
    step: ir.StepSpec | None
    """The step it runs; ``None`` for the map node of a mapped sub-pipeline."""
    task: ir.Task
    pipeline: str
    """The (sub-)pipeline whose body holds the task; its location is in that pipeline's file."""
    inputs: dict[str, Source]
    deps: set[str] = field(default_factory=set)
    guards: list[Guard] = field(default_factory=list)
    """Conditions that must all hold for it to run, outermost first."""
    sub: ir.PipelineSpec | None = None
    """For the map node of a mapped sub-pipeline: the pipeline run per element."""
    parent_map: str | None = None
    """For an element of a map: the map node (which limits how many elements run at once)."""
    expanded: list[dict[str, Source]] | None = None
    """For a map node, once expanded: the outputs of each element, in input order."""

    @property
    def label(self) -> str:
        """The step's name, or the sub-pipeline's for a mapped sub-pipeline."""
        return self.step.name if self.step is not None else self.task.callee


def guard_sources(guard: Guard) -> set[str]:
    if guard[0] == "compare":
        return sources_of(guard[2]) | sources_of(guard[3])
    if guard[0] == "not":
        return guard_sources(guard[1])
    found: set[str] = set()
    for part in guard[1]:
        found |= guard_sources(part)
    return found


def _guard(condition: ir.Condition, env: dict[str, Source], outputs: dict[str, dict[str, Source]]) -> Guard:
    if isinstance(condition, ir.Compare):
        return (
            "compare",
            condition.op,
            _resolve(condition.left, env, outputs),
            _resolve(condition.right, env, outputs),
        )
    if isinstance(condition, ir.Not):
        return ("not", _guard(condition.condition, env, outputs))
    kind = "all" if isinstance(condition, ir.AllOf) else "any"
    return (kind, [_guard(c, env, outputs) for c in condition.conditions])


def flatten(
    document: ir.Document,
    spec: ir.PipelineSpec,
    prefix: str,
    env: dict[str, Source],
    waits: set[str],
    guards: list[Guard],
    nodes: dict[str, Node],
    parent_map: str | None = None,
) -> dict[str, Source]:
    """Add the step calls of ``spec``, its sub-pipelines opened, to ``nodes``; the sources of its outputs.

    Args:
        document: The document holding ``spec``, its steps and sub-pipelines.
        spec: The pipeline to flatten.
        prefix: Put before each task's id (``prep/`` inside the task ``prep``).
        env: The source of each of ``spec``'s parameters.
        waits: Nodes every node of ``spec`` waits for (the calling task's dependencies).
        guards: The guards of the blocks around the call, outermost first.
        nodes: Where the nodes go, in a topological order.
        parent_map: For the elements of a mapped sub-pipeline: the map node.

    Raises:
        ParameterError: A step's required input is not bound.
    """
    task_outputs: dict[str, dict[str, Source]] = {}
    task_nodes: dict[str, set[str]] = {}
    groups = {g.id: g for g in spec.groups}
    block_guards: dict[str, Guard] = {}

    def guards_of(group: str | None) -> list[Guard]:
        chain: list[Guard] = []
        while group is not None:
            if group not in block_guards:
                block_guards[group] = _guard(groups[group].condition, env, task_outputs)
            chain.insert(0, block_guards[group])
            group = groups[group].parent
        return [*guards, *chain]

    for task in spec.tasks:
        after = set(waits)
        for other in task.after:
            after |= task_nodes.get(other, set())
        inputs = {name: _resolve(b, env, task_outputs) for name, b in task.inputs.items()}
        node_id = prefix + task.id
        task_guards = guards_of(task.group)
        deps = after | {n for s in inputs.values() for n in sources_of(s)}
        for guard in task_guards:
            deps |= guard_sources(guard)
        if task.map is not None or task.step is not None:
            step = document.step(task.step) if task.step is not None else None
            sub = document.sub_pipeline(task.callee) if task.pipeline is not None else None
            if step is not None and task.map is None:
                for param in step.inputs:
                    if param.name not in inputs and not param.optional:
                        raise ParameterError(f"task {node_id!r}: input {param.name!r} is not bound")
            nodes[node_id] = Node(node_id, step, task, spec.name, inputs, deps, task_guards, sub, parent_map)
            names = [o.name for o in (step.outputs if step is not None else sub.outputs if sub else [])]
            task_outputs[task.id] = {name: Ref(node_id, name) for name in names}
            task_nodes[task.id] = {node_id}
        else:
            sub = document.sub_pipeline(task.callee)
            sub_env = sub_environment(sub, inputs)
            before = set(nodes)
            task_outputs[task.id] = flatten(
                document, sub, node_id + "/", sub_env, deps, task_guards, nodes, parent_map
            )
            task_nodes[task.id] = set(nodes) - before
    return {out.name: _resolve(out.source, env, task_outputs) for out in spec.outputs}


def sub_environment(sub: ir.PipelineSpec, inputs: dict[str, Source]) -> dict[str, Source]:
    """A sub-pipeline's parameters, from the calling task's inputs and the defaults."""
    env: dict[str, Source] = {}
    for param in sub.params:
        if param.name in inputs:
            env[param.name] = inputs[param.name]
        elif param.optional:
            env[param.name] = Const(param.default)
    return env
