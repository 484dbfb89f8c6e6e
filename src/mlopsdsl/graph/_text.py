"""The text formats: Mermaid (``flowchart TD``, sub-pipelines as subgraphs) and Graphviz DOT (``cluster_``
subgraphs), with every label escaped for its language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlopsdsl import ir

if TYPE_CHECKING:
    pass
from mlopsdsl.graph._model import _flat_edges, _model, _Scope
from mlopsdsl.graph._svg import _EDGE_COLOR

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
