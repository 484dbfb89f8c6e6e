"""The run report: one self-contained HTML page of what a run did, from its records alone.

``mlopsdsl runs show RUN --html`` prints it, and a ``RunResult`` shows it in a notebook. It draws the
tasks as a graph coloured by status (edges from each input's recorded producer), then per task its
duration, attempts, cache hit, metrics (a small chart for a series), outputs with links to where they are
stored, rich outputs (Markdown and HTML shown, classification metrics as a confusion matrix and an ROC
curve) and the error of a failed step. No script, no external resource: the page opens anywhere, and an
HTML output runs in a sandboxed frame.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

STATUS_COLOURS = {
    "succeeded": "#2da44e",
    "cached": "#0969da",
    "failed": "#cf222e",
    "skipped": "#8c959f",
    "not-run": "#d0d7de",
    "running": "#bf8700",
    "retrying": "#bf8700",
    "pending": "#eaeef2",
}
"""Fill colour of a task by status (the test finds these in a screenshot)."""

_CSS = """
.mlr{font-family:system-ui,sans-serif;color:#1f2328}
.mlr h1{font-size:20px;margin:0 0 4px} .mlr h2{font-size:16px;margin:24px 0 8px} .mlr .muted{color:#59636e}
.mlr .badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-size:12px}
.mlr table{border-collapse:collapse;margin:8px 0}
.mlr td,.mlr th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}
.mlr th{background:#f6f8fa} .mlr code{font-size:12px}
.mlr pre{white-space:pre-wrap;font-size:12px;background:#f6f8fa;padding:8px;margin:4px 0}
.mlr .task{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:12px 0}
.mlr iframe{width:100%;height:240px;border:1px solid #d0d7de}
"""
"""Every rule is under ``.mlr``: a report shown in a notebook leaves the notebook's own styles alone."""


def render(run: dict[str, Any], steps: dict[str, dict[str, Any]], page: bool = True) -> str:
    """The report of a run, as a standalone HTML page (or, ``page=False``, a fragment for a notebook).

    Args:
        run: The run record (``run.json``).
        steps: The step records (``steps/*.json``) by task.
        page: A whole document; else a ``<div>`` with its own scoped styles.
    """
    order = sorted(steps, key=lambda t: (str(steps[t].get("started") or "~"), t))
    status = str(run.get("status"))
    seconds = run.get("seconds")
    took = f" in {seconds:.2f}s" if isinstance(seconds, int | float) else ""
    params = run.get("params") or {}
    head = (
        f'<h1>{_e(run.get("pipeline"))} <span class="badge" style="background:{_colour(status)}">'
        f'{_e(status)}</span></h1><div class="muted">run <code>{_e(run.get("run_id"))}</code>{_e(took)}, '
        f"started {_e(run.get('started'))}</div>"
    )
    if params:
        head += (
            '<div class="muted">parameters <code>' + _e(json.dumps(params, sort_keys=True)) + "</code></div>"
        )
    legend = " ".join(
        f'<span class="badge" style="background:{c}">{_e(s)}</span>'
        for s, c in STATUS_COLOURS.items()
        if any(steps[t].get("status") == s for t in order)
    )
    marker = "mlr-" + re.sub(r"[^A-Za-z0-9]", "-", str(run.get("run_id")))
    body = [head, "<h2>Graph</h2>", _graph(order, steps, marker), f"<div>{legend}</div>", "<h2>Tasks</h2>"]
    body += [_task(task, steps[task]) for task in order]
    report = f'<div class="mlr"><style>{_CSS}</style>{"".join(body)}</div>'
    if not page:
        return report
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_e(run.get('pipeline'))} {_e(run.get('run_id'))}</title></head>"
        f'<body style="margin:24px">{report}</body></html>\n'
    )


def _e(value: Any) -> str:
    return html.escape(str(value if value is not None else ""))


def _colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "#eaeef2")


# --------------------------------------------------------------------------- the graph


def _edges(order: list[str], steps: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """Producer -> consumer, from each input's recorded origin (``from``: ``task.output``)."""
    known = set(order)
    edges = set()
    for task in order:
        for item in (steps[task].get("inputs") or {}).values():
            origin = item.get("from") if isinstance(item, dict) else None
            if isinstance(origin, str):
                producer = origin.rsplit(".", 1)[0]
                if producer in known and producer != task:
                    edges.add((producer, task))
                elif producer not in known:  # a map's collected outputs: every element of it
                    edges.update((t, task) for t in known if t.startswith(producer + "["))
    return sorted(edges)


def _graph(order: list[str], steps: dict[str, dict[str, Any]], marker: str) -> str:
    edges = _edges(order, steps)
    depth: dict[str, int] = {}
    for task in order:  # started order is a topological order of what ran; the rest follow
        depth[task] = 0
    for _ in range(len(order)):
        changed = False
        for src, dst in edges:
            if depth[dst] < depth[src] + 1:
                depth[dst] = depth[src] + 1
                changed = True
        if not changed:
            break
    layers: dict[int, list[str]] = {}
    for task in order:
        layers.setdefault(depth[task], []).append(task)
    box_w, box_h, gap_x, gap_y = 180, 46, 40, 18
    spot: dict[str, tuple[int, int]] = {}
    for level, tasks in layers.items():
        for i, task in enumerate(tasks):
            spot[task] = (16 + level * (box_w + gap_x), 16 + i * (box_h + gap_y))
    width = 32 + (max(layers, default=0) + 1) * (box_w + gap_x)
    height = 32 + max((len(t) for t in layers.values()), default=1) * (box_h + gap_y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="12" '
        f'font-family="ui-monospace,monospace"><defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" '
        'refY="5" markerWidth="7" markerHeight="7" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#59636e"/></marker></defs>'
    ]
    for src, dst in edges:
        (x1, y1), (x2, y2) = spot[src], spot[dst]
        parts.append(
            f'<line x1="{x1 + box_w}" y1="{y1 + box_h // 2}" x2="{x2}" y2="{y2 + box_h // 2}" '
            f'stroke="#59636e" marker-end="url(#{marker})"/>'
        )
    for task in order:
        x, y = spot[task]
        record = steps[task]
        status = str(record.get("status"))
        seconds = record.get("seconds")
        note = (
            "cache hit"
            if record.get("cache_hit")
            else (f"{seconds:.2f}s" if isinstance(seconds, int | float) else "")
        )
        text = "#fff" if status in ("succeeded", "cached", "failed", "skipped") else "#1f2328"
        parts.append(
            f'<g class="task-node" data-status="{_e(status)}"><title>{_e(task)}: {_e(status)}</title>'
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{_colour(status)}"/>'
            f'<text x="{x + 10}" y="{y + 19}" fill="{text}">{_e(_cut(task, 22))}</text>'
            f'<text x="{x + 10}" y="{y + 36}" fill="{text}">{_e(status)} {_e(note)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- one task


def _task(task: str, record: dict[str, Any]) -> str:
    status = str(record.get("status"))
    seconds = record.get("seconds")
    facts = [f'<span class="badge" style="background:{_colour(status)}">{_e(status)}</span>']
    if isinstance(seconds, int | float):
        facts.append(f"{seconds:.2f}s")
    attempts = len(record.get("attempts") or [])
    if attempts > 1:
        facts.append(f"{attempts} attempts")
    if record.get("cache_hit"):
        facts.append(f"cache hit ({_e(record.get('reused_from', 'cache'))})")
    if record.get("reason"):
        facts.append(_e(record["reason"]))
    parts = [f'<div class="task" id="task-{_e(task)}"><b><code>{_e(task)}</code></b> ' + " · ".join(facts)]
    if record.get("location"):
        parts.append(f'<div class="muted">at {_e(record["location"])}</div>')
    parts.append(_metrics(record.get("metrics") or []))
    parts.append(_outputs(record.get("outputs") or {}))
    error = record.get("error")
    if status == "failed" and isinstance(error, dict):
        trace = str(error.get("traceback") or f"{error.get('type')}: {error.get('message')}")
        parts.append(f"<pre>{_e(trace.rstrip())}</pre>")
    parts.append("</div>")
    return "".join(parts)


def _metrics(points: list[dict[str, Any]]) -> str:
    series: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        if isinstance(point, dict) and isinstance(point.get("name"), str):
            series.setdefault(point["name"], []).append(point)
    if not series:
        return ""
    rows = []
    for name, values in series.items():
        chart = _sparkline([float(p["value"]) for p in values]) if len(values) > 1 else ""
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{_e(values[-1]['value'])}</td><td>{chart}</td></tr>"
        )
    return "<table><tr><th>metric</th><th>last value</th><th>series</th></tr>" + "".join(rows) + "</table>"


def _sparkline(values: list[float], width: int = 160, height: int = 32) -> str:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in enumerate(values)
    )
    return (
        f'<svg width="{width}" height="{height}"><polyline points="{points}" fill="none" stroke="#8250df" '
        'stroke-width="2"/></svg>'
    )


def _outputs(outputs: dict[str, Any]) -> str:
    rows, rich = [], []
    for name, out in sorted(outputs.items()):
        if not isinstance(out, dict):
            continue
        if out.get("kind") == "json":
            rows.append(
                f"<tr><td><code>{_e(name)}</code></td><td><code>{_e(_short(out.get('value')))}</code></td></tr>"
            )
            continue
        uri = str(out.get("uri") or "")
        what = " ".join(str(x) for x in (out.get("kind"), out.get("type") or out.get("format")) if x)
        link = f'<a href="{_e(uri)}">{_e(uri)}</a>' if uri else ""
        digest = str(out.get("sha256"))[:12]
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{_e(what)} · sha256 <code>{_e(digest)}</code> · "
            f"{_e(out.get('size'))} B<br>{link}</td></tr>"
        )
        shown = _rich(name, out)
        if shown:
            rich.append(shown)
    table = "<table><tr><th>output</th><th>value</th></tr>" + "".join(rows) + "</table>" if rows else ""
    return table + "".join(rich)


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _local_text(out: dict[str, Any], limit: int = 200_000) -> str | None:
    uri = str(out.get("uri") or "")
    if not uri.startswith("file://"):
        return None
    try:
        return Path(unquote(urlparse(uri).path)).read_text(encoding="utf-8")[:limit]
    except (OSError, UnicodeDecodeError):
        return None


def _rich(name: str, out: dict[str, Any]) -> str:
    kind = out.get("type")
    if kind == "ClassificationMetrics":
        return _classification(name, out.get("metadata") or {})
    if kind not in ("Markdown", "HTML"):
        return ""
    text = _local_text(out)
    if text is None:
        return ""
    if kind == "HTML":
        return f'<div class="muted">{_e(name)}</div><iframe sandbox="" srcdoc="{_e(text)}"></iframe>'
    return f'<div class="muted">{_e(name)}</div><div class="markdown">{_markdown(text)}</div>'


def _markdown(text: str) -> str:
    """Enough Markdown for a report (headings, paragraphs, lists, bold, italics, code); the rest as text."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        heading = re.match(r"^(#{1,6})\s+(.*)$", lines[0]) if len(lines) == 1 else None
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level + 2}>{_inline(heading.group(2))}</h{level + 2}>")
        elif all(re.match(r"^\s*[-*]\s+", line) for line in lines):
            items = "".join(f"<li>{_inline(_BULLET.sub('', line))}</li>" for line in lines)
            out.append(f"<ul>{items}</ul>")
        elif lines[0].startswith("```"):
            out.append(
                f"<pre>{_e(chr(10).join(lines[1:-1] if lines[-1].startswith('```') else lines[1:]))}</pre>"
            )
        else:
            out.append(f"<p>{'<br>'.join(_inline(line) for line in lines)}</p>")
    return "".join(out)


_BULLET = re.compile(r"^\s*[-*]\s+")


def _inline(text: str) -> str:
    text = _e(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<![*\w])\*([^*]+)\*(?!\w)", r"<i>\1</i>", text)


def _classification(name: str, metadata: dict[str, Any]) -> str:
    parts = [f'<div class="muted">{_e(name)}</div>']
    matrix = metadata.get("confusionMatrix") or {}
    labels = [s.get("displayName") for s in matrix.get("annotationSpecs", [])]
    rows = [r.get("row", []) for r in matrix.get("rows", [])]
    if labels and rows:
        top = max((max(r) for r in rows if r), default=1) or 1
        head = "".join(f"<th>{_e(label)}</th>" for label in labels)
        body = "".join(
            f"<tr><th>{_e(label)}</th>"
            + "".join(
                f'<td style="background:rgba(9,105,218,{0.1 + 0.8 * v / top:.2f})">{_e(v)}</td>' for v in row
            )
            + "</tr>"
            for label, row in zip(labels, rows, strict=False)
        )
        parts.append(f"<table><tr><th>true \\ predicted</th>{head}</tr>{body}</table>")
    roc = metadata.get("confidenceMetrics") or []
    if roc:
        size = 160
        points = " ".join(
            f"{float(p.get('falsePositiveRate', 0)) * size:.1f},{size - float(p.get('recall', 0)) * size:.1f}"
            for p in sorted(roc, key=lambda p: (p.get("falsePositiveRate", 0), p.get("recall", 0)))
        )
        parts.append(
            f'<svg width="{size}" height="{size}"><rect width="{size}" height="{size}" fill="none" '
            f'stroke="#d0d7de"/><line x1="0" y1="{size}" x2="{size}" y2="0" stroke="#d0d7de" '
            f'stroke-dasharray="4"/><polyline points="{points}" fill="none" stroke="#cf222e" '
            'stroke-width="2"/>'
            '</svg><div class="muted">ROC: false positive rate → true positive rate</div>'
        )
    return "".join(parts)
