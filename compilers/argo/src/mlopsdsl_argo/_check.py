"""The semantic checks a JSON schema cannot make: every reference in a compiled document resolves.

Run by ``mlopsdsl validate --backend argo`` on the compiled text, and by the tests on every document
compiled. It reads the manifest as Argo will, not the IR, so it also catches a hand-edited or stale file:
the entrypoint exists; template names are unique; each task names an existing template and passes every
input it needs and none it does not; each ``depends`` names a task of the same DAG and the DAG has no
cycle; every ``{{inputs.parameters.x}}``, ``{{inputs.artifacts.x}}``, ``{{workflow.parameters.x}}`` and
``{{tasks.t.outputs.parameters.y}}`` (or ``artifacts``) resolves in the scope where it is written, and so
does every ``tasks['t']...`` in an expression (``{{=...}}``, ``valueFrom.expression``, ``fromExpression``);
``{{item}}`` appears only in a task with ``withItems`` or ``withParam``; a task's ``when`` and ``withParam``
refer only to tasks it depends on; ``spec.onExit`` names a template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from mlopsdsl.errors import Problem

__all__ = ["check", "check_text"]

_TAG = re.compile(r"{{\s*([^{}]*?)\s*}}")
_DEPENDS_NAME = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_]*(?:\.[A-Za-z]+)?")
_EXPR_REF = re.compile(r"tasks\['([^']+)'\]\.(?:status\b|outputs\.(parameters|artifacts)\.([-\w]+))")
_METRIC_VARIABLES = ("duration", "status", "exitCode", "retries")
_GLOBALS = ("workflow.name", "workflow.namespace", "workflow.uid", "workflow.creationTimestamp", "pod.name")


def _problem(code: str, message: str) -> Problem:
    return Problem(None, code, f"[argo] {message}")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _names(items: Any) -> list[str]:
    return [str(i.get("name")) for i in items or [] if isinstance(i, dict)]


def check_text(text: str) -> list[Problem]:
    """Every problem in the YAML text of a compiled Workflow, WorkflowTemplate or CronWorkflow."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [_problem("argo-yaml", f"not YAML: {exc}")]
    return check(data)


def check(data: Any) -> list[Problem]:
    """Every problem in a compiled document, as plain data."""
    if not isinstance(data, dict) or data.get("kind") not in ("Workflow", "WorkflowTemplate", "CronWorkflow"):
        return [_problem("argo-kind", "not a Workflow, WorkflowTemplate or CronWorkflow")]
    spec = data.get("spec") or {}
    if data["kind"] == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    problems: list[Problem] = []
    templates: dict[str, dict[str, Any]] = {}
    for template in spec.get("templates") or []:
        name = template.get("name")
        if name in templates:
            problems.append(_problem("argo-duplicate", f"two templates are named {name!r}"))
        templates[name] = template
    entry = spec.get("entrypoint")
    if entry not in templates:
        problems.append(_problem("argo-entrypoint", f"the entrypoint {entry!r} is not a template"))
    on_exit = spec.get("onExit")
    if on_exit is not None and on_exit not in templates:
        problems.append(_problem("argo-reference", f"onExit names no template {on_exit!r}"))
    global_params = set(_names((spec.get("arguments") or {}).get("parameters")))
    for name, template in templates.items():
        problems += _check_template(name, template, templates, global_params)
    return problems


def _check_template(
    name: str, template: dict[str, Any], templates: dict[str, dict[str, Any]], global_params: set[str]
) -> list[Problem]:
    problems: list[Problem] = []
    inputs = template.get("inputs") or {}
    params = set(_names(inputs.get("parameters")))
    artifacts = set(_names(inputs.get("artifacts")))
    task_list = (template.get("dag") or {}).get("tasks") or []
    tasks = {t.get("name"): t for t in task_list}
    where = f"template {name!r}"

    def check_strings(value: Any, looped: bool) -> None:
        for text in _strings(value):
            for tag in _TAG.findall(text):
                if tag == "item" and looped:
                    continue
                if tag == "retries" and template.get("retryStrategy") is not None:
                    continue  # the controller binds it in a template that retries (operator.go)
                problem = _check_tag(tag, params, artifacts, global_params, tasks, templates)
                if problem:
                    problems.append(_problem("argo-reference", f"{where}: {{{{{tag}}}}} {problem}"))

    body = {k: v for k, v in template.items() if k not in ("dag", "metrics")}
    check_strings(body, looped=False)
    for text in _strings(template.get("metrics")):
        for tag in _TAG.findall(text):
            if tag not in _METRIC_VARIABLES:  # what Argo gives template metrics
                problems.append(
                    _problem("argo-reference", f"{where}: {{{{{tag}}}}} is not a metric variable")
                )
    for expr in _expressions(body):
        problems += [
            _problem("argo-reference", f"{where}: {p}") for p in _check_expression(expr, tasks, templates)
        ]
    for task in task_list:
        check_strings(task, looped="withItems" in task or "withParam" in task)
    if tasks:
        problems += _check_dag(where, tasks, templates)
    return problems


def _expressions(value: Any) -> Iterator[str]:
    """Every expression in ``value``: ``{{=...}}`` tags, ``valueFrom.expression``, ``fromExpression``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("expression", "fromExpression") and isinstance(item, str):
                yield item
            else:
                yield from _expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions(item)
    elif isinstance(value, str):
        yield from (tag[1:] for tag in _TAG.findall(value) if tag.startswith("="))


def _check_expression(expr: str, tasks: dict[str, Any], templates: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for task_name, section, output in _EXPR_REF.findall(expr):
        task = tasks.get(task_name)
        if task is None:
            problems.append(f"expression {expr!r} names no task {task_name!r} of this DAG")
            continue
        callee = templates.get(task.get("template"))
        if (
            section
            and callee is not None
            and output not in _names((callee.get("outputs") or {}).get(section))
        ):
            problems.append(
                f"expression {expr!r}: template {task.get('template')!r} has no output {output!r}"
            )
    return problems


def _check_tag(
    tag: str,
    params: set[str],
    artifacts: set[str],
    global_params: set[str],
    tasks: dict[str, Any],
    templates: dict[str, dict[str, Any]],
) -> str | None:
    parts = tag.split(".")
    if tag in _GLOBALS or tag.startswith("="):
        return None
    if parts[:2] == ["inputs", "parameters"] and len(parts) == 3:
        return None if parts[2] in params else "names no input parameter of this template"
    if parts[:2] == ["inputs", "artifacts"] and len(parts) == 3:
        return None if parts[2] in artifacts else "names no input artifact of this template"
    if parts[:2] == ["workflow", "parameters"] and len(parts) == 3:
        return None if parts[2] in global_params else "names no workflow parameter"
    if parts[0] == "tasks" and len(parts) == 5 and parts[2] == "outputs":
        task = tasks.get(parts[1])
        if task is None:
            return "names no task of this DAG"
        callee = templates.get(task.get("template"))
        if callee is None:
            return None  # reported as a missing template
        if parts[3] not in ("parameters", "artifacts"):
            return "is not an output parameter or artifact"
        if parts[4] not in _names((callee.get("outputs") or {}).get(parts[3])):
            return f"names no output {parts[3][:-1]} of template {task.get('template')!r}"
        return None
    if tag == "item":
        return "is used in a task without withItems or withParam"
    return "is not a reference this compiler writes or Argo knows"


def _task_refs(task: dict[str, Any]) -> set[str]:
    """The tasks a task's arguments, ``when`` and ``withParam`` read from."""
    parts = {k: task.get(k) for k in ("arguments", "when", "withParam")}
    refs = {
        tag.split(".")[1]
        for text in _strings(parts)
        for tag in _TAG.findall(text)
        if tag.startswith("tasks.")
    }
    for expr in _expressions(parts):
        refs |= {m[0] for m in _EXPR_REF.findall(expr)}
    return refs


def _check_dag(where: str, tasks: dict[str, Any], templates: dict[str, dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    edges: dict[str, set[str]] = {}
    for name, task in tasks.items():
        callee = templates.get(task.get("template"))
        if callee is None:
            problems.append(
                _problem(
                    "argo-reference", f"{where}: task {name!r} calls no template {task.get('template')!r}"
                )
            )
        else:
            problems += _check_arguments(where, name, task, callee)
        for expr in _expressions(task):
            problems += [
                _problem("argo-reference", f"{where}: task {name!r}: {p}")
                for p in _check_expression(expr, tasks, templates)
            ]
        depended = {m.split(".")[0] for m in _DEPENDS_NAME.findall(task.get("depends") or "")}
        for target in sorted(depended - set(tasks)):
            problems.append(
                _problem("argo-reference", f"{where}: task {name!r} depends on unknown task {target!r}")
            )
        used = _task_refs(task)
        for ref in sorted(used - depended):
            problems.append(
                _problem(
                    "argo-order", f"{where}: task {name!r} reads from task {ref!r} without depending on it"
                )
            )
        edges[name] = (depended | used) & set(tasks)
    cycle = _cycle(edges)
    if cycle:
        problems.append(
            _problem("argo-cycle", f"{where}: tasks depend on each other in a cycle: {' -> '.join(cycle)}")
        )
    return problems


def _check_arguments(where: str, name: str, task: dict[str, Any], callee: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    arguments = task.get("arguments") or {}
    inputs = callee.get("inputs") or {}
    for section in ("parameters", "artifacts"):
        given = set(_names(arguments.get(section)))
        declared = {i.get("name"): i for i in inputs.get(section) or []}
        for missing in sorted(set(declared) - given):
            spec = declared[missing]
            if not any(k in spec for k in ("value", "default", "raw", "optional")):
                problems.append(
                    _problem(
                        "argo-argument", f"{where}: task {name!r} passes no input {section[:-1]} {missing!r}"
                    )
                )
        for extra in sorted(given - set(declared)):
            problems.append(
                _problem(
                    "argo-argument",
                    f"{where}: task {name!r} passes {section[:-1]} {extra!r}, which template "
                    f"{callee.get('name')!r} does not take",
                )
            )
    return problems


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """A cycle in the graph (task -> tasks it depends on), or ``[]``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []
