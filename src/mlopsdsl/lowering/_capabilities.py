"""Capabilities: what a backend can run, declared as data, and the located problems of what it cannot.

After desugaring (:mod:`._desugar`) every backend renders the same small set of constructs. What is left
is what an engine truly cannot do; a backend says so in its :class:`Capabilities`, and :func:`check` turns
every use of a missing capability into a :class:`~mlopsdsl.errors.Problem` at the user's line. ``mlopsdsl
validate --backend B`` and every compile run the same check before anything is written, so a gap is
reported once, the same way, before a cluster ever sees the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlopsdsl import ir

__all__ = ["Capabilities", "Gap", "check"]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can run; a backend that declares nothing is assumed to run everything.

    Attributes:
        map_over_stored_results: A step's ``.map`` over another map's stored results
            (``size.map(d=make.map(n=ns))`` where ``make`` returns a ``Dataset``).
        map_over_stored: ``.map`` over any other list of stored values (a stored ``list[Box]`` output, a
            written list of stored outputs) and a sub-pipeline's ``.map`` over stored values.
        gather_artifacts: A written list of artifacts (``merge(parts=[a, b])``) as one input.
        map_sub_pipelines: A sub-pipeline's ``.map`` (``per_item.map(x=xs)``, the sub-pipeline run once
            per element).
    """

    map_over_stored_results: bool = True
    map_over_stored: bool = True
    gather_artifacts: bool = True
    map_sub_pipelines: bool = True


ALL = Capabilities()

_MAPS = {False: "values only", True: "values, and over the stored results of another map with a step"}


@dataclass(frozen=True)
class Gap:
    """A construct a backend cannot run, where the user wrote it."""

    code: str
    message: str
    location: ir.SourceLocation | None


def check(document: ir.Document, capabilities: Capabilities, backend: str) -> list[Gap]:
    """Every use in ``document`` of something ``capabilities`` lacks."""
    gaps: list[Gap] = []
    steps = {s.name: s for s in document.steps}
    pipelines = {p.name: p for p in document.pipelines}
    for pipeline in document.pipelines:
        for task in pipeline.tasks:
            params = {
                p.name: p
                for p in (steps[task.step].inputs if task.step in steps else
                          pipelines[task.callee].params if task.callee in pipelines else [])
            }  # fmt: skip
            if task.map is not None and task.pipeline is not None and not capabilities.map_sub_pipelines:
                gaps.append(
                    Gap(
                        "unsupported",
                        f"task {task.id!r} maps sub-pipeline {task.pipeline!r}; the {backend} backend maps "
                        "steps only: map the steps inside the sub-pipeline, or pass it the whole list",
                        task.location,
                    )
                )
            if task.map is not None:
                mapped = params.get(task.map.input)
                source = task.inputs.get(task.map.input)
                results = (
                    task.step is not None
                    and isinstance(source, ir.TaskOutputBinding)
                    and not source.path
                    and pipeline.task(source.task).map is not None
                )
                able = capabilities.map_over_stored_results if results else capabilities.map_over_stored
                if mapped is not None and mapped.type.is_stored and not able:
                    gaps.append(
                        Gap(
                            "unsupported",
                            f"task {task.id!r} maps over stored values ({mapped.type}); the {backend} "
                            f"backend runs .map over {_MAPS[capabilities.map_over_stored_results]}: map over "
                            "the values that make them, or pass the list whole to a step",
                            task.location,
                        )
                    )
            if not capabilities.gather_artifacts:
                for name, binding in task.inputs.items():
                    if isinstance(binding, ir.ListBinding | ir.DictBinding) and _artifact_items(
                        params.get(name)
                    ):
                        gaps.append(
                            Gap(
                                "unsupported",
                                f"input {name!r} of task {task.id!r} is a written list of artifacts; the "
                                f"{backend} backend passes artifacts one by one: give the step one input per "
                                "artifact",
                                task.location,
                            )
                        )
    return gaps


def _artifact_items(param: ir.Param | None) -> bool:
    if param is None:
        return False
    type_ = param.type
    inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
    # A list of artifacts is stored whole; its element type is kept in ``items`` (``list[Dataset]``).
    return inner.items is not None and inner.items.kind == "artifact"
