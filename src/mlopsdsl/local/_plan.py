"""The run plan: the IR flattened into the step calls that actually run, and where each input comes from.

Sub-pipelines are expanded inline: a task ``prep`` calling a sub-pipeline whose task is ``clean`` becomes
the node ``prep/clean``, its parameters become the bindings of the calling task, and its outputs the
sources they resolve to. Field paths compose (``metrics.accuracy`` of a sub-pipeline output that is itself
``report.metrics``). ``.after()`` on a sub-pipeline task waits for every node inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import ParameterError


@dataclass(frozen=True)
class Const:
    """A value known before the run: a literal, a parameter's value, or a default."""

    value: Any


@dataclass(frozen=True)
class Ref:
    """An output of another node, with the fields to select from it."""

    node: str
    output: str
    path: tuple[str | int, ...] = ()


Source = Const | Ref


@dataclass
class Node:
    """One step call of the flattened pipeline."""

    id: str
    step: ir.StepSpec
    task: ir.Task
    pipeline: str
    """The (sub-)pipeline whose body holds the task; its location is in that pipeline's file."""
    inputs: dict[str, Source]
    deps: set[str] = field(default_factory=set)


@dataclass
class Plan:
    nodes: dict[str, Node]
    """In a topological order (the IR's task order is one, and expansion keeps it)."""
    outputs: dict[str, Source]
    output_types: dict[str, ir.TypeSpec]
    params: dict[str, Any]


def select_json(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(value, dict):
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int):
            value = value[int(part)]
        else:
            value = getattr(value, str(part))
    return value


def _resolve(binding: ir.Binding, env: dict[str, Source], outputs: dict[str, dict[str, Source]]) -> Source:
    if isinstance(binding, ir.ConstantBinding):
        return Const(binding.value)
    if isinstance(binding, ir.ParameterBinding):
        base = env[binding.name]
        path: tuple[str | int, ...] = tuple(binding.path)
    else:
        base = outputs[binding.task][binding.output]
        path = tuple(binding.path)
    if not path:
        return base
    if isinstance(base, Const):
        return Const(select_json(base.value, path))
    return Ref(base.node, base.output, base.path + path)


def build_plan(document: ir.Document, values: dict[str, Any]) -> Plan:
    """The plan of ``document`` run with parameter ``values`` (defaults fill the rest)."""
    root = document.pipeline
    params: dict[str, Any] = {}
    for param in root.params:
        if param.name in values:
            params[param.name] = values[param.name]
        elif param.optional:
            params[param.name] = param.default
        else:
            raise ParameterError(f"pipeline {root.name!r} needs a value for parameter {param.name!r}")
    nodes: dict[str, Node] = {}
    env: dict[str, Source] = {name: Const(value) for name, value in params.items()}
    outputs = _expand(document, root, "", env, set(), nodes)
    return Plan(nodes, outputs, {o.name: o.type for o in root.outputs}, params)


def _expand(
    document: ir.Document,
    spec: ir.PipelineSpec,
    prefix: str,
    env: dict[str, Source],
    waits: set[str],
    nodes: dict[str, Node],
) -> dict[str, Source]:
    """Add the nodes of ``spec`` to ``nodes``; the sources of its outputs."""
    task_outputs: dict[str, dict[str, Source]] = {}
    task_nodes: dict[str, set[str]] = {}
    for task in spec.tasks:
        after = set(waits)
        for other in task.after:
            after |= task_nodes.get(other, set())
        inputs = {name: _resolve(b, env, task_outputs) for name, b in task.inputs.items()}
        node_id = prefix + task.id
        if task.step is not None:
            step = document.step(task.step)
            deps = after | {s.node for s in inputs.values() if isinstance(s, Ref)}
            for param in step.inputs:
                if param.name not in inputs and not param.optional:
                    raise ParameterError(f"task {node_id!r}: input {param.name!r} is not bound")
            nodes[node_id] = Node(node_id, step, task, spec.name, inputs, deps)
            task_outputs[task.id] = {o.name: Ref(node_id, o.name) for o in step.outputs}
            task_nodes[task.id] = {node_id}
        else:
            sub = document.sub_pipeline(task.callee)
            sub_env: dict[str, Source] = {}
            for param in sub.params:
                if param.name in inputs:
                    sub_env[param.name] = inputs[param.name]
                elif param.optional:
                    sub_env[param.name] = Const(param.default)
            before = set(nodes)
            task_outputs[task.id] = _expand(document, sub, node_id + "/", sub_env, after, nodes)
            task_nodes[task.id] = set(nodes) - before
    return {out.name: _resolve(out.source, env, task_outputs) for out in spec.outputs}


def dependents(plan: Plan, node_id: str) -> set[str]:
    """Every node that depends, directly or not, on ``node_id``."""
    found: set[str] = set()
    frontier = {node_id}
    while frontier:
        frontier = {n.id for n in plan.nodes.values() if n.deps & frontier and n.id not in found}
        found |= frontier
    return found
