"""``max_parallel``: a loop moved into a one-task DAG template whose ``parallelism`` bounds it.

Argo's ``parallelism`` is a template field that limits the pods running at once inside one invocation of
that template; a DAG task has none. So a limited loop becomes a task calling a small DAG template that
holds only the loop (as Argo's own examples do). Every *local* reference the loop reads (an output of a
task of the enclosing DAG, one of its inputs, a choice among its tasks: see :mod:`._refs`) is passed in as
an input of the wrapper, and the loop's aggregated output parameters are passed out under the same names,
so consumers refer to the wrapper task exactly as they would to the loop itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlopsdsl_argo._refs import Call, Input, Ref, TaskOutput, value_from

__all__ = ["limit_parallelism"]


def limit_parallelism(task: Call, name: str, limit: int, outputs: list[str]) -> tuple[Call, dict[str, Any]]:
    """The task calling the wrapper, and the wrapper template (named ``name``) around the loop ``task``.

    Args:
        task: The looped DAG task as it would stand in the enclosing DAG.
        name: The wrapper template's name.
        limit: At most this many runs at once.
        outputs: The output parameters of the looped template to pass out (aggregated).
    """
    passed: dict[Ref, str] = {}  # outer reference -> wrapper input name

    def local(ref: Ref) -> Ref:
        if not ref.local:
            return ref
        if ref not in passed:
            passed[ref] = f"p{len(passed) + 1}"
        return Input(passed[ref])

    parameters = [(n, local(ref)) for n, ref in task.parameters]
    over = local(task.over) if task.over is not None else None
    outer_artifacts = [(f"a{n}", ref) for n, (_, ref) in enumerate(task.artifacts, 1)]
    artifacts: list[tuple[str, Ref]] = [
        (arg, Input(passed_as, artifact=True))
        for (arg, _), (passed_as, _) in zip(task.artifacts, outer_artifacts, strict=True)
    ]
    inner = replace(task, depends=set(), when=None, parameters=parameters, artifacts=artifacts, over=over)
    template: dict[str, Any] = {"name": name}
    inputs: dict[str, Any] = {}
    if passed:
        inputs["parameters"] = [{"name": n} for n in passed.values()]
    if outer_artifacts:
        inputs["artifacts"] = [{"name": n} for n, _ in outer_artifacts]
    if inputs:
        template["inputs"] = inputs
    if outputs:
        template["outputs"] = {
            "parameters": [{"name": o, "valueFrom": value_from(TaskOutput(task.name, o))} for o in outputs]
        }
    template["parallelism"] = limit
    template["dag"] = {"tasks": [inner.render()]}
    call = Call(
        task.name,
        name,
        depends=task.depends,
        when=task.when,
        parameters=[(n, ref) for ref, n in passed.items()],
        artifacts=outer_artifacts,
    )
    return call, template
