"""One model of a pipeline's graph, read from the IR, that every picture is drawn from: parameters,
tasks and outputs as nodes, bindings and ``.after()`` as edges, sub-pipelines as nested scopes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field, replace
from typing import TYPE_CHECKING, Literal

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass

if TYPE_CHECKING:
    pass


_NodeKind = Literal["task", "param", "output", "pipeline", "empty"]
_EdgeKind = Literal["data", "param", "after"]


# --------------------------------------------------------------------------- the model


@dataclass
class _Node:
    key: str
    """``n0``, ``n1``, ...: safe in every format, and stable for the same document."""
    kind: _NodeKind
    """``pipeline`` is a sub-pipeline drawn as one node (its spec is missing, or it calls itself)."""
    lines: list[str]
    tooltip: str


@dataclass
class _Edge:
    src: str
    dst: str
    kind: _EdgeKind
    label: str = ""
    src_port: str | None = None
    """The output read, when ``src`` is a sub-pipeline scope: the flat formats start at that output node."""
    dst_port: str | None = None
    """The input bound, when ``dst`` is a sub-pipeline scope: the flat formats end at that parameter node."""


@dataclass
class _Scope:
    """A pipeline body: the root, or a sub-pipeline task with its pipeline's nodes inside."""

    key: str
    title: str
    members: list[_Node | _Scope] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)


class _Declared:
    """Inputs of a task in the order its step or pipeline declares them (the IR keeps them sorted)."""

    def __init__(self, doc: ir.Document) -> None:
        self.steps = {s.name: [p.name for p in s.inputs] for s in doc.steps}
        self.pipelines = {p.name: [q.name for q in p.params] for p in doc.pipelines}

    def inputs(self, task: ir.Task) -> list[str]:
        table = self.steps if task.pipeline is None else self.pipelines
        declared = table.get(task.callee, [])
        return [n for n in declared if n in task.inputs] + [n for n in task.inputs if n not in declared]


def _model(doc: ir.Document) -> _Scope:
    pipelines = {p.name: p for p in doc.pipelines}
    declared = _Declared(doc)
    counter = iter(range(1 << 62))

    def key() -> str:
        return f"n{next(counter)}"

    def build(spec: ir.PipelineSpec, scope: _Scope, stack: tuple[str, ...], path: str) -> None:
        for param in spec.params:
            node = _Node(key(), "param", [_param_text(param)], f"parameter {param.name}: {param.type}")
            scope.members.append(node)
            scope.inputs[param.name] = node.key
        members: dict[str, _Node | _Scope] = {}
        for task in spec.tasks:
            sub = pipelines.get(task.pipeline) if task.pipeline is not None else None
            where = f" ({task.location.file}:{task.location.line})" if task.location else ""
            member: _Node | _Scope
            if sub is not None and sub.name not in stack:
                title = task.id if sub.name == task.id else f"{task.id}: {sub.name}"
                member = _Scope(key(), f"{title} (pipeline)")
                build(sub, member, (*stack, sub.name), f"{path}{task.id}/")
                if not member.members:
                    member.members.append(_Node(key(), "empty", ["(no tasks)"], "an empty pipeline"))
            else:
                kind: _NodeKind = "task" if task.pipeline is None else "pipeline"
                lines = [*task.id.split("\n"), *([task.callee] if task.callee != task.id else [])]
                lines += _flow_lines(task, spec)
                what = "pipeline" if task.pipeline is not None else "step"
                member = _Node(key(), kind, lines, f"task {path}{task.id}: {what} {task.callee}{where}")
            members.setdefault(task.id, member)
            scope.members.append(member)
        for task in spec.tasks:
            dst = members[task.id]
            for name in declared.inputs(task):
                for edge in _edges_from(task.inputs[name], scope, members):
                    edge.dst = dst.key
                    edge.dst_port = name if isinstance(dst, _Scope) else None
                    scope.edges.append(edge)
            for other in task.after:
                if other in members:
                    scope.edges.append(_Edge(members[other].key, dst.key, "after"))
        if spec.on_exit is not None:
            handler = spec.on_exit
            lines = [handler.id, *([handler.callee] if handler.callee != handler.id else []), "on exit"]
            scope.members.append(
                _Node(key(), "task", lines, f"exit handler {handler.id}: step {handler.callee}")
            )
        for out in spec.outputs:
            node = _Node(key(), "output", [f"{out.name}: {out.type}"], f"output {out.name}: {out.type}")
            scope.members.append(node)
            scope.outputs.setdefault(out.name, node.key)
            for edge in _edges_from(out.source, scope, members):
                edge.dst = node.key
                scope.edges.append(edge)

    root = _Scope("root", doc.pipeline.name)
    build(doc.pipeline, root, (doc.pipeline.name,), "")
    return root


def _edges_from(binding: ir.Binding, scope: _Scope, members: dict[str, _Node | _Scope]) -> list[_Edge]:
    """The edges a binding draws: one, one per branch for ``ml.one_of``, one per element of a written
    list or dict (labelled with its index or key)."""
    if isinstance(binding, ir.ListBinding | ir.DictBinding):
        keyed = (
            list(enumerate(binding.items))
            if isinstance(binding, ir.ListBinding)
            else list(binding.entries.items())
        )
        found: list[_Edge] = []
        for key, item in keyed:
            for e in _edges_from(item, scope, members):
                found.append(replace(e, label=f"{e.label}[{key}]".lstrip()))
        return found
    if isinstance(binding, ir.OneOfBinding):
        edges = [_edge_from(source, scope, members) for source in binding.sources]
        return [replace(e, label=(e.label + " (one of)").lstrip()) for e in edges if e is not None]
    edge = _edge_from(binding, scope, members)
    return [edge] if edge is not None else []


def _flow_lines(task: ir.Task, spec: ir.PipelineSpec) -> list[str]:
    """What a task's node says about control flow: the list it runs over, the condition it runs under."""
    lines = [f"for each {task.map.input}"] if task.map is not None else []
    group = next((g for g in spec.groups if g.id == task.group), None)
    if group is not None:
        lines.append(f"if {_condition_text(group.condition)}")
    return lines


def _condition_text(condition: ir.Condition) -> str:
    if isinstance(condition, ir.Compare):
        return f"{_operand_text(condition.left)} {condition.op} {_operand_text(condition.right)}"
    if isinstance(condition, ir.Not):
        return f"not ({_condition_text(condition.condition)})"
    joiner = " and " if isinstance(condition, ir.AllOf) else " or "
    return joiner.join(f"({_condition_text(c)})" for c in condition.conditions)


def _operand_text(binding: ir.Binding) -> str:
    if isinstance(binding, ir.ConstantBinding):
        return _value_text(binding.value, 16)
    if isinstance(binding, ir.ParameterBinding):
        return binding.name + _path_text(binding.path)
    if isinstance(binding, ir.TaskOutputBinding):
        name = "" if binding.output == "output" else "." + binding.output
        return binding.task + name + _path_text(binding.path)
    return "?"


def _edge_from(binding: ir.Binding, scope: _Scope, members: dict[str, _Node | _Scope]) -> _Edge | None:
    """The edge a binding draws, its ``dst`` left for the caller; None for constants and dangling names."""
    if isinstance(binding, ir.ParameterBinding):
        if binding.name not in scope.inputs:
            return None
        return _Edge(scope.inputs[binding.name], "", "param", _path_text(binding.path).lstrip("."))
    if isinstance(binding, ir.TaskOutputBinding) and binding.task in members:
        src = members[binding.task]
        name = "" if binding.output == "output" else binding.output
        port = binding.output if isinstance(src, _Scope) else None
        return _Edge(src.key, "", "data", (name + _path_text(binding.path)).lstrip("."), src_port=port)
    return None


def _path_text(path: Sequence[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _value_text(value: ir.JsonValue, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _param_text(param: ir.Param) -> str:
    text = f"{param.name}: {param.type}"
    return f"{text} = {_value_text(param.default)}" if param.optional else text


def _walk(scope: _Scope) -> list[_Scope]:
    """Every scope, outermost first."""
    found, todo = [], [scope]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(reversed([m for m in current.members if isinstance(m, _Scope)]))
    return found


@dataclass(frozen=True)
class _FlatEdge:
    src: str
    dst: str
    kind: _EdgeKind
    label: str
    src_cluster: bool
    dst_cluster: bool


def _flat_edges(root: _Scope) -> list[_FlatEdge]:
    """Every edge with sub-pipeline ends moved to the output or parameter node they mean."""
    scopes = {s.key: s for s in _walk(root)}
    flat: dict[_FlatEdge, None] = {}
    for scope in scopes.values():
        for edge in scope.edges:
            src, src_cluster = edge.src, edge.src in scopes
            if src_cluster and edge.src_port in scopes[src].outputs:
                src, src_cluster = scopes[src].outputs[edge.src_port or ""], False
            dst, dst_cluster = edge.dst, edge.dst in scopes
            if dst_cluster and edge.dst_port in scopes[dst].inputs:
                dst, dst_cluster = scopes[dst].inputs[edge.dst_port or ""], False
            flat[_FlatEdge(src, dst, edge.kind, edge.label, src_cluster, dst_cluster)] = None
    return list(flat)
