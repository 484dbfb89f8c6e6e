"""Checks of a compiled DAG file that need no Airflow: ``mlopsdsl validate --backend airflow``.

The file must be Python; its ``SPECS`` must be call specs the step runtime reads (its own spec reader
decides); every ``SPECS[...]``, ``PODS[...]`` and ``BLOCKS`` entry a task names must exist; and every
task a block runs must be a task of the file. Airflow's own ``DagBag`` is the stricter check, in the
plugin's tests.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from mlopsdsl.errors import Problem

__all__ = ["check_text"]

_TASK_ID = re.compile(r"task_id='([^']+)'")


def _constant(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def check_text(text: str) -> list[Problem]:
    """Every problem found in the DAG file ``text``."""
    from mlopsdsl.runtime._spec import CallSpec, SpecError

    problems: list[Problem] = []

    def problem(message: str) -> None:
        problems.append(Problem(None, "invalid", message))

    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        return [Problem(None, "invalid", f"the DAG file is not valid Python: {exc}")]
    specs = _constant(tree, "SPECS") or {}
    for name, spec in specs.items():
        try:
            CallSpec(json.loads(spec))
        except (ValueError, SpecError) as exc:
            problem(f"SPECS[{name!r}] is not a call spec the runtime reads: {exc}")
    tasks = set(_TASK_ID.findall(text))
    for name in sorted(set(re.findall(r"SPECS\['([^']+)'\]", text)) - set(specs)):
        problem(f"a task runs SPECS[{name!r}], which the file does not define")
    blocks = _constant(tree, "BLOCKS") or {}
    for block, (_, follow) in blocks.items():
        if block not in tasks:
            problem(f"block {block!r} has no branch task")
        for task in sorted(set(follow) - tasks):
            problem(f"block {block!r} runs task {task!r}, which the file does not define")
    return problems
