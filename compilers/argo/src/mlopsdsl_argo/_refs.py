"""Where a value is, as typed references, and the DAG task that passes them: rendered only into the output.

Lowering decides, for every value a task reads, where Argo finds it: an input of the DAG template, an output
of a task in the same DAG, whichever of several task outputs was made (``ml.one_of``), a literal, the loop's
``{{item}}``... These are kept as the small frozen values below, never as ``{{...}}`` text, so that later
decisions (is this made by a task? which parameter of the sub-pipeline is passed through? which references
must a loop's wrapper pass in?) ask the value's type instead of parsing text the compiler wrote. They become
text only when :meth:`Call.render` (or a DAG's ``outputs``) writes the manifest's dicts.

A reference is *local* when it names something of the DAG template it is written in (its inputs, its
tasks); moved into another template, it would mean something else or nothing. The others (a literal, the
workflow's own parameters and status, the ``{{item}}`` of the task's own loop) stay as they are when a task
moves into a wrapper template.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from mlopsdsl._dataclass import dataclass
from mlopsdsl_argo._values import armor

__all__ = [
    "Call",
    "Chosen",
    "Input",
    "Item",
    "Literal",
    "Ref",
    "Status",
    "TaskOutput",
    "Texts",
    "When",
    "WorkflowParameter",
    "WorkflowText",
    "artifact_from",
    "value_from",
]


def _kind(artifact: bool) -> str:
    return "artifacts" if artifact else "parameters"


@dataclass(frozen=True)
class Literal:
    """A value known when compiling, written as armored JSON (see :mod:`mlopsdsl_argo._values`)."""

    value: Any
    local = False

    def render(self) -> str:
        return armor(self.value)


@dataclass(frozen=True)
class Input:
    """An input of the template the reference is written in: a parameter, or an artifact."""

    name: str
    artifact: bool = False
    local = True

    def render(self) -> str:
        return f"{{{{inputs.{_kind(self.artifact)}.{self.name}}}}}"


@dataclass(frozen=True)
class TaskOutput:
    """An output of the task labelled ``task`` in the same DAG: a parameter, or an artifact."""

    task: str
    name: str
    artifact: bool = False
    local = True

    def expression(self) -> str:
        """The same reference inside an expression (``{{=...}}``, ``valueFrom.expression``)."""
        return f"tasks['{self.task}'].outputs.{_kind(self.artifact)}.{self.name}"

    def render(self) -> str:
        return f"{{{{tasks.{self.task}.outputs.{_kind(self.artifact)}.{self.name}}}}}"


@dataclass(frozen=True)
class Chosen:
    """``ml.one_of``: the output of the first branch task that ``Succeeded``, else the last one.

    Each option pairs the label of the branch's task (whose status decides) with the output it gives.
    """

    options: tuple[tuple[str, TaskOutput], ...]
    local = True

    def expression(self) -> str:
        expr = self.options[-1][1].expression()
        for label, ref in reversed(self.options[:-1]):
            expr = f"tasks['{label}'].status == 'Succeeded' ? {ref.expression()} : {expr}"
        return expr

    def render(self) -> str:
        return f"{{{{={self.expression()}}}}}"


@dataclass(frozen=True)
class Item:
    """The element of the loop that runs the task (``withItems``/``withParam``)."""

    local = False

    def render(self) -> str:
        return "{{item}}"


@dataclass(frozen=True)
class WorkflowParameter:
    """A parameter of the whole workflow (``spec.arguments``), readable from every template."""

    name: str
    local = False

    def render(self) -> str:
        return f"{{{{workflow.parameters.{self.name}}}}}"


@dataclass(frozen=True)
class Status:
    """How the workflow ended, as the IR's two words: Argo's ``Failed`` and ``Error`` are both
    ``"Failed"``."""

    local = False

    def render(self) -> str:
        return "{{=workflow.status == 'Succeeded' ? 'Succeeded' : 'Failed'}}"


@dataclass(frozen=True)
class WorkflowText:
    """Text that means the same in every template: its only tags are the workflow's own
    (``{{workflow.name}}`` in a repository key)."""

    text: str
    local = False

    def render(self) -> str:
        return self.text


@dataclass(frozen=True)
class Texts:
    """A JSON list of the referenced texts (the operands a condition task decodes)."""

    items: tuple[Ref, ...]

    @property
    def local(self) -> bool:
        return any(item.local for item in self.items)

    def render(self) -> str:
        return "[" + ",".join(item.render() for item in self.items) + "]"


Ref = Literal | Input | TaskOutput | Chosen | Item | WorkflowParameter | Status | WorkflowText | Texts
"""Where a value is."""


def artifact_from(ref: Ref) -> dict[str, str]:
    """How an artifact argument (or a DAG's output artifact) names its source."""
    if isinstance(ref, Chosen):
        return {"fromExpression": ref.expression()}
    return {"from": ref.render()}


def value_from(ref: Ref) -> dict[str, str]:
    """How a DAG's output parameter names its source."""
    if isinstance(ref, Chosen):
        return {"expression": ref.expression()}
    return {"parameter": ref.render()}


@dataclass(frozen=True)
class When:
    """A task runs only when condition task ``task`` decided ``holds`` (see :mod:`._helpers`)."""

    task: str
    holds: bool

    def render(self) -> str:
        return f"{TaskOutput(self.task, 'holds').render()} == {'true' if self.holds else 'false'}"


@dataclass
class Call:
    """A task of a DAG template before it is written: what it calls, with which references, when."""

    name: str
    template: str
    depends: set[str] = field(default_factory=set)
    """``depends`` terms, joined with ``&&`` in sorted order."""
    when: When | None = None
    parameters: list[tuple[str, Ref]] = field(default_factory=list)
    artifacts: list[tuple[str, Ref]] = field(default_factory=list)
    items: list[Any] | None = None
    """``withItems``: each element, armored."""
    over: Ref | None = None
    """``withParam``: a JSON list of each element's armored text."""

    def render(self) -> dict[str, Any]:
        """The task as it stands in the manifest."""
        out: dict[str, Any] = {"name": self.name, "template": self.template}
        if self.depends:
            out["depends"] = " && ".join(sorted(self.depends))
        if self.when is not None:
            out["when"] = self.when.render()
        arguments: dict[str, Any] = {}
        if self.parameters:
            arguments["parameters"] = [{"name": n, "value": ref.render()} for n, ref in self.parameters]
        if self.artifacts:
            arguments["artifacts"] = [{"name": n, **artifact_from(ref)} for n, ref in self.artifacts]
        if arguments:
            out["arguments"] = arguments
        if self.items is not None:
            out["withItems"] = [armor(v) for v in self.items]
        if self.over is not None:
            out["withParam"] = self.over.render()
        return out
