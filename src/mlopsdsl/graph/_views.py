"""The notebook and REPL views of a pipeline: an HTML header with the SVG and any problems, and a compact
plain-text summary with one line per task."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlopsdsl import ir

if TYPE_CHECKING:
    from mlopsdsl.errors import Problem
from mlopsdsl.graph._model import _Declared, _flow_lines, _param_text, _path_text, _value_text
from mlopsdsl.graph._svg import to_svg

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
    if isinstance(binding, ir.ListBinding):
        return "[" + ", ".join(_binding_text(b) for b in binding.items) + "]"
    if isinstance(binding, ir.DictBinding):
        return "{" + ", ".join(f"{k!r}: {_binding_text(b)}" for k, b in binding.entries.items()) + "}"
    return _value_text(binding.value, 24)


def _task_text(task: ir.Task, declared: _Declared, spec: ir.PipelineSpec | None = None) -> str:
    """``fit-2 = fit(ys=load, lr=lr) after check``: what the task calls and what it reads."""
    args = ", ".join(f"{n}={_binding_text(task.inputs[n])}" for n in declared.inputs(task))
    text = f"{task.callee}({args})" if task.id == task.callee else f"{task.id} = {task.callee}({args})"
    if task.pipeline is not None:
        text += "  [pipeline]"
    if task.after:
        text += "  after " + ", ".join(task.after)
    if spec is not None:
        text += "".join(f"  [{line}]" for line in _flow_lines(task, spec))
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
        lines.append("    " + _task_text(task, declared, spec))
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
