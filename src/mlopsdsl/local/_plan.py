"""The run plan: the IR flattened into the step calls that actually run, and where each input comes from.

The flattening itself (sub-pipelines opened inline, inputs resolved to sources, the guards of the blocks
around each call) is :func:`mlopsdsl.lowering.flatten`, which every consumer shares; the plan adds the
run's parameter values and the exit handler. Control flow stays in the plan as data, decided while the
run goes: a mapped task is one *map node* that the scheduler expands into a node per element once the
list is known (``task[0]``, ``task[1]``...; for a mapped sub-pipeline, ``task[0]/...``), and that then
collects their outputs into lists, in input order. The exit handler is a node of its own, run after
everything else with the pipeline's status.
"""

from __future__ import annotations

from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import ParameterError
from mlopsdsl.lowering import Node, flatten
from mlopsdsl.lowering._sources import Const, Source
from mlopsdsl.lowering._sources import resolve as _resolve


@dataclass
class Plan:
    nodes: dict[str, Node]
    """In a topological order; elements of maps are added while the run goes."""
    outputs: dict[str, Source]
    output_types: dict[str, ir.TypeSpec]
    params: dict[str, Any]
    document: ir.Document
    exit: Node | None = None


def select_json(value: Any, path: tuple[str | int, ...]) -> Any:
    """``value`` with ``path`` selected, as the step runtime selects it (one definition of a selection)."""
    from mlopsdsl.runtime._values import select

    return select(value, path)


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
    outputs = flatten(document, root, "", env, set(), [], nodes)
    plan = Plan(nodes, outputs, {o.name: o.type for o in root.outputs}, params, document)
    if root.on_exit is not None:
        task = root.on_exit
        step = document.step(task.callee)
        inputs = {name: _resolve(b, env, {}) for name, b in task.inputs.items()}
        plan.exit = Node(task.id, step, task, root.name, inputs)
    return plan


def dependents(plan: Plan, node_id: str) -> set[str]:
    """Every node that depends, directly or not, on ``node_id``."""
    found: set[str] = set()
    frontier = {node_id}
    while frontier:
        frontier = {n.id for n in plan.nodes.values() if n.deps & frontier and n.id not in found}
        found |= frontier
    return found
