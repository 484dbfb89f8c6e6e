"""Capabilities: what a backend can run, declared as data, and the located problems of what it cannot.

After desugaring (:mod:`._desugar`) every backend renders the same small set of constructs. What is left
is what an engine truly cannot do; a backend says so in its :class:`Capabilities`, and :func:`check` turns
every use of a missing capability into a :class:`~mlopsdsl.errors.Problem` at the user's line. ``mlopsdsl
validate --backend B`` and every compile run the same check before anything is written, so a gap is
reported once, the same way, before a cluster ever sees the pipeline.
"""

from __future__ import annotations

import dataclasses

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass

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
        argument_bytes: The most bytes of JSON one value written in the pipeline (a constant argument, a
            parameter's default) may hold, when the engine passes each value as one command-line argument
            (Linux refuses an argument over 128 KiB, at run time); ``None``: no limit (the local runner
            passes values in a file).
        pod_settings: The :class:`~mlopsdsl.Pod` settings a step may set (its field names); a backend
            that can set some only for a whole run lists them in ``run_pod_settings``.
        run_pod_settings: Pod settings the backend can set for the whole run only (on the pipeline).
        tolerant_maps: ``.map(allow_failures=True)`` / ``min_success=``: a map that collects the results
            of the elements that succeeded and reports the failed ones.
        tolerant_stored_outputs: A tolerant map of a step with stored outputs (artifacts, objects): a
            backend that runs tolerant maps through :func:`~mlopsdsl.lowering.desugar` has no placeholder
            to write for a failed element's stored output. (A sub-pipeline's map is never tolerant: the
            authoring layer refuses it.)
    """

    map_over_stored_results: bool = True
    map_over_stored: bool = True
    gather_artifacts: bool = True
    map_sub_pipelines: bool = True
    argument_bytes: int | None = None
    pod_settings: frozenset[str] | None = None
    """``None``: every setting."""
    run_pod_settings: frozenset[str] = frozenset()
    tolerant_maps: bool = True
    tolerant_stored_outputs: bool = True


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
            if task.map is not None and task.map.min_success is not None:
                gaps.extend(_tolerant_gaps(task, steps.get(task.step or ""), capabilities, backend))
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
    if capabilities.argument_bytes is not None:
        gaps.extend(_oversized(document, capabilities.argument_bytes, backend))
    gaps.extend(_pod_gaps(document, capabilities, backend))
    return gaps


def _tolerant_gaps(
    task: ir.Task, step: ir.StepSpec | None, capabilities: Capabilities, backend: str
) -> list[Gap]:
    """What the backend cannot run of the tolerant map ``task``."""
    what = f"task {task.id!r} is a tolerant map (allow_failures / min_success)"
    workaround = "run it locally, or catch the error inside the step and return a marker value"
    if not capabilities.tolerant_maps:
        problem = "cannot run a map that leaves failed elements out"
    elif (
        step is not None
        and any(out.type.is_stored for out in step.outputs)
        and not capabilities.tolerant_stored_outputs
    ):
        stored = ", ".join(out.name for out in step.outputs if out.type.is_stored)
        problem = (
            f"runs tolerant maps of steps whose outputs are values only, and step {step.name!r} stores "
            f"{stored}"
        )
        workaround = "return the values (or the URIs) the map collects, or run it locally"
    else:
        return []
    return [Gap("unsupported", f"{what}; the {backend} backend {problem}: {workaround}", task.location)]


ARGUMENT_BYTES = 100 * 1024
"""What KFP and Argo declare as ``argument_bytes``: Linux's 128 KiB per argument (``MAX_ARG_STRLEN``),
less room for the option's name and the escaping a backend adds (Argo writes ``{``, ``}``, ``$`` and
non-ASCII characters as ``\\uXXXX``)."""


def _size(value: object) -> int:
    import json

    return len(json.dumps(value, ensure_ascii=True, separators=(",", ":")))


def _oversized(document: ir.Document, limit: int, backend: str) -> list[Gap]:
    def gap(what: str, size: int, location: ir.SourceLocation | None) -> Gap:
        return Gap(
            "too-large",
            f"{what} is {size // 1024} KiB of JSON; the {backend} backend passes each value as one "
            f"command-line argument, which may hold at most {limit // 1024} KiB here (Linux: 128 KiB): "
            "pass large data as an artifact (ml.Dataset) or read it inside the step",
            location,
        )

    gaps: list[Gap] = []
    for pipeline in document.pipelines:
        for param in pipeline.params:
            if param.default is not None and _size(param.default) > limit:
                gaps.append(
                    gap(f"the default of parameter {param.name!r}", _size(param.default), param.location)
                )
        tasks = [*pipeline.tasks, *([pipeline.on_exit] if pipeline.on_exit is not None else [])]
        for task in tasks:
            for name, binding in task.inputs.items():
                for leaf in ir.leaves(binding):
                    if isinstance(leaf, ir.ConstantBinding) and _size(leaf.value) > limit:
                        gaps.append(
                            gap(f"input {name!r} of task {task.id!r}", _size(leaf.value), task.location)
                        )
    return gaps


def argument_problem(name: str, value: object, limit: int, backend: str) -> str | None:
    """What is wrong with a parameter value given at submit time that is too large to pass, or ``None``."""
    size = _size(value)
    if size <= limit:
        return None
    return (
        f"parameter {name!r} is {size // 1024} KiB of JSON; the {backend} backend passes each value as one "
        f"command-line argument, which may hold at most {limit // 1024} KiB here (Linux: 128 KiB): pass "
        "large data as an artifact, or read it inside a step"
    )


def _pod_gaps(document: ir.Document, capabilities: Capabilities, backend: str) -> list[Gap]:
    """Each pod setting the backend cannot set, once, where it was written (the step or the pipeline)."""
    from mlopsdsl.lowering._pod import pod_of

    able = capabilities.pod_settings
    if able is None:
        return []
    root = document.pipeline
    gaps: list[Gap] = []
    seen: set[tuple[str, str]] = set()
    for step in document.steps:
        pod = pod_of(document, step)
        if pod is None:
            continue
        own = step.options.kubernetes.pod
        for name in sorted(_set_fields(pod) - able):
            from_step = own is not None and name in _set_fields(own)
            if not from_step and name in capabilities.run_pod_settings:
                continue  # the pipeline's default applies to the whole run
            where = f"step {step.name!r}" if from_step else f"pipeline {root.name!r}"
            if (where, name) in seen:
                continue
            seen.add((where, name))
            whole_run = (
                f"; set it on the pipeline for the whole run, @ml.pipeline(pod=ml.Pod({name}=...))"
                if name in capabilities.run_pod_settings
                else ""
            )
            gaps.append(
                Gap(
                    "unsupported",
                    f"{where} sets pod {name}=, which the {backend} backend cannot set on a step{whole_run}",
                    step.location if from_step else root.location,
                )
            )
    return gaps


def _set_fields(pod: ir.Pod) -> set[str]:
    return {f for f in _POD_FIELDS if getattr(pod, f) not in (None, ())}


_POD_FIELDS = tuple(f.name for f in dataclasses.fields(ir.Pod))


def _artifact_items(param: ir.Param | None) -> bool:
    if param is None:
        return False
    type_ = param.type
    inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
    # A list of artifacts is stored whole; its element type is kept in ``items`` (``list[Dataset]``).
    return inner.items is not None and inner.items.kind == "artifact"
