"""The intermediate representation: the one contract between authoring and everything after it.

``@ml.pipeline`` produces a :class:`Document`; the validator, the local runner and every compiler read
only this. It is plain data: immutable pydantic models, a lossless JSON round trip, a JSON Schema
(:func:`json_schema`), and content digests per step and per pipeline. The same source always gives
byte-identical JSON (:func:`Document.to_json`): collections are kept in a canonical order, and there are no
timestamps or absolute paths.

Control flow is already part of the shape: a task's inputs are *bindings* (a discriminated union that can
grow new kinds), and each task names the *group* it belongs to (``None`` is the pipeline body), so loops,
conditions and exit handlers become new group kinds and binding kinds rather than a rewrite. Adding a kind
raises the minor part of :data:`IR_VERSION`; changing the meaning of a field raises the major part.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from mlopsdsl._plugins import skip_pydantic_plugin_scan
from mlopsdsl.options import (
    NodeAffinity,
    Pod,
    PodAffinity,
    Resources,
    Retry,
    Schedule,
    Secret,
    Toleration,
    Volume,
)

__all__ = [
    "IR_VERSION",
    "AllOf",
    "AnyOf",
    "Binding",
    "CodeRef",
    "Compare",
    "Condition",
    "ConstantBinding",
    "Document",
    "Group",
    "DictBinding",
    "Kubernetes",
    "ListBinding",
    "MapSpec",
    "NodeAffinity",
    "Not",
    "OneOfBinding",
    "Output",
    "Param",
    "ParameterBinding",
    "PipelineOutput",
    "PipelineSpec",
    "Pod",
    "PodAffinity",
    "Resources",
    "Retry",
    "ReturnShape",
    "Schedule",
    "Secret",
    "SourceLocation",
    "StatusBinding",
    "StepOptions",
    "StepSpec",
    "Task",
    "TaskOutputBinding",
    "Toleration",
    "TypeSpec",
    "Volume",
    "canonical_json",
    "digest_of",
    "json_schema",
    "leaves",
    "operands",
    "step_digest",
    "task_outputs_read",
]

IR_VERSION = "1.5"

skip_pydantic_plugin_scan()  # when none is installed: the first model built below is ~10 ms cheaper

JsonValue = Any
"""A JSON value: ``None``, bool, int, float, str, or lists and string-keyed dicts of them."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class SourceLocation(_Model):
    """A place in user code; ``file`` is relative to the import root of its module."""

    file: str
    line: int


# --------------------------------------------------------------------------- types


TypeKind = Literal[
    "str",
    "int",
    "float",
    "bool",
    "null",
    "json",  # JSON scalars, and any JSON value
    "list",
    "dict",
    "optional",
    "enum",
    "model",
    "dataclass",  # JSON composites
    "artifact",
    "object",  # stored, not passed by value
]


class TypeSpec(_Model):
    """The type of a parameter or output.

    JSON kinds travel by value; ``artifact`` (a file or folder, ``name`` is ``Artifact``, ``Dataset`` or
    ``Model``) and ``object`` (any other Python object, ``name`` is its import path) are stored and passed
    by reference.
    """

    kind: TypeKind
    name: str | None = None
    """The Python import path of an enum, model, dataclass or object type; the artifact class name."""
    items: TypeSpec | None = None
    """The element type of ``list``, the value type of ``dict``, the inner type of ``optional``."""
    values: list[JsonValue] | None = None
    """The allowed values of an ``enum`` (its members' values, or a ``Literal``'s)."""
    fields: dict[str, TypeSpec] | None = None
    """The fields of a ``model`` or ``dataclass``, in declaration order."""

    @property
    def is_parameter(self) -> bool:
        """True when values of this type travel by value as JSON (the opposite of :attr:`is_stored`)."""
        return not self.is_stored

    @property
    def is_stored(self) -> bool:
        """True when values of this type are stored (files, pickles) and passed by reference.

        The one answer to "is this stored?": an artifact or object, or an ``Optional`` of one (a stored value
        that may be missing is still stored, never JSON text). Every backend and the runner ask this.
        """
        inner = self.items if self.kind == "optional" and self.items is not None else self
        return inner.kind in ("artifact", "object")

    def at(self, path: list[str | int] | tuple[str | int, ...]) -> TypeSpec | None:
        """The type of the value ``path`` selects from a value of this type, or ``None`` when it has no such
        field. A field name on a list selects it from every element (a list of the field's type), as the
        step runtime's ``select`` does."""
        type_: TypeSpec = self
        for i, part in enumerate(path):
            if type_.kind == "optional" and type_.items is not None:
                type_ = type_.items
            if type_.kind == "list" and type_.items is not None and isinstance(part, str):
                inner = type_.items.at(path[i:])
                return None if inner is None else TypeSpec(kind="list", items=inner)
            fields = type_.fields or {}
            if not isinstance(part, str) or part not in fields:
                return None
            type_ = fields[part]
        return type_

    def __str__(self) -> str:
        if self.kind in ("list", "dict", "optional") and self.items is not None:
            inner = str(self.items)
            return {"list": f"list[{inner}]", "dict": f"dict[str, {inner}]", "optional": f"{inner} | None"}[
                self.kind
            ]
        if self.kind == "null":
            return "None"
        if self.kind == "json":
            return "Any"
        if self.name and "[" in self.name:  # a container of stored values: list[pkg.Box] reads list[Box]
            return re.sub(r"[\w.]+\.(\w+)", r"\1", self.name)
        if self.name:
            return self.name.rsplit(".", 1)[-1] if self.kind != "enum" or "." in self.name else self.name
        if self.kind == "enum" and self.values is not None:
            return "Literal[" + ", ".join(json.dumps(v) for v in self.values) + "]"
        return self.kind


class Param(_Model):
    """An input of a step or a parameter of a pipeline."""

    name: str
    type: TypeSpec
    optional: bool = False
    """True when the input has a default and may be left unbound."""
    default: JsonValue = None
    location: SourceLocation | None = None


class Output(_Model):
    """A named output of a step or pipeline."""

    name: str
    type: TypeSpec


# --------------------------------------------------------------------------- step options


class Kubernetes(_Model):
    """Settings that only a Kubernetes backend acts on; the local runner ignores them."""

    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    volumes: list[Volume] = []
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    pod: Pod | None = None
    """Pod settings (``@ml.step(pod=ml.Pod(...))``); the pipeline's ``pod`` fills what this leaves out."""


class StepOptions(_Model):
    """Everything ``@ml.step(...)`` accepts besides the function."""

    image: str | None = None
    """The container image; ``None`` lets the backend use its default."""
    packages: list[str] = []
    resources: Resources = Resources()
    retry: Retry | None = None
    timeout: float | None = None
    """Seconds an attempt may run before it is stopped and counted as failed."""
    cache: bool = True
    cache_max_age: float | None = None
    """Seconds a cached result may be reused for (``cache_max_age="7d"``); ``None``: any age."""
    cache_ignore: list[str] = []
    """Inputs the cache key leaves out: calls that differ only in them reuse each other's results."""
    env: dict[str, str] = {}
    secrets: list[Secret] = []
    # Not ``Kubernetes()``: validating at import would build every model's schema (tens of ms) up front.
    kubernetes: Kubernetes = Kubernetes.model_construct()

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _ENV_NAME.match(name)]
        if bad:
            names = ", ".join(map(repr, bad))
            raise ValueError(
                f"{names} is not a valid environment variable name "
                "(letters, digits and _, not starting with a digit)"
            )
        return value


# --------------------------------------------------------------------------- code and steps


class CodeRef(_Model):
    """Where a step's function lives and a digest of its code and of the helpers it reaches."""

    module: str
    """The module the function is defined in; ``__main__`` for scripts and notebooks."""
    qualname: str
    file: str
    digest: str


class ReturnShape(_Model):
    """How the function's return value maps onto outputs.

    ``single``: one output named ``output``; ``fields``: a ``NamedTuple`` whose fields are the outputs;
    ``none``: no output.
    """

    kind: Literal["single", "fields", "none"]
    type: str | None = None
    """Import path of the NamedTuple class, for ``fields``."""


class StepSpec(_Model):
    """A step function with its options: compiled once, however many tasks use it."""

    name: str
    description: str | None = None
    code: CodeRef
    inputs: list[Param]
    outputs: list[Output]
    returns: ReturnShape
    options: StepOptions
    location: SourceLocation | None = None
    digest: str = ""
    """sha256 over the code digest, the interface and the options (not the location)."""


# --------------------------------------------------------------------------- bindings


class ConstantBinding(_Model):
    """A value written in the pipeline source."""

    kind: Literal["constant"] = "constant"
    value: JsonValue = None


class ParameterBinding(_Model):
    """A parameter of the enclosing pipeline."""

    kind: Literal["parameter"] = "parameter"
    name: str
    path: list[str | int] = []
    """Fields to select from the value, for ``params.config.lr`` on a model parameter."""


class TaskOutputBinding(_Model):
    """An output of another task in the same pipeline."""

    kind: Literal["task_output"] = "task_output"
    task: str
    output: str
    path: list[str | int] = []
    """Fields to select from the value, for ``metrics.accuracy`` on a dataclass or model output."""


class OneOfBinding(_Model):
    """The output of whichever branch ran: one source per branch of a ``when``/``otherwise`` pair."""

    kind: Literal["one_of"] = "one_of"
    sources: list[TaskOutputBinding]


class StatusBinding(_Model):
    """How the pipeline ended, ``"Succeeded"`` or ``"Failed"``: only for the exit handler's inputs."""

    kind: Literal["pipeline_status"] = "pipeline_status"


class ListBinding(_Model):
    """A list written in the pipeline whose elements are bindings (``total(xs=[a, b, c])``): the fan-in
    of independent values into one input, in the order written."""

    kind: Literal["list"] = "list"
    items: list[Binding]


class DictBinding(_Model):
    """A dict written in the pipeline whose values are bindings (``report(scores={"a": a, "b": b})``)."""

    kind: Literal["dict"] = "dict"
    entries: dict[str, Binding]


Binding = Annotated[
    Union[  # noqa: UP007 - discriminated union
        ConstantBinding,
        ParameterBinding,
        TaskOutputBinding,
        OneOfBinding,
        StatusBinding,
        ListBinding,
        DictBinding,
    ],
    Field(discriminator="kind"),
]
"""Where an input's value comes from."""


def leaves(binding: Binding) -> list[Binding]:
    """The bindings a binding reads, with lists and dicts of bindings opened (themselves otherwise)."""
    if isinstance(binding, ListBinding):
        return [leaf for item in binding.items for leaf in leaves(item)]
    if isinstance(binding, DictBinding):
        return [leaf for key in sorted(binding.entries) for leaf in leaves(binding.entries[key])]
    return [binding]


def task_outputs_read(binding: Binding) -> list[TaskOutputBinding]:
    """The task outputs a binding reads: its leaves', and every branch of an ``ml.one_of``."""
    found: list[TaskOutputBinding] = []
    for leaf in leaves(binding):
        if isinstance(leaf, OneOfBinding):
            found.extend(leaf.sources)
        elif isinstance(leaf, TaskOutputBinding):
            found.append(leaf)
    return found


# --------------------------------------------------------------------------- control flow


class Compare(_Model):
    """``left op right``, decided when the pipeline runs."""

    kind: Literal["compare"] = "compare"
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: Binding
    right: Binding


class AllOf(_Model):
    """All of the conditions hold (``a & b``)."""

    kind: Literal["all"] = "all"
    conditions: list[Condition]


class AnyOf(_Model):
    """At least one of the conditions holds (``a | b``)."""

    kind: Literal["any"] = "any"
    conditions: list[Condition]


class Not(_Model):
    """The condition does not hold (``~a``)."""

    kind: Literal["not"] = "not"
    condition: Condition


Condition = Annotated[
    Union[Compare, AllOf, AnyOf, Not],  # noqa: UP007 - discriminated union
    Field(discriminator="kind"),
]
"""A boolean expression over bindings."""


def operands(condition: Condition) -> list[Binding]:
    """The bindings a condition compares, in order, through ``all``/``any``/``not``."""
    if isinstance(condition, Compare):
        return [condition.left, condition.right]
    if isinstance(condition, Not):
        return operands(condition.condition)
    return [b for part in condition.conditions for b in operands(part)]


class Group(_Model):
    """A block of tasks that runs only when its condition holds (``with ml.when(...)``/``ml.otherwise()``).

    ``condition`` is the effective one: an ``otherwise`` group holds the negation of its ``when``'s.
    """

    id: str
    kind: Literal["when", "otherwise"]
    condition: Condition
    parent: str | None = None
    """The enclosing group; ``None`` is the pipeline body."""
    else_of: str | None = None
    """For ``otherwise``: the ``when`` group it is the else of."""
    location: SourceLocation | None = None


class MapSpec(_Model):
    """A task run once per element of a list (``step.map(...)``); its outputs are lists, in input order."""

    input: str
    """The input that takes one element per run; its binding delivers the whole list."""
    max_parallel: int | None = Field(default=None, ge=1)
    min_success: float | None = Field(default=None, ge=0, le=1)
    """Tolerant map: the fraction of elements that must succeed; the failed ones are reported and left out
    of the collected lists. ``None``: every element must succeed (a failed element fails the map)."""


class Task(_Model):
    """One call of a step or a sub-pipeline inside a pipeline."""

    id: str
    """Unique inside its pipeline: the step's name, with ``-2``, ``-3`` for later calls."""
    step: str | None = None
    pipeline: str | None = None
    inputs: dict[str, Binding] = {}
    after: list[str] = []
    """Tasks that must finish first although no data flows from them (``.after(...)``)."""
    group: str | None = None
    """The control-flow group the task is in; ``None`` is the pipeline body."""
    map: MapSpec | None = None
    """Set when the task runs once per element of a list."""
    location: SourceLocation | None = None

    @property
    def callee(self) -> str:
        """The name of the step or sub-pipeline this task calls."""
        return self.step if self.step is not None else (self.pipeline or "")


class PipelineOutput(_Model):
    """A value the pipeline returns, and where it comes from."""

    name: str
    type: TypeSpec
    source: Binding
    location: SourceLocation | None = None
    """Where the returned value was made: the step call, or the ``ml.one_of`` call."""


def _schedule_from_text(value: Any) -> Any:
    return {"cron": value} if isinstance(value, str) else value


def _schedule_as_text(value: Schedule | None) -> Any:
    """Bare cron text when nothing else differs from its default; else the settings that differ."""
    if value is None:
        return None
    changed = value.changed()
    if not changed:
        return value.cron
    return {"cron": value.cron, **{name: getattr(value, name) for name in changed}}


def _cron_text_too(schema: dict[str, Any]) -> None:
    """The schema of ``PipelineSpec.schedule``: bare cron text is a schedule too (as IR 1.3 wrote it)."""
    schema["anyOf"] = [{"type": "string"}, *schema.get("anyOf", [])]


class PipelineSpec(_Model):
    """A pipeline: its parameters, its tasks in the order they were called, and its outputs."""

    name: str
    description: str | None = None
    schedule: Annotated[
        Schedule | None, BeforeValidator(_schedule_from_text), PlainSerializer(_schedule_as_text)
    ] = Field(default=None, json_schema_extra=_cron_text_too)
    """When the published pipeline runs by itself. Written as the bare cron text (``"0 3 * * *"``) when no
    other setting differs from its default, as IR 1.3 wrote it, so that such documents and their digests
    stay the same; otherwise as an object of the settings that differ."""
    pod: Pod | None = None
    """Pod settings every step of a run of this pipeline starts from (``@ml.pipeline(pod=...)``); each
    step's own settings win (:func:`mlopsdsl.lowering.pod_of`)."""
    params: list[Param]
    outputs: list[PipelineOutput] = []
    tasks: list[Task]
    groups: list[Group] = []
    """The ``when``/``otherwise`` blocks, in the order they were opened."""
    on_exit: Task | None = None
    """A step that runs when the pipeline ends, whether it succeeded or failed."""
    location: SourceLocation | None = None
    digest: str = ""
    """sha256 over the pipeline's structure and the digests of every step and sub-pipeline it uses."""

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)


class Document(_Model):
    """A whole compiled unit: the root pipeline, its sub-pipelines, and every step they use."""

    ir_version: str = IR_VERSION
    root: str
    pipelines: list[PipelineSpec]
    """The root first, then sub-pipelines sorted by name."""
    steps: list[StepSpec]
    """Sorted by name."""
    digest: str = ""

    @property
    def pipeline(self) -> PipelineSpec:
        """The root pipeline."""
        return self.pipelines[0]

    def step(self, name: str) -> StepSpec:
        for spec in self.steps:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def sub_pipeline(self, name: str) -> PipelineSpec:
        for spec in self.pipelines:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def with_digests(self) -> Document:
        """This document with every pipeline digest and the document digest computed afresh.

        A pipeline's digest covers its structure (not locations or description) and the digests of the
        steps and sub-pipelines it uses, so a change anywhere below it changes it.
        """
        steps = {s.name: s.digest for s in self.steps}
        specs = {p.name: p for p in self.pipelines}
        done: dict[str, PipelineSpec] = {}

        def digest(spec: PipelineSpec, stack: tuple[str, ...]) -> PipelineSpec:
            if spec.name in done:
                return done[spec.name]
            uses: dict[str, str] = {}
            for task in [*spec.tasks, *([spec.on_exit] if spec.on_exit else [])]:
                if task.step is not None:
                    uses["step:" + task.step] = steps.get(task.step, "")
                elif task.pipeline in specs and task.pipeline not in stack:
                    uses["pipeline:" + task.pipeline] = digest(
                        specs[task.pipeline], (*stack, spec.name)
                    ).digest
            # Fields at their defaults are left out, so that a field added to the IR later does not change
            # the digest (and the cache keys) of pipelines that do not use it.
            body = spec.model_dump(mode="json", exclude=_DIGEST_EXCLUDES, exclude_defaults=True)
            done[spec.name] = spec.model_copy(update={"digest": digest_of({"body": body, "uses": uses})})
            return done[spec.name]

        pipelines = [digest(p, ()) for p in self.pipelines]
        whole = digest_of(
            {"pipelines": [p.digest for p in pipelines], "steps": [s.digest for s in self.steps]}
        )
        return self.model_copy(update={"pipelines": pipelines, "digest": whole})

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, two-space indent, UTF-8 text; byte-identical for the same source."""
        return canonical_json(self.model_dump(mode="json", exclude_none=True)) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Document:
        """Read a document, checking its ``ir_version`` before anything else.

        Raises:
            IRError: Not JSON, another major IR version, or fields that do not fit this version.
        """
        from pydantic import ValidationError

        from mlopsdsl.errors import IRError

        try:
            data = json.loads(text)
        except ValueError as exc:
            raise IRError(f"not an IR document: {exc}") from None
        version = data.get("ir_version") if isinstance(data, dict) else None
        if not isinstance(version, str):
            raise IRError("not an IR document: it has no ir_version")
        if version.split(".", 1)[0] != IR_VERSION.split(".", 1)[0]:
            raise IRError(f"IR version {version} is not readable by this mlopsdsl (reads {IR_VERSION})")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise IRError(f"not a valid IR {version} document: {exc}") from None


_EACH_WITHOUT_LOCATION = {"__all__": {"location"}}
_DIGEST_EXCLUDES: Any = {
    "digest": True,
    "description": True,
    "location": True,
    "params": _EACH_WITHOUT_LOCATION,
    "outputs": _EACH_WITHOUT_LOCATION,
    "tasks": _EACH_WITHOUT_LOCATION,
    "groups": _EACH_WITHOUT_LOCATION,
    "on_exit": {"location"},
}
"""What a pipeline's digest leaves out: every model's ``location`` (:class:`PipelineSpec`, and the
parameters, outputs, tasks, groups and exit task it holds), its description and the digest itself. Left out
by the serializer: a walk over the dumped document to drop them cost as much as the rest of the digest."""


def canonical_json(value: JsonValue, indent: int | None = 2) -> str:
    return json.dumps(value, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False)


def step_digest(spec: StepSpec) -> str:
    """A step's digest: over its code digest, interface and options, not its location or description."""
    body = spec.model_dump(mode="json", exclude={"location", "digest", "description"}, exclude_defaults=True)
    return digest_of(body)


def digest_of(value: JsonValue) -> str:
    """sha256 of the compact canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value, indent=None).encode()).hexdigest()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Document`, for users who read or produce IR with other tools."""
    schema = Document.model_json_schema()
    schema["$id"] = f"https://mlopsdsl.dev/schema/ir-{IR_VERSION}.json"
    return schema
