"""``max_parallel``: a loop moved into a one-task DAG template whose ``parallelism`` bounds it.

Argo's ``parallelism`` is a template field that limits the pods running at once inside one invocation of
that template; a DAG task has none. So a limited loop becomes a task calling a small DAG template that
holds only the loop (as Argo's own examples do). Everything the loop reads from the enclosing DAG (task
outputs, its inputs, expressions) is passed in as the wrapper's inputs, and the loop's aggregated output
parameters are passed out under the same names, so consumers refer to the wrapper task exactly as they
would to the loop itself.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["limit_parallelism"]

_TAG = re.compile(r"{{\s*([^{}]*?)\s*}}")


def limit_parallelism(
    task: dict[str, Any], name: str, limit: int, outputs: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task calling the wrapper, and the wrapper template (named ``name``) around the loop ``task``.

    Args:
        task: The looped DAG task as it would stand in the enclosing DAG.
        name: The wrapper template's name.
        limit: At most this many runs at once.
        outputs: The output parameters of the looped template to pass out (aggregated).
    """
    inner = {k: v for k, v in task.items() if k not in ("depends", "when")}
    passed: dict[str, str] = {}  # outer text -> wrapper input name

    def local(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            tag = match.group(1)
            if tag == "item" or tag.startswith("workflow."):
                return match.group(0)
            whole = match.group(0)
            if whole not in passed:
                passed[whole] = f"p{len(passed) + 1}"
            return f"{{{{inputs.parameters.{passed[whole]}}}}}"

        return _TAG.sub(one, text)

    arguments = inner.get("arguments", {})
    params = [{**p, "value": local(p["value"])} for p in arguments.get("parameters", [])]
    artifacts: list[dict[str, Any]] = []
    outer_artifacts: list[dict[str, Any]] = []
    for n, artifact in enumerate(arguments.get("artifacts", []), 1):
        aname = f"a{n}"
        outer_artifacts.append({**artifact, "name": aname})
        artifacts.append({"name": artifact["name"], "from": f"{{{{inputs.artifacts.{aname}}}}}"})
    if "withParam" in inner:
        inner["withParam"] = local(inner["withParam"])
    new_args: dict[str, Any] = {}
    if params:
        new_args["parameters"] = params
    if artifacts:
        new_args["artifacts"] = artifacts
    if new_args:
        inner["arguments"] = new_args
    label = task["name"]
    template: dict[str, Any] = {"name": name}
    inputs: dict[str, Any] = {}
    if passed:
        inputs["parameters"] = [{"name": n} for n in passed.values()]
    if outer_artifacts:
        inputs["artifacts"] = [{"name": a["name"]} for a in outer_artifacts]
    if inputs:
        template["inputs"] = inputs
    if outputs:
        template["outputs"] = {
            "parameters": [
                {"name": o, "valueFrom": {"parameter": f"{{{{tasks.{label}.outputs.parameters.{o}}}}}"}}
                for o in outputs
            ]
        }
    template["parallelism"] = limit
    template["dag"] = {"tasks": [inner]}
    call: dict[str, Any] = {"name": label, "template": name}
    for key in ("depends", "when"):
        if key in task:
            call[key] = task[key]
    outer: dict[str, Any] = {}
    if passed:
        outer["parameters"] = [{"name": n, "value": text} for text, n in passed.items()]
    if outer_artifacts:
        outer["artifacts"] = outer_artifacts
    if outer:
        call["arguments"] = outer
    return call, template
