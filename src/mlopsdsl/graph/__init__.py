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

from collections.abc import Callable

from mlopsdsl import ir
from mlopsdsl.graph._svg import to_svg
from mlopsdsl.graph._text import to_dot, to_mermaid
from mlopsdsl.graph._views import summary, to_html

__all__ = ["FORMATS", "render", "summary", "to_dot", "to_html", "to_mermaid", "to_svg"]

FORMATS = ("mermaid", "dot", "svg")
"""The formats :func:`render` (and ``mlopsdsl graph --format``) knows."""


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
