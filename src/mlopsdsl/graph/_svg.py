"""A self-contained SVG of the graph, laid out here so that no system package (Graphviz) is needed:
longest-path layers, barycentre ordering to reduce crossings, compact coordinates, sub-pipelines as
labelled boxes."""

from __future__ import annotations

import hashlib
import heapq
import html
import unicodedata
from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass

if TYPE_CHECKING:
    pass
from mlopsdsl.graph._model import _EdgeKind, _model, _Node, _Scope

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
