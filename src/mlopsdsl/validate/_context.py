"""What every check gets: the document, lookups over it, and the list problems are reported to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import Location, Problem


@dataclass
class Context:
    """What every check gets: the document, a way to report, and inputs already reported unbound."""

    doc: ir.Document
    problems: list[Problem] = field(default_factory=list)
    unbound: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def report(self, code: str, message: str, where: ir.SourceLocation | None) -> None:
        location = Location(where.file, where.line) if where is not None else None
        self.problems.append(Problem(location, code, message))

    def __post_init__(self) -> None:
        self.steps = {s.name: s for s in self.doc.steps}
        self.pipelines = {p.name: p for p in self.doc.pipelines}
        self.tasks = {p.name: {t.id: t for t in p.tasks} for p in self.doc.pipelines}
        self.groups = {p.name: {g.id: g for g in p.groups} for p in self.doc.pipelines}

    def callee_inputs(self, task: ir.Task) -> list[ir.Param] | None:
        """The inputs of what a task calls; ``None`` when that does not exist (reported elsewhere)."""
        if task.step in self.steps:
            return self.steps[task.step].inputs
        if task.pipeline in self.pipelines:
            return self.pipelines[task.pipeline].params
        return None

    def callee_outputs(self, task: ir.Task) -> dict[str, ir.TypeSpec] | None:
        """The outputs of a task: its callee's, as lists (one element per run) when the task is mapped."""
        outputs: dict[str, ir.TypeSpec] | None = None
        if task.step in self.steps:
            outputs = {o.name: o.type for o in self.steps[task.step].outputs}
        elif task.pipeline in self.pipelines:
            outputs = {o.name: o.type for o in self.pipelines[task.pipeline].outputs}
        if outputs is not None and task.map is not None:
            outputs = {n: ir.TypeSpec(kind="list", items=t) for n, t in outputs.items()}
        return outputs

    def group_chain(self, pipeline: ir.PipelineSpec, group: str | None) -> list[str]:
        """``group`` and the groups around it, innermost first (empty for the pipeline body)."""
        groups = self.groups[pipeline.name]
        chain: list[str] = []
        while group is not None and group in groups and group not in chain:
            chain.append(group)
            group = groups[group].parent
        return chain


Check = Callable[[Context], None]


def every_task(pipeline: ir.PipelineSpec) -> list[ir.Task]:
    """The pipeline's tasks, and its exit handler's."""
    return [*pipeline.tasks, *([pipeline.on_exit] if pipeline.on_exit is not None else [])]
