"""Pictures of a pipeline's DAG: Mermaid, Graphviz DOT, a self-contained SVG, and notebook and REPL views.

It reads only the IR, so it draws any :class:`~mlopsdsl.ir.Document` (a build, a JSON file, a test). One
model of the graph (:class:`_Scope`) feeds every format: pipeline parameters are input nodes, tasks are
nodes, pipeline outputs are output nodes; edges come from task-output and parameter bindings and from
``.after()``. A sub-pipeline task is a nested scope: a subgraph in Mermaid, a ``cluster_`` in DOT, a
labelled box in SVG. The SVG is laid out here, without Graphviz (a layered drawing: longest-path layers,
barycentre ordering, compact coordinates), so that ``mlopsdsl graph`` and ``Pipeline._repr_html_`` need no
system package. Every output is deterministic: the same document gives byte-identical text.
"""

from __future__ import annotations

import hashlib
import heapq
import html
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from mlopsdsl import ir

if TYPE_CHECKING:
    from mlopsdsl.errors import Problem

__all__ = ["FORMATS", "render", "summary", "to_dot", "to_html", "to_mermaid", "to_svg"]

FORMATS = ("mermaid", "dot", "svg")
"""The formats :func:`render` (and ``mlopsdsl graph --format``) knows."""

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
                what = "pipeline" if task.pipeline is not None else "step"
                member = _Node(key(), kind, lines, f"task {path}{task.id}: {what} {task.callee}{where}")
            members.setdefault(task.id, member)
            scope.members.append(member)
        for task in spec.tasks:
            dst = members[task.id]
            for name in declared.inputs(task):
                edge = _edge_from(task.inputs[name], scope, members)
                if edge is not None:
                    edge.dst = dst.key
                    edge.dst_port = name if isinstance(dst, _Scope) else None
                    scope.edges.append(edge)
            for other in task.after:
                if other in members:
                    scope.edges.append(_Edge(members[other].key, dst.key, "after"))
        for out in spec.outputs:
            node = _Node(key(), "output", [f"{out.name}: {out.type}"], f"output {out.name}: {out.type}")
            scope.members.append(node)
            scope.outputs.setdefault(out.name, node.key)
            edge = _edge_from(out.source, scope, members)
            if edge is not None:
                edge.dst = node.key
                scope.edges.append(edge)

    root = _Scope("root", doc.pipeline.name)
    build(doc.pipeline, root, (doc.pipeline.name,), "")
    return root


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


# --------------------------------------------------------------------------- Mermaid


_MERMAID_SHAPES = {
    "task": ('["', '"]'),
    "param": ('[/"', '"/]'),
    "output": ('(["', '"])'),
    "pipeline": ('[["', '"]]'),
    "empty": ('["', '"]'),
}
_MERMAID_CLASSES = {
    "param": "fill:#eef4ff,stroke:#4a72b8",
    "output": "fill:#eefaf0,stroke:#3f8f4f",
    "pipeline": "fill:#fff7e6,stroke:#b07d1a",
    "empty": "fill:none,stroke:none,color:#888",
}


def _mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: characters that its lexer or HTML labels read become ``#NNN;``."""
    return "".join(f"#{ord(ch)};" if ch in '"#&<>`;' or not ch.isprintable() else ch for ch in text)


def _mermaid_label(lines: list[str]) -> str:
    return "<br/>".join(_mermaid_text(part) for line in lines for part in line.split("\n"))


def to_mermaid(doc: ir.Document) -> str:
    """The pipeline as a Mermaid ``flowchart TD``, for Markdown, GitHub and docs sites.

    Parameters are parallelograms, outputs are stadiums, sub-pipelines are subgraphs holding their own
    nodes. Solid arrows carry data (labelled with the output read when it is not ``output``, and any field
    path); dotted arrows are ``.after()`` ordering.

    Args:
        doc: Any IR document.

    Returns:
        Mermaid source ending in a newline.
    """
    root = _model(doc)
    out = ["flowchart TD"]
    classes: dict[str, list[str]] = {}

    def emit(scope: _Scope, indent: str) -> None:
        for member in scope.members:
            if isinstance(member, _Scope):
                out.append(f'{indent}subgraph {member.key}["{_mermaid_text(member.title)}"]')
                out.append(f"{indent}  direction TB")
                emit(member, indent + "  ")
                out.append(f"{indent}end")
            else:
                left, right = _MERMAID_SHAPES[member.kind]
                out.append(f"{indent}{member.key}{left}{_mermaid_label(member.lines)}{right}")
                if member.kind in _MERMAID_CLASSES:
                    classes.setdefault(member.kind, []).append(member.key)

    emit(root, "  ")
    for edge in _flat_edges(root):
        arrow = "-.->" if edge.kind == "after" else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"  {edge.src} {arrow}{label} {edge.dst}")
    for kind, style in _MERMAID_CLASSES.items():
        if kind in classes:
            out.append(f"  classDef {kind} {style}")
            out.append(f"  class {','.join(classes[kind])} {kind}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- DOT


_DOT_SHAPES = {
    "task": 'shape=box, style="rounded,filled", fillcolor="#f4f6fa"',
    "param": 'shape=parallelogram, style=filled, fillcolor="#eef4ff"',
    "output": 'shape=box, style="rounded,filled", fillcolor="#eefaf0", peripheries=1',
    "pipeline": 'shape=box, style=filled, fillcolor="#fff7e6", peripheries=2',
    "empty": 'shape=plaintext, fontcolor="#888888"',
}


def _dot_text(text: str) -> str:
    """A DOT double-quoted string; backslashes are escaped too, since DOT reads ``\\N``, ``\\l`` in labels."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append(ch if ch.isprintable() else "\ufffd")
    return '"' + "".join(out) + '"'


def to_dot(doc: ir.Document) -> str:
    """The pipeline as a Graphviz ``digraph``: ``dot -Tpng`` draws it.

    Sub-pipelines are ``cluster_`` subgraphs; an ``.after()`` edge to or from one ends at the cluster's
    border (``compound=true`` with ``lhead``/``ltail``).

    Args:
        doc: Any IR document.

    Returns:
        DOT source ending in a newline.
    """
    root = _model(doc)
    out = [
        f"digraph {_dot_text(root.title)} {{",
        "  rankdir=TB;",
        "  compound=true;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    first: dict[str, str] = {}

    def emit(scope: _Scope, indent: str) -> str | None:
        head: str | None = None
        for member in scope.members:
            if isinstance(member, _Scope):
                out.append(f"{indent}subgraph cluster_{member.key} {{")
                out.append(f'{indent}  label={_dot_text(member.title)}; style="rounded,dashed";')
                inner = emit(member, indent + "  ")
                out.append(f"{indent}}}")
                if inner is not None:
                    first[member.key] = inner
            else:
                label = _dot_text("\n".join(member.lines))
                out.append(
                    f"{indent}{member.key} [label={label}, tooltip={_dot_text(member.tooltip)}, "
                    f"{_DOT_SHAPES[member.kind]}];"
                )
                inner = member.key
            head = head or inner
        return head

    emit(root, "  ")
    for edge in _flat_edges(root):
        attrs = []
        src, dst = edge.src, edge.dst
        if edge.src_cluster:
            src = first.get(src, src)
            attrs.append(f"ltail=cluster_{edge.src}")
        if edge.dst_cluster:
            dst = first.get(dst, dst)
            attrs.append(f"lhead=cluster_{edge.dst}")
        if edge.kind == "after":
            attrs.append("style=dashed")
        elif edge.kind == "param":
            attrs.append(f'color="{_EDGE_COLOR["param"]}"')
        if edge.label:
            attrs.append(f"label={_dot_text(edge.label)}")
        out.append(f"  {src} -> {dst}" + (f" [{', '.join(attrs)}];" if attrs else ";"))
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- SVG layout


_CHAR_W = 7.2  # 12px monospace
_LINE_H = 16.0
_PAD_X = 12.0
_PAD_Y = 8.0
_LAYER_GAP = 46.0
_NODE_GAP = 24.0
_DUMMY_W = 6.0
_DUMMY_GAP = 10.0
_BOX_PAD = 14.0
_TITLE_H = 22.0
_MARGIN = 16.0
_BACK_EDGE = 36.0
_MAX_DUMMIES = 20_000
"""Above this many bend points in one scope, further long edges are drawn straight: the layout stays fast."""
_SWEEPS = 6

_FILL = {"task": "#f4f6fa", "param": "#eef4ff", "output": "#eefaf0", "pipeline": "#fff7e6", "empty": "none"}
_STROKE = {"task": "#5b6478", "param": "#4a72b8", "output": "#3f8f4f", "pipeline": "#b07d1a", "empty": "none"}
_EDGE_COLOR = {"data": "#555555", "param": "#4a72b8", "after": "#888888"}


def _num(value: float) -> str:
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _xml(text: str) -> str:
    """Text safe in XML 1.0 content and attributes: escaped, and with characters XML forbids replaced."""
    clean = "".join(
        "\ufffd"
        if (ord(ch) < 0x20 and ch not in "\t\n\r") or 0xD800 <= ord(ch) <= 0xDFFF or ch in "\ufffe\uffff"
        else ch
        for ch in text
    )
    return html.escape(clean, quote=True)


def _text_width(text: str) -> float:
    cells = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        cells += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return cells * _CHAR_W


@dataclass
class _Drawing:
    width: float
    height: float
    body: str
    """SVG elements drawn with the top-left corner at the origin."""


def _node_size(node: _Node) -> tuple[float, float]:
    width = max(_text_width(line) for line in node.lines) + 2 * _PAD_X
    if node.kind == "param":
        width += 14  # the slant of the parallelogram
    return max(width, 48.0), len(node.lines) * _LINE_H + 2 * _PAD_Y


def _rect(x: float, y: float, w: float, h: float) -> str:
    return f'x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}"'


def _node_svg(node: _Node, x: float, y: float, w: float, h: float, prefix: str) -> str:
    fill, stroke = _FILL[node.kind], _STROKE[node.kind]
    paint = f'fill="{fill}" stroke="{stroke}"'
    if node.kind == "param":
        s = 7.0
        corners = [(x + s, y), (x + w, y), (x + w - s, y + h), (x, y + h)]
        points = " ".join(f"{_num(a)},{_num(b)}" for a, b in corners)
        shape = f'<polygon points="{points}" {paint}/>'
    elif node.kind == "pipeline":
        shape = (
            f'<rect {_rect(x, y, w, h)} rx="3" {paint}/>'
            f'<rect {_rect(x + 3, y + 3, w - 6, h - 6)} rx="2" fill="none" stroke="{stroke}"/>'
        )
    else:
        radius = h / 2 if node.kind == "output" else 6.0
        shape = f'<rect {_rect(x, y, w, h)} rx="{_num(radius)}" {paint}/>'
    texts = []
    for i, line in enumerate(node.lines):
        ty = y + _PAD_Y + _LINE_H * i + 12
        extra = ' fill="#666"' if i else ""
        texts.append(f'<text x="{_num(x + w / 2)}" y="{_num(ty)}"{extra}>{_xml(line)}</text>')
    title = f"<title>{_xml(node.tooltip)}</title>"
    return f'<g class="node {node.kind}" id="{prefix}-{node.key}">{title}{shape}{"".join(texts)}</g>'


def _draw_scope(scope: _Scope, prefix: str, framed: bool) -> _Drawing:
    """Lay out one scope; sub-scopes are laid out first and placed as big nodes."""
    members = scope.members
    count = len(members)
    index = {m.key: i for i, m in enumerate(members)}
    children: dict[int, _Drawing] = {}
    sizes: list[tuple[float, float]] = []
    for i, member in enumerate(members):
        if isinstance(member, _Scope):
            children[i] = _draw_scope(member, prefix, framed=True)
            sizes.append((children[i].width, children[i].height))
        else:
            sizes.append(_node_size(member))

    # One drawn edge per (source, target, kind); labels of parallel edges are joined.
    grouped: dict[tuple[int, int, _EdgeKind], list[str]] = {}
    for edge in scope.edges:
        s, d = index.get(edge.src), index.get(edge.dst)
        if s is None or d is None or s == d:
            continue
        labels = grouped.setdefault((s, d, edge.kind), [])
        if edge.label and edge.label not in labels:
            labels.append(edge.label)

    layer = _layers(
        count, [(s, d) for s, d, _ in grouped], [isinstance(m, _Node) and m.kind == "param" for m in members]
    )
    graph = _Layered(layer, [w for w, _ in sizes])
    for s, d, _ in grouped:
        graph.route(s, d)
    graph.order()
    xs = graph.coordinates()

    depth = max(layer, default=-1) + 1
    band = [0.0] * depth
    for i, (_, h) in enumerate(sizes):
        band[layer[i]] = max(band[layer[i]], h)
    top = [0.0] * depth
    for level in range(1, depth):
        top[level] = top[level - 1] + band[level - 1] + _LAYER_GAP
    left = min((xs[v] - graph.width[v] / 2 for v in range(len(xs))), default=0.0)
    right = max((xs[v] + graph.width[v] / 2 for v in range(len(xs))), default=0.0)
    content_w, content_h = right - left, (top[-1] + band[-1]) if depth else 0.0
    if any(layer[d] <= layer[s] for s, d, _ in grouped):
        content_w += _BACK_EDGE  # room for edges drawn around the right side

    parts: list[str] = []
    if framed:
        width = max(content_w, _text_width(scope.title)) + 2 * _BOX_PAD
        height = content_h + _TITLE_H + 2 * _BOX_PAD
        shift, inset_y = (width - content_w) / 2 - left, _TITLE_H + _BOX_PAD
        parts.append(
            f'<rect class="frame" x="0" y="0" width="{_num(width)}" height="{_num(height)}" rx="8" '
            f'fill="#fffdf7" stroke="#b07d1a" stroke-dasharray="5 3"/>'
            f'<text class="title" x="{_num(_BOX_PAD)}" y="17" text-anchor="start" font-weight="bold">'
            f"{_xml(scope.title)}</text>"
        )
    else:
        width, height = content_w + 2 * _MARGIN, content_h + 2 * _MARGIN
        shift, inset_y = _MARGIN - left, _MARGIN

    def cx(v: int) -> float:
        return xs[v] + shift

    def cy(v: int) -> float:
        return inset_y + top[graph.layer[v]] + band[graph.layer[v]] / 2

    def half_band(v: int) -> float:
        return band[graph.layer[v]] / 2

    boxes = [(cx(i) - w / 2, cy(i) - h / 2, w, h) for i, (w, h) in enumerate(sizes)]
    parts.extend(_edges_svg(grouped, graph, boxes, (cx, cy, half_band), prefix))
    for i, member in enumerate(members):
        x, y, w, h = boxes[i]
        if isinstance(member, _Scope):
            parts.append(
                f'<g class="subpipeline" id="{prefix}-{member.key}" '
                f'transform="translate({_num(x)},{_num(y)})">{children[i].body}</g>'
            )
        else:
            parts.append(_node_svg(member, x, y, w, h, prefix))
    return _Drawing(width, height, "".join(parts))


def _edges_svg(
    grouped: dict[tuple[int, int, _EdgeKind], list[str]],
    graph: _Layered,
    boxes: list[tuple[float, float, float, float]],
    place: tuple[Callable[[int], float], Callable[[int], float], Callable[[int], float]],
    prefix: str,
) -> list[str]:
    """Edge paths (and their labels); ``place`` gives a vertex's centre x, centre y and half band height."""
    cx, cy, half_band = place
    # Edges leave a node's bottom and enter its top at ports spread in the order of the side they go to.
    hops = {(s, d): graph.hops(s, d) for s, d, _ in grouped}
    outs: dict[int, set[int]] = {}
    ins: dict[int, set[int]] = {}
    for (s, d), (after_s, before_d) in hops.items():
        outs.setdefault(s, set()).add(after_s)
        ins.setdefault(d, set()).add(before_d)
    ports: dict[tuple[int, int, bool], float] = {}
    for table, downward in ((outs, True), (ins, False)):
        for node, others in table.items():
            x, _, w, _ = boxes[node]
            ordered = sorted(others, key=lambda v: (cx(v), v))
            spread = min(w * 0.6, 14.0 * (len(ordered) - 1))
            step = spread / (len(ordered) - 1) if len(ordered) > 1 else 0.0
            for i, other in enumerate(ordered):
                ports[(node, other, downward)] = x + w / 2 - spread / 2 + step * i

    parts = []
    drawn: dict[int, int] = {}  # source -> deepest layer of its trunk drawn so far
    placed: dict[float, list[tuple[float, ...]]] = {}  # label boxes by the gap between layers they are in
    for (s, d, kind), labels in grouped.items():
        after_s, before_d = hops[(s, d)]
        sx, ex = ports[(s, after_s, True)], ports[(d, before_d, False)]
        sy, ey = boxes[s][1] + boxes[s][3], boxes[d][1]
        ls, ld = graph.layer[s], graph.layer[d]
        if ld <= ls:  # against the flow, only in a graph with a cycle: from right side to right side
            sx, sy = boxes[s][0] + boxes[s][2], boxes[s][1] + boxes[s][3] / 2
            ex, ey = boxes[d][0] + boxes[d][2], boxes[d][1] + boxes[d][3] / 2
            bend = max(sx, ex) + _BACK_EDGE
            path = f"M{_num(sx)},{_num(sy)} C{_num(bend)},{_num(sy)} {_num(bend)},{_num(ey)} "
            path += f"{_num(ex)},{_num(ey)}"
            crossing = ((bend, sy), (bend, ey))
        else:
            # A trunk shared with an earlier edge is drawn once: this path starts where it branches off,
            # which keeps the SVG linear in size when one parameter feeds a thousand tasks.
            route, x0, y0 = [d], sx, cy(s) + half_band(s)
            if before_d != s:
                start = min(drawn.get(s, ls), ld - 1)
                if start > ls:
                    t = graph.trunks[(s, start)]
                    sx, sy = cx(t), cy(t) + half_band(t)
                    x0, y0 = sx, sy
                route = [graph.trunks[(s, level)] for level in range(start + 1, ld)] + route
                drawn[s] = max(drawn.get(s, ls), ld - 1)
            path = f"M{_num(sx)},{_num(sy)}"
            # Run straight down through a layer (past taller neighbours), curve only between layers.
            if y0 > sy:
                path += f" L{_num(x0)},{_num(y0)}"
            for v in route:
                x1, y1 = (ex, cy(d) - half_band(d)) if v == d else (cx(v), cy(v) - half_band(v))
                ym = (y0 + y1) / 2
                path += f" C{_num(x0)},{_num(ym)} {_num(x1)},{_num(ym)} {_num(x1)},{_num(y1)}"
                crossing = ((x0, y0), (x1, y1))
                x0, y0 = x1, (ey if v == d else cy(v) + half_band(v))
                if y0 > y1:
                    path += f" L{_num(x0)},{_num(y0)}"
        dash = ' stroke-dasharray="4 3"' if kind == "after" else ""
        parts.append(
            f'<path class="edge {kind}" d="{path}" fill="none" stroke="{_EDGE_COLOR[kind]}"{dash} '
            f'marker-end="url(#{prefix}-{kind})"/>'
        )
        if labels:
            text = ", ".join(labels)
            x, y = _label_spot(crossing, text, placed.setdefault(crossing[0][1], []))
            parts.append(
                f'<text class="edge-label" x="{_num(x)}" y="{_num(y + 4)}" '
                f'font-size="10" fill="#444" stroke="#fff" stroke-width="3" paint-order="stroke">'
                f"{_xml(text)}</text>"
            )
    return parts


_LABEL_SPOTS = [(t, side) for t in (0.5, 0.25, 0.75) for side in (0, 1, -1, 2, -2)]
"""Where on the curve (0 top, 1 bottom) and how many half label widths beside it a label may go."""


def _label_spot(
    crossing: tuple[tuple[float, float], tuple[float, float]], text: str, placed: list[tuple[float, ...]]
) -> tuple[float, float]:
    """Where an edge's label goes on its curve between two layers: the middle, unless another label in the
    same gap is there; then beside the curve, or higher or lower; failing all, where it overlaps least."""
    (x0, y0), (x1, y1) = crossing
    ym = (y0 + y1) / 2
    w, h = _text_width(text) * 10 / 12 + 6, 13.0
    nearby = placed[-200:]  # bounds the work when a thousand edges end in one gap
    best: tuple[float, float, float, tuple[float, ...]] | None = None
    for t, side in _LABEL_SPOTS:
        u = 1 - t
        x = x0 * (u**3 + 3 * u * u * t) + x1 * (3 * u * t * t + t**3) + side * (w / 2 + 3)
        y = y0 * u**3 + ym * 3 * u * t + y1 * t**3
        box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        overlap = sum(
            max(0.0, min(b[2], box[2]) - max(b[0], box[0])) * max(0.0, min(b[3], box[3]) - max(b[1], box[1]))
            for b in nearby
        )
        if best is None or overlap < best[0]:
            best = (overlap, x, y, box)
        if overlap == 0:
            break
    assert best is not None
    placed.append(best[3])
    return best[1], best[2]


def _layers(count: int, edges: list[tuple[int, int]], is_param: list[bool]) -> list[int]:
    """Longest-path layers from the sources; edges closing a cycle are ignored; parameters sit just above
    their first consumer rather than all at the top."""
    succ: list[list[int]] = [[] for _ in range(count)]
    indegree = [0] * count
    for s, d in edges:
        succ[s].append(d)
        indegree[d] += 1
    layer = [0] * count
    done = [False] * count
    ready = [v for v in range(count) if indegree[v] == 0]
    heapq.heapify(ready)
    remaining = count
    while remaining:
        if not ready:  # a cycle: break it at the first node not yet placed
            ready.append(next(v for v in range(count) if not done[v]))
        v = heapq.heappop(ready)
        if done[v]:
            continue
        done[v] = True
        remaining -= 1
        for w in succ[v]:
            if not done[w]:
                layer[w] = max(layer[w], layer[v] + 1)
                indegree[w] -= 1
                if indegree[w] == 0:
                    heapq.heappush(ready, w)
    for v in range(count):
        if is_param[v] and succ[v]:
            layer[v] = max(0, min(layer[w] for w in succ[v]) - 1)
    return layer


class _Layered:
    """The proper layered graph: real nodes plus bend points, so that every segment spans one layer.

    Long edges from one source share its bend points (a trunk), which keeps a parameter read by many
    tasks to one line down the page and the number of bend points linear in practice.
    """

    def __init__(self, layer: list[int], widths: list[float]) -> None:
        self.layer = list(layer)
        self.width = list(widths)
        self.real = len(layer)
        self.up: list[list[int]] = [[] for _ in layer]
        self.down: list[list[int]] = [[] for _ in layer]
        self.trunks: dict[tuple[int, int], int] = {}
        self.trunk_end: dict[int, int] = {}
        self.links: set[tuple[int, int]] = set()
        self.straight: set[tuple[int, int]] = set()
        self.rows: list[list[int]] = []

    def _vertex(self, level: int) -> int:
        self.layer.append(level)
        self.width.append(_DUMMY_W)
        self.up.append([])
        self.down.append([])
        return len(self.layer) - 1

    def _link(self, a: int, b: int) -> None:
        if (a, b) not in self.links:
            self.links.add((a, b))
            self.down[a].append(b)
            self.up[b].append(a)

    def route(self, s: int, d: int) -> None:
        """Add an edge: directly to the next layer, or down ``s``'s trunk of bend points."""
        ls, ld = self.layer[s], self.layer[d]
        if ld == ls + 1:
            self._link(s, d)
        if ld <= ls + 1:
            return
        end = self.trunk_end.get(s, ls)
        if len(self.layer) - self.real + (ld - 1 - end) > _MAX_DUMMIES:
            self.straight.add((s, d))  # drawn straight; not part of ordering
            return
        for level in range(end + 1, ld):
            self.trunks[(s, level)] = self._vertex(level)
            self._link(self.trunks[(s, level - 1)] if level - 1 > ls else s, self.trunks[(s, level)])
        self.trunk_end[s] = max(end, ld - 1)
        self._link(self.trunks[(s, ld - 1)], d)

    def hops(self, s: int, d: int) -> tuple[int, int]:
        """The vertex an edge goes to after ``s``, and the one it comes from before ``d``."""
        ls, ld = self.layer[s], self.layer[d]
        if ld <= ls + 1 or (s, d) in self.straight:
            return d, s
        return self.trunks[(s, ls + 1)], self.trunks[(s, ld - 1)]

    def order(self) -> None:
        """Barycentre sweeps down and up; the ordering with the fewest crossings wins."""
        depth = max(self.layer, default=-1) + 1
        rows: list[list[int]] = [[] for _ in range(depth)]
        for v, level in enumerate(self.layer):
            rows[level].append(v)
        pos = [0.0] * len(self.layer)
        for row in rows:
            for i, v in enumerate(row):
                pos[v] = i
        best, best_cross = [list(r) for r in rows], self._crossings(rows, pos)
        for sweep in range(_SWEEPS):
            downward = sweep % 2 == 0
            levels = range(1, depth) if downward else range(depth - 2, -1, -1)
            for level in levels:
                near = self.up if downward else self.down
                row = rows[level]
                keys = {}
                for v in row:
                    others = near[v]
                    keys[v] = (
                        (sum(pos[o] for o in others) / len(others), pos[v]) if others else (pos[v], pos[v])
                    )
                row.sort(key=keys.__getitem__)
                for i, v in enumerate(row):
                    pos[v] = i
            crossings = self._crossings(rows, pos)
            if crossings < best_cross:
                best, best_cross = [list(r) for r in rows], crossings
            if best_cross == 0:
                break
        self.rows = best

    def _crossings(self, rows: list[list[int]], pos: list[float]) -> int:
        total = 0
        for level in range(len(rows) - 1):
            pairs = sorted((pos[a], pos[b]) for a in rows[level] for b in self.down[a])
            tree = [0] * (len(rows[level + 1]) + 1)
            for seen, (_, b) in enumerate(pairs):
                # count earlier pairs whose target lies right of b (a Fenwick tree over target positions)
                i, below = int(b) + 1, 0
                while i > 0:
                    below += tree[i]
                    i -= i & -i
                total += seen - below
                i = int(b) + 1
                while i < len(tree):
                    tree[i] += 1
                    i += i & -i
        return total

    def coordinates(self) -> list[float]:
        """x centres: each row pulled toward its neighbours' mean, alternately down and up, kept in order."""
        x = [0.0] * len(self.layer)
        for row in self.rows:
            packed = _pack(
                [0.0] * len(row),
                [self.width[v] for v in row],
                [self._gap(a, b) for a, b in pairwise(row)],
            )
            for v, value in zip(row, packed, strict=True):
                x[v] = value
        for sweep in range(4):
            downward = sweep % 2 == 0
            rows = self.rows if downward else list(reversed(self.rows))
            near = self.up if downward else self.down
            for row in rows:
                wanted = [sum(x[o] for o in near[v]) / len(near[v]) if near[v] else x[v] for v in row]
                gaps = [self._gap(a, b) for a, b in pairwise(row)]
                for v, value in zip(row, _pack(wanted, [self.width[v] for v in row], gaps), strict=True):
                    x[v] = value
        return x

    def _gap(self, a: int, b: int) -> float:
        return _NODE_GAP if a < self.real and b < self.real else _DUMMY_GAP


def _pack(wanted: list[float], widths: list[float], gaps: list[float]) -> list[float]:
    """Centres in the given order, as close to ``wanted`` as possible (least squares) without overlapping.

    With offsets ``o`` the cumulative minimum distances, ``x - o`` must be non-decreasing: an isotonic
    regression, solved exactly by pooling adjacent violators.
    """
    offsets = [0.0]
    for i in range(1, len(widths)):
        offsets.append(offsets[-1] + (widths[i - 1] + widths[i]) / 2 + gaps[i - 1])
    blocks: list[list[float]] = []  # [sum, count]
    for want, offset in zip(wanted, offsets, strict=True):
        blocks.append([want - offset, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, n = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += n
    out: list[float] = []
    for total, n in blocks:
        out.extend([total / n] * int(n))
    return [value + offset for value, offset in zip(out, offsets, strict=True)]


def to_svg(doc: ir.Document) -> str:
    """The pipeline drawn as a standalone SVG image, laid out here (no Graphviz needed).

    Sub-pipelines are dashed, labelled boxes around their own nodes; one that cannot be expanded (its spec
    is missing, or it calls itself) is a single node with a double border.

    Args:
        doc: Any IR document.

    Returns:
        An SVG document (UTF-8 text), byte-identical for the same input.
    """
    root = _model(doc)
    # Marker ids must not clash when a notebook shows several pipelines on one page.
    prefix = "mlg-" + (doc.digest or hashlib.sha256(doc.to_json().encode()).hexdigest())[:10]
    drawing = _draw_scope(root, prefix, framed=False)
    width, height = max(drawing.width, 2 * _MARGIN), max(drawing.height, 2 * _MARGIN)
    markers = "".join(
        f'<marker id="{prefix}-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
        for kind, color in _EDGE_COLOR.items()
    )
    name = _xml("pipeline " + root.title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}" role="img" aria-label="{name}" '
        f'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" font-size="12" '
        f'text-anchor="middle">'
        f"<title>{name}</title><defs>{markers}</defs>{drawing.body}</svg>\n"
    )


# --------------------------------------------------------------------------- notebook and REPL views


_MAX_TASK_LINES = 50


def _binding_text(binding: ir.Binding) -> str:
    if isinstance(binding, ir.ParameterBinding):
        return binding.name + _path_text(binding.path)
    if isinstance(binding, ir.TaskOutputBinding):
        name = "" if binding.output == "output" else "." + binding.output
        return binding.task + name + _path_text(binding.path)
    if isinstance(binding, ir.OneOfBinding):
        return "one_of(" + ", ".join(_binding_text(s) for s in binding.sources) + ")"
    if isinstance(binding, ir.StatusBinding):
        return "status"
    return _value_text(binding.value, 24)


def _task_text(task: ir.Task, declared: _Declared) -> str:
    """``fit-2 = fit(ys=load, lr=lr) after check``: what the task calls and what it reads."""
    args = ", ".join(f"{n}={_binding_text(task.inputs[n])}" for n in declared.inputs(task))
    text = f"{task.callee}({args})" if task.id == task.callee else f"{task.id} = {task.callee}({args})"
    if task.pipeline is not None:
        text += "  [pipeline]"
    if task.after:
        text += "  after " + ", ".join(task.after)
    return text if len(text) <= 150 else text[:149] + "…"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _counts(doc: ir.Document) -> str:
    """``5 tasks, 4 steps, 1 sub-pipeline``: tasks of the root, steps and sub-pipelines of the document."""
    text = f"{_plural(len(doc.pipeline.tasks), 'task')}, {_plural(len(doc.steps), 'step')}"
    subs = len(doc.pipelines) - 1
    return text + (f", {_plural(subs, 'sub-pipeline')}" if subs else "")


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0].strip() if text and text.strip() else ""


def summary(doc: ir.Document, problems: Sequence[Problem] = ()) -> str:
    """A plain-text summary of the root pipeline, one line per task: the ``repr`` of a pipeline.

    Args:
        doc: Any IR document.
        problems: Problems to list at the end (``Pipeline.problems()``).

    Returns:
        Text without a trailing newline.
    """
    spec = doc.pipeline
    head = f"pipeline {spec.name!r}"
    description = _first_line(spec.description)
    lines = [f"{head}: {description}" if description else head]
    if spec.params:
        lines.append("  params:  " + ", ".join(_param_text(p) for p in spec.params))
    lines.append(f"  {_counts(doc)}" + (":" if spec.tasks else ""))
    declared = _Declared(doc)
    for task in spec.tasks[:_MAX_TASK_LINES]:
        lines.append("    " + _task_text(task, declared))
    if len(spec.tasks) > _MAX_TASK_LINES:
        lines.append(f"    ... and {len(spec.tasks) - _MAX_TASK_LINES} more")
    if spec.outputs:
        outs = ", ".join(f"{o.name}: {o.type} = {_binding_text(o.source)}" for o in spec.outputs)
        lines.append("  outputs: " + outs)
    if problems:
        lines.append(f"  {_plural(len(problems), 'problem')}:")
        lines.extend(f"    {p}" for p in problems)
    return "\n".join(lines)


def to_html(doc: ir.Document, problems: Sequence[Problem] = ()) -> str:
    """The notebook view (``_repr_html_``): a header, the problems if any, and the inline SVG.

    Args:
        doc: Any IR document.
        problems: Problems to list above the drawing (``Pipeline.problems()``).

    Returns:
        An HTML fragment; every piece of user text in it is escaped.
    """
    spec = doc.pipeline
    counts = _counts(doc)
    parts = [
        '<div class="mlopsdsl-pipeline" style="font-family:sans-serif;font-size:13px">',
        f'<div><strong>{html.escape(spec.name)}</strong> <span style="color:#666">{counts}</span></div>',
    ]
    description = _first_line(spec.description)
    if description:
        parts.append(f'<div style="color:#444">{html.escape(description)}</div>')
    if spec.params:
        params = ", ".join(f"<code>{html.escape(_param_text(p))}</code>" for p in spec.params)
        parts.append(f"<div>parameters: {params}</div>")
    if problems:
        noun = _plural(len(problems), "problem")
        items = "".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in problems)
        parts.append(
            f'<div class="problems" style="color:#b00020"><strong>{noun}</strong><ul>{items}</ul></div>'
        )
    parts.append(f'<div style="overflow:auto;max-height:80vh">{to_svg(doc)}</div>')
    parts.append("</div>")
    return "\n".join(parts)


def render(doc: ir.Document, format: str) -> str:
    """The picture of ``doc`` in ``format``: one of :data:`FORMATS`.

    Args:
        doc: Any IR document.
        format: ``"mermaid"``, ``"dot"`` or ``"svg"``.

    Returns:
        The text of the picture.

    Raises:
        ValueError: ``format`` is not one of :data:`FORMATS`.
    """
    renderers: dict[str, Callable[[ir.Document], str]] = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg}
    if format not in renderers:
        raise ValueError(f"unknown graph format {format!r}; choose one of {', '.join(FORMATS)}")
    return renderers[format](doc)
