"""Pictures of the DAG: Mermaid, DOT and SVG read back with small parsers, the REPL and notebook views."""

from __future__ import annotations

import dataclasses
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import NamedTuple

import pytest

import mlopsdsl as ml
from mlopsdsl import graph, ir

SVG = "{http://www.w3.org/2000/svg}"
SPECIAL = "a<b> & \"q\" 's' {{x}} #1; `t` ünï 日本\nline 2"


# --------------------------------------------------------------------------- pipelines


class Fit(NamedTuple):
    slope: float
    intercept: float


@dataclass
class Metrics:
    accuracy: float
    loss: float


@ml.step
def load(n: int) -> list[float]:
    return [float(i) for i in range(n)]


@ml.step
def fit(ys: list[float], lr: float = 0.1) -> Fit:
    return Fit(slope=lr, intercept=sum(ys))


@ml.step
def evaluate(slope: float) -> Metrics:
    return Metrics(accuracy=slope, loss=0.0)


@ml.step
def report(slope: float, intercept: float, accuracy: float = 0.0) -> str:
    return f"{slope} {intercept} {accuracy}"


@ml.step
def check() -> bool:
    return True


@ml.pipeline
def fitline(n: int = 100, lr: float = 0.1) -> str:
    """Fit a line <fast> & well.

    Second paragraph.
    """
    ok = check()
    line = fit(ys=load(n=n), lr=lr)
    metrics = evaluate(slope=line.slope)
    return report(slope=line.slope, intercept=line.intercept, accuracy=metrics.accuracy).after(ok)


@ml.pipeline
def prep(n: int, lr: float = 0.5) -> Fit:
    return fit(ys=load(n=n), lr=lr)


@ml.pipeline
def outer(n: int = 3) -> str:
    ok = check()
    first = prep(n=n)
    second = prep(n=n, lr=first.slope).after(ok)
    return report(slope=second.slope, intercept=first.intercept)


@ml.pipeline
def nested(n: int = 3) -> str:
    inner = outer(n=n)
    return report(slope=1.0, intercept=1.0).after(inner)


@ml.pipeline
def broken(n: int = 3) -> float:
    return fit(ys=load(n="three"), lr="fast").slope  # type: ignore[arg-type]


@ml.pipeline
def cyclic(n: int = 3) -> Fit:
    a = fit(ys=load(n=n))
    b = fit(ys=load(n=n))
    a.after(b)
    b.after(a)
    return a


# --------------------------------------------------------------------------- small parsers


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    kind: str  # "data" or "after"
    label: str


def _mermaid_unescape(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text.replace("<br/>", "\n"))


_M_NODE = re.compile(r'^(n\d+)(\[\[|\[/|\(\[|\[)"([^"]*)"(\]\]|/\]|\]\)|\])$')
_M_EDGE = re.compile(r'^(n\d+) (-->|-\.->)(?:\|"([^"]*)"\|)? (n\d+)$')
_M_SUBGRAPH = re.compile(r'^subgraph (n\d+)\["([^"]*)"\]$')
_SHAPES = {"[": "task", "[/": "param", "([": "output", "[[": "pipeline"}


@dataclass
class Mermaid:
    labels: dict[str, str]
    shapes: dict[str, str]
    edges: set[Edge]
    parent: dict[str, str | None]  # node or subgraph id -> enclosing subgraph id
    subgraphs: dict[str, str]


def parse_mermaid(text: str) -> Mermaid:
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    out = Mermaid({}, {}, set(), {}, {})
    stack: list[str] = []
    for raw in lines[1:]:
        line = raw.strip()
        if m := _M_SUBGRAPH.match(line):
            out.parent[m[1]] = stack[-1] if stack else None
            out.subgraphs[m[1]] = _mermaid_unescape(m[2])
            stack.append(m[1])
        elif line == "end":
            stack.pop()
        elif m := _M_NODE.match(line):
            assert m[1] not in out.labels, f"node {m[1]} defined twice"
            out.labels[m[1]] = _mermaid_unescape(m[3])
            out.shapes[m[1]] = _SHAPES[m[2]]
            out.parent[m[1]] = stack[-1] if stack else None
        elif m := _M_EDGE.match(line):
            kind = "after" if m[2] == "-.->" else "data"
            out.edges.add(Edge(m[1], m[4], kind, _mermaid_unescape(m[3] or "")))
        else:
            assert line == "direction TB" or line.startswith(("classDef ", "class ")), line
    assert not stack
    for edge in out.edges:
        for end in (edge.src, edge.dst):
            assert end in out.labels or end in out.subgraphs, end
    return out


def _dot_unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], text)


_D_STR = r'"((?:[^"\\]|\\.)*)"'
_D_NODE = re.compile(rf"^(n\d+) \[label={_D_STR}, (.*)\];$")
_D_EDGE = re.compile(r"^(n\d+) -> (n\d+)(?: \[(.*)\])?;$")


@dataclass
class Dot:
    labels: dict[str, str]
    attrs: dict[str, str]
    edges: set[Edge]
    edge_attrs: dict[Edge, str]
    clusters: list[str]


def parse_dot(text: str) -> Dot:
    lines = text.splitlines()
    assert lines[0].startswith("digraph ") and lines[0].endswith("{") and lines[-1] == "}"
    out = Dot({}, {}, set(), {}, [])
    depth = 0
    for raw in lines[1:-1]:
        line = raw.strip()
        if m := re.match(r"^subgraph (cluster_n\d+) \{$", line):
            out.clusters.append(m[1])
            depth += 1
        elif line == "}":
            depth -= 1
        elif m := _D_NODE.match(line):
            out.labels[m[1]] = _dot_unescape(m[2])
            out.attrs[m[1]] = m[3]
        elif m := _D_EDGE.match(line):
            attrs = m[3] or ""
            label = re.search(rf"label={_D_STR}", attrs)
            kind = "after" if "style=dashed" in attrs else "data"
            edge = Edge(m[1], m[2], kind, _dot_unescape(label[1]) if label else "")
            out.edges.add(edge)
            out.edge_attrs[edge] = attrs
    assert depth == 0
    return out


def parse_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    return root


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}{tag}") if cls in (e.get("class") or "").split()]


def node_text(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG}text")]


def rect_size(group: ET.Element, attr: str) -> float:
    rect = group.find(f"{SVG}rect")
    assert rect is not None
    return float(rect.get(attr, "nan"))


def named(edges: set[Edge], labels: dict[str, str]) -> set[tuple[str, str, str, str]]:
    """Edges by the labels of their ends (ids are an implementation detail)."""
    return {(labels.get(e.src, e.src), labels.get(e.dst, e.dst), e.kind, e.label) for e in edges}


def rename_task(doc: ir.Document, old: str, new: str) -> ir.Document:
    """The document with a task of the root pipeline renamed, references included."""

    def rebind(binding: ir.Binding) -> ir.Binding:
        if isinstance(binding, ir.TaskOutputBinding) and binding.task == old:
            return dataclasses.replace(binding, task=new)
        return binding

    tasks = [
        dataclasses.replace(
            t,
            id=new if t.id == old else t.id,
            inputs={k: rebind(b) for k, b in t.inputs.items()},
            after=[new if a == old else a for a in t.after],
        )
        for t in doc.pipeline.tasks
    ]
    outputs = [dataclasses.replace(o, source=rebind(o.source)) for o in doc.pipeline.outputs]
    root = dataclasses.replace(doc.pipeline, tasks=tasks, outputs=outputs)
    return dataclasses.replace(doc, pipelines=[root, *doc.pipelines[1:]])


FITLINE_EDGES = {
    ("n: int = 100", "load", "data", ""),
    ("lr: float = 0.1", "fit", "data", ""),
    ("load", "fit", "data", ""),
    ("fit", "evaluate", "data", "slope"),
    ("fit", "report", "data", "slope"),
    ("fit", "report", "data", "intercept"),
    ("evaluate", "report", "data", "accuracy"),
    ("check", "report", "after", ""),
    ("report", "output: str", "data", ""),
}


# --------------------------------------------------------------------------- Mermaid


def test_mermaid_edges_are_the_bindings_and_after_edges() -> None:
    chart = parse_mermaid(graph.to_mermaid(fitline.build()))
    assert named(chart.edges, chart.labels) == FITLINE_EDGES
    assert sorted(chart.shapes.values()).count("param") == 2
    assert [chart.labels[k] for k, s in chart.shapes.items() if s == "output"] == ["output: str"]


def test_mermaid_node_ids_are_safe_and_unique() -> None:
    text = graph.to_mermaid(outer.build())
    chart = parse_mermaid(text)
    ids = [*chart.labels, *chart.subgraphs]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"n\d+", i) for i in ids)


def test_mermaid_labels_show_task_and_step_when_they_differ() -> None:
    chart = parse_mermaid(graph.to_mermaid(_document(cyclic)))
    assert sorted(chart.labels.values()) == sorted(
        ["n: int = 3", "load", "fit", "load-2\nload", "fit-2\nfit", "slope: float", "intercept: float"]
    )


def test_mermaid_sub_pipelines_are_subgraphs_with_their_own_nodes() -> None:
    chart = parse_mermaid(graph.to_mermaid(outer.build()))
    assert sorted(chart.subgraphs.values()) == ["prep (pipeline)", "prep-2: prep (pipeline)"]
    first, second = sorted(chart.subgraphs, key=chart.subgraphs.__getitem__)
    inside = {
        sub: {k for k, p in chart.parent.items() if p == sub and k in chart.labels} for sub in (first, second)
    }
    for sub in (first, second):
        assert sorted(chart.labels[k] for k in inside[sub]) == [
            "fit",
            "intercept: float",
            "load",
            "lr: float = 0.5",
            "n: int",
            "slope: float",
        ]
    assert not inside[first] & inside[second]

    def node(sub: str, label: str) -> str:
        return next(k for k in inside[sub] if chart.labels[k] == label)

    n = next(k for k, v in chart.labels.items() if v == "n: int = 3")
    check_id = next(k for k, v in chart.labels.items() if v == "check")
    report_id = next(k for k, v in chart.labels.items() if v == "report")
    expected = {
        Edge(n, node(first, "n: int"), "data", ""),
        Edge(n, node(second, "n: int"), "data", ""),
        # first.slope feeds the second call's lr: from the first's output node to the second's parameter
        Edge(node(first, "slope: float"), node(second, "lr: float = 0.5"), "data", "slope"),
        Edge(check_id, second, "after", ""),  # ordering on a sub-pipeline ends at its subgraph
        Edge(node(second, "slope: float"), report_id, "data", "slope"),
        Edge(node(first, "intercept: float"), report_id, "data", "intercept"),
    }
    output = next(k for k, v in chart.labels.items() if v == "output: str")
    crossing = {e for e in chart.edges if not any(e.src in inside[s] and e.dst in inside[s] for s in inside)}
    assert crossing == expected | {Edge(report_id, output, "data", "")}
    for sub in (first, second):
        inner = {e for e in chart.edges if e.src in inside[sub] and e.dst in inside[sub]}
        assert named(inner, chart.labels) == {
            ("n: int", "load", "data", ""),
            ("load", "fit", "data", ""),
            ("lr: float = 0.5", "fit", "data", ""),
            ("fit", "slope: float", "data", "slope"),
            ("fit", "intercept: float", "data", "intercept"),
        }


def test_mermaid_nests_sub_pipelines_recursively() -> None:
    chart = parse_mermaid(graph.to_mermaid(nested.build()))
    outer_id = next(k for k, v in chart.subgraphs.items() if v == "outer (pipeline)")
    preps = [k for k, v in chart.subgraphs.items() if "prep" in v]
    assert len(preps) == 2 and all(chart.parent[p] == outer_id for p in preps)
    assert chart.parent[outer_id] is None


def test_mermaid_escapes_every_label() -> None:
    doc = rename_task(fitline.build(), "load", SPECIAL)
    text = graph.to_mermaid(doc)
    chart = parse_mermaid(text)  # the regexes allow no stray quote inside a label
    assert f"{SPECIAL}\nload" in chart.labels.values()
    node_line = next(line for line in text.splitlines() if "#60;b#62;" in line)
    assert node_line.count('"') == 2
    assert not re.search(r"[<>&`]", node_line.replace("<br/>", ""))


# --------------------------------------------------------------------------- DOT


def test_dot_has_the_same_edges_as_mermaid() -> None:
    for pipeline in (fitline, outer, nested):
        doc = pipeline.build()
        dot, chart = parse_dot(graph.to_dot(doc)), parse_mermaid(graph.to_mermaid(doc))
        assert dot.labels == chart.labels
        plain = {e for e in chart.edges if e.src not in chart.subgraphs and e.dst not in chart.subgraphs}
        assert plain <= dot.edges
        assert len(dot.edges) == len(chart.edges)


def test_dot_clusters_and_edges_to_a_cluster() -> None:
    dot = parse_dot(graph.to_dot(outer.build()))
    assert len(dot.clusters) == 2
    after = [e for e in dot.edges if e.kind == "after"]
    assert len(after) == 1 and dot.labels[after[0].src] == "check"
    assert re.search(r"lhead=cluster_n\d+", dot.edge_attrs[after[0]])
    assert named({e for e in dot.edges if e.kind == "data"}, dot.labels) >= {
        ("fit", "slope: float", "data", "slope")
    }
    assert "compound=true;" in graph.to_dot(outer.build())


def test_dot_escapes_labels() -> None:
    doc = rename_task(fitline.build(), "load", SPECIAL + "\\N")
    dot = parse_dot(graph.to_dot(doc))
    assert f"{SPECIAL}\\N\nload" in dot.labels.values()


# --------------------------------------------------------------------------- SVG


def test_svg_is_well_formed_with_one_shape_per_node_and_one_path_per_edge() -> None:
    root = parse_svg(graph.to_svg(fitline.build()))
    tasks = by_class(root, "g", "task")
    assert sorted(node_text(g)[0] for g in tasks) == ["check", "evaluate", "fit", "load", "report"]
    assert all(len(g.findall(f"{SVG}rect")) == 1 for g in tasks)
    assert len(by_class(root, "g", "param")) == 2 and len(by_class(root, "g", "output")) == 1
    # fit -> report carries slope and intercept: one path, both labels
    assert len(by_class(root, "path", "edge")) == len(FITLINE_EDGES) - 1
    assert len(by_class(root, "path", "after")) == 1
    labels = sorted(t.text or "" for t in by_class(root, "text", "edge-label"))
    assert labels == ["accuracy", "slope", "slope, intercept"]
    markers = {m.get("id") for m in root.iter(f"{SVG}marker")}
    for path in by_class(root, "path", "edge"):
        assert path.get("marker-end", "")[5:-1] in markers
        assert re.fullmatch(r"M[-\d.]+,[-\d.]+( [LC][-\d., ]+)+", path.get("d", ""))


def test_svg_places_layers_top_to_bottom() -> None:
    root = parse_svg(graph.to_svg(fitline.build()))
    top = {node_text(g)[0]: rect_size(g, "y") for g in by_class(root, "g", "task")}
    assert top["load"] < top["fit"] < top["evaluate"] < top["report"]
    width, height = float(root.get("width", 0)), float(root.get("height", 0))
    for rect in root.iter(f"{SVG}rect"):
        assert float(rect.get("x", 0)) >= 0 and float(rect.get("x", 0)) + float(rect.get("width", 0)) <= width
        assert (
            float(rect.get("y", 0)) >= 0 and float(rect.get("y", 0)) + float(rect.get("height", 0)) <= height
        )


def test_svg_escapes_and_round_trips_text() -> None:
    doc = rename_task(fitline.build(), "load", SPECIAL)
    text = graph.to_svg(doc)
    root = parse_svg(text)
    wide = next(g for g in by_class(root, "g", "task") if node_text(g)[-1] == "load")
    assert node_text(wide) == [*SPECIAL.split("\n"), "load"]  # a newline starts a new line of text
    assert "{{x}}" in text and "&lt;b&gt; &amp; &quot;q&quot;" in text
    narrow = next(g for g in by_class(root, "g", "task") if node_text(g)[0] == "fit")
    assert rect_size(wide, "width") > rect_size(narrow, "width")  # sizes follow the text


def test_svg_replaces_characters_xml_forbids() -> None:
    doc = rename_task(fitline.build(), "load", "bell\x07\x00end")
    root = parse_svg(graph.to_svg(doc))
    assert "bell\ufffd\ufffdend" in {t.text for t in root.iter(f"{SVG}text")}


def test_svg_draws_sub_pipelines_as_labelled_boxes() -> None:
    root = parse_svg(graph.to_svg(nested.build()))
    boxes = by_class(root, "g", "subpipeline")
    titles = [next(t.text for t in by_class(b, "text", "title")) for b in boxes]
    assert titles == ["outer (pipeline)", "prep (pipeline)", "prep-2: prep (pipeline)"]
    outer_box = boxes[0]
    assert sorted(node_text(g)[0] for g in by_class(outer_box, "g", "task")) == [
        "check",
        "fit",
        "fit",
        "load",
        "load",
        "report",
    ]
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_svg_is_deterministic() -> None:
    doc = outer.build()
    first = graph.to_svg(doc)
    assert graph.to_svg(doc) == first
    assert graph.to_svg(ir.Document.from_json(doc.to_json())) == first
    assert graph.to_mermaid(doc) == graph.to_mermaid(ir.Document.from_json(doc.to_json()))
    assert graph.to_dot(doc) == graph.to_dot(doc)


def test_svg_of_a_thousand_step_chain() -> None:
    @ml.step
    def inc(x: int) -> int:
        return x + 1

    @ml.pipeline
    def chain(x: int = 0) -> int:
        for _ in range(1000):
            x = inc(x=x)
        return x

    root = parse_svg(graph.to_svg(chain.build()))
    assert len(by_class(root, "g", "task")) == 1000
    assert len(by_class(root, "path", "edge")) == 1001


def test_svg_shares_one_trunk_for_a_parameter_read_by_many_tasks() -> None:
    @ml.step
    def add(x: int, k: int) -> int:
        return x + k

    @ml.pipeline
    def chain(x: int = 0, k: int = 1) -> int:
        for _ in range(300):
            x = add(x=x, k=k)
        return x

    text = graph.to_svg(chain.build())
    root = parse_svg(text)
    assert len(by_class(root, "path", "param")) == 301
    assert len(text) < 400_000  # each edge draws only its branch off the shared trunk


# --------------------------------------------------------------------------- broken documents


def _document(pipeline: ml.Pipeline[..., object]) -> ir.Document:
    return pipeline._build(None).document


def test_a_cycle_still_renders() -> None:
    doc = _document(cyclic)
    root = parse_svg(graph.to_svg(doc))
    assert len(by_class(root, "path", "after")) == 2
    chart = parse_mermaid(graph.to_mermaid(doc))
    assert ("fit", "fit-2\nfit", "after", "") in named(chart.edges, chart.labels)


def test_a_missing_or_recursive_sub_pipeline_is_one_node() -> None:
    doc = outer.build()
    missing = dataclasses.replace(doc, pipelines=doc.pipelines[:1])
    chart = parse_mermaid(graph.to_mermaid(missing))
    assert not chart.subgraphs
    assert sorted(chart.labels[k] for k, s in chart.shapes.items() if s == "pipeline") == [
        "prep",
        "prep-2\nprep",
    ]
    assert len(by_class(parse_svg(graph.to_svg(missing)), "g", "pipeline")) == 2

    prep_spec = doc.sub_pipeline("prep")
    selfcall = dataclasses.replace(prep_spec.tasks[0], step=None, pipeline="prep")
    looping = dataclasses.replace(prep_spec, tasks=[selfcall, *prep_spec.tasks[1:]])
    recursive = dataclasses.replace(doc, pipelines=[doc.pipeline, looping])
    chart = parse_mermaid(graph.to_mermaid(recursive))
    assert len(chart.subgraphs) == 2
    assert [chart.shapes[k] for k, v in chart.labels.items() if v == "load\nprep"] == ["pipeline", "pipeline"]
    parse_svg(graph.to_svg(recursive))
    parse_dot(graph.to_dot(recursive))


def test_dangling_references_are_left_out() -> None:
    doc = fitline.build()
    tasks = [dataclasses.replace(t, after=["ghost"]) if t.id == "report" else t for t in doc.pipeline.tasks]
    dangling = dataclasses.replace(doc, pipelines=[dataclasses.replace(doc.pipeline, tasks=tasks)])
    chart = parse_mermaid(graph.to_mermaid(dangling))
    assert named(chart.edges, chart.labels) == FITLINE_EDGES - {("check", "report", "after", "")}


# --------------------------------------------------------------------------- REPL, notebook, dispatch


def test_repr_summarises_the_pipeline() -> None:
    text = repr(fitline)
    assert text.splitlines()[0] == "pipeline 'fitline': Fit a line <fast> & well."
    for expected in (
        "params:  n: int = 100, lr: float = 0.1",
        "check()",
        "load(n=n)",
        "fit(ys=load, lr=lr)",
        "evaluate(slope=fit.slope)",
        "report(slope=fit.slope, intercept=fit.intercept, accuracy=evaluate.accuracy)  after check",
        "outputs: output: str = report",
    ):
        assert expected in text
    assert "problem" not in text


def test_repr_lists_problems_and_sub_pipelines() -> None:
    text = repr(broken)
    assert "load(n='three')" in text
    assert "2 problems:" in text
    assert "test_graph.py:" in text and "must be float" in text
    assert "  4 tasks, 4 steps, 1 sub-pipeline:" in repr(outer)
    assert "prep(n=n)  [pipeline]" in repr(outer)
    assert "prep-2 = prep(n=n, lr=prep.slope)  [pipeline]  after check" in repr(outer)


def test_repr_html_shows_the_drawing_and_problems() -> None:
    page = fitline._repr_html_()
    assert page.count("<svg") == 1
    assert "Fit a line &lt;fast&gt; &amp; well." in page and "<fast>" not in page
    assert "<code>n: int = 100</code>" in page
    assert "5 tasks, 5 steps" in page
    assert "problem" not in page

    page = broken._repr_html_()
    assert "2 problems" in page
    for problem in broken.problems():
        assert html.escape(str(problem)) in page
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    parse_svg(svg)


def test_render_dispatches_by_name() -> None:
    doc = fitline.build()
    assert graph.render(doc, "mermaid") == graph.to_mermaid(doc)
    assert graph.render(doc, "dot") == graph.to_dot(doc)
    assert graph.render(doc, "svg") == graph.to_svg(doc)
    assert graph.FORMATS == ("mermaid", "dot", "svg")
    with pytest.raises(ValueError, match="mermaid, dot, svg"):
        graph.render(doc, "png")


def test_control_flow_is_drawn() -> None:
    """Maps say what they run over, tasks in a block the condition they run under, ml.one_of its branches."""

    @ml.step
    def rows(n: int) -> list[int]:
        return list(range(n))

    @ml.step
    def square(x: int) -> int:
        return x * x

    @ml.step
    def total(values: list[int]) -> int:
        return sum(values)

    @ml.step
    def notify(status: str) -> None:
        print(status)

    @ml.pipeline(on_exit=notify)
    def flow(n: int = 3, limit: int = 2) -> int:
        squares = square.map(x=rows(n=n))
        value = total(values=squares)
        with ml.when(value > limit):
            big = square(x=value)
        with ml.otherwise():
            small = total(values=squares)
        return ml.one_of(big, small)

    doc = flow.build()
    mermaid = graph.to_mermaid(doc)
    assert "for each x" in mermaid
    assert "if total #62; limit" in mermaid and "if not (total #62; limit)" in mermaid
    assert mermaid.count('"(one of)"') == 2
    assert '"notify<br/>on exit"' in mermaid
    summary = graph.summary(doc).splitlines()
    assert summary[3:] == [
        "    rows(n=n)",
        "    square(x=rows)  [for each x]",
        "    total(values=square)",
        "    square-2 = square(x=total)  [if total > limit]",
        "    total-2 = total(values=square)  [if not (total > limit)]",
        "  outputs: output: int = one_of(square-2, total-2)",
    ]
    ET.fromstring(graph.to_svg(doc))
