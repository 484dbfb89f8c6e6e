"""The intermediate representation: the one contract between authoring and everything after it.

``@ml.pipeline`` produces a :class:`Document`; the validator, the local runner and every compiler read
only this. It is plain data: immutable dataclasses, a lossless JSON round trip, a JSON Schema
(:func:`json_schema`), and content digests per step and per pipeline. The same source always gives
byte-identical JSON (:func:`Document.to_json`): collections are kept in a canonical order, and there are no
timestamps or absolute paths.

Control flow is already part of the shape: a task's inputs are *bindings* (a discriminated union that can
grow new kinds), and each task names the *group* it belongs to (``None`` is the pipeline body), so loops,
conditions and exit handlers become new group kinds and binding kinds rather than a rewrite. Adding a kind
raises the minor part of :data:`IR_VERSION`; changing the meaning of a field raises the major part.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Union

from mlopsdsl._dataclass import dataclass
from mlopsdsl.options import (
    ENV_NAME,
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
    "dump",
    "json_schema",
    "leaves",
    "operands",
    "step_digest",
    "task_outputs_read",
]

IR_VERSION = "1.5"

JsonValue = Any
"""A JSON value: ``None``, bool, int, float, str, or lists and string-keyed dicts of them."""


class _Node:
    """What every IR class shares: frozen, keyword-only, slotted dataclasses, from :mod:`mlopsdsl._dataclass`.

    Our code builds the IR from values it has already checked, so building it validates nothing and imports
    nothing: a cold ``mlopsdsl compile`` does not pay for pydantic (its import alone was a third of the
    command's instructions). A
    document read from outside (:meth:`Document.from_json`) is validated by pydantic, which reads these same
    classes (``extra="forbid"``, the constraints in each field's metadata, the hooks of
    :class:`_Tagged` and :class:`_CronText`), and so is :func:`json_schema`. :func:`dump` writes the JSON
    form pydantic would write for the same value; a test holds the two to each other.
    """

    __slots__ = ()
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    _dumped_as: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    """Fields written by a function of their value rather than field by field."""


class _Tagged:
    """``Annotated`` metadata: validate a union of IR classes by its ``kind`` field, as a tagged union.

    Its hook runs only when pydantic builds a schema (reading a document, the JSON Schema); building the IR
    in our code never touches it.
    """

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic import Field

        return handler.generate_schema(Annotated[source, Field(discriminator="kind")])


class _CronText:
    """``Annotated`` metadata of :attr:`PipelineSpec.schedule`: bare cron text is a schedule too."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(
            _schedule_from_text,
            handler(source),
            serialization=core_schema.plain_serializer_function_ser_schema(_schedule_as_text),
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        """The schema of ``PipelineSpec.schedule``: bare cron text is a schedule too (as IR 1.3 wrote it)."""
        found = dict(handler(schema))
        found["anyOf"] = [{"type": "string"}, *found.get("anyOf", [])]
        return found


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceLocation(_Node):
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


@dataclass(frozen=True, kw_only=True, slots=True)
class TypeSpec(_Node):
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


@dataclass(frozen=True, kw_only=True, slots=True)
class Param(_Node):
    """An input of a step or a parameter of a pipeline."""

    name: str
    type: TypeSpec
    optional: bool = False
    """True when the input has a default and may be left unbound."""
    default: JsonValue = None
    location: SourceLocation | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Output(_Node):
    """A named output of a step or pipeline."""

    name: str
    type: TypeSpec


# --------------------------------------------------------------------------- step options


@dataclass(frozen=True, kw_only=True, slots=True)
class Kubernetes(_Node):
    """Settings that only a Kubernetes backend acts on; the local runner ignores them."""

    node_selector: dict[str, str] = dataclasses.field(default_factory=dict)
    tolerations: list[Toleration] = dataclasses.field(default_factory=list)
    volumes: list[Volume] = dataclasses.field(default_factory=list)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    pod: Pod | None = None
    """Pod settings (``@ml.step(pod=ml.Pod(...))``); the pipeline's ``pod`` fills what this leaves out."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StepOptions(_Node):
    """Everything ``@ml.step(...)`` accepts besides the function."""

    image: str | None = None
    """The container image; ``None`` lets the backend use its default."""
    packages: list[str] = dataclasses.field(default_factory=list)
    resources: Resources = Resources()
    retry: Retry | None = None
    timeout: float | None = None
    """Seconds an attempt may run before it is stopped and counted as failed."""
    cache: bool = True
    cache_max_age: float | None = None
    """Seconds a cached result may be reused for (``cache_max_age="7d"``); ``None``: any age."""
    cache_ignore: list[str] = dataclasses.field(default_factory=list)
    """Inputs the cache key leaves out: calls that differ only in them reuse each other's results."""
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    secrets: list[Secret] = dataclasses.field(default_factory=list)
    kubernetes: Kubernetes = Kubernetes()

    def __post_init__(self) -> None:
        problem = env_name_problem(self.env)
        if problem is not None:
            raise ValueError(problem)
        for name in ("timeout", "cache_max_age"):  # seconds are floats, however they were written
            value = getattr(self, name)
            if type(value) is int:
                object.__setattr__(self, name, float(value))


def env_name_problem(env: dict[str, str]) -> str | None:
    """What is wrong with the names of ``env``, or ``None``."""
    bad = [name for name in env if not (isinstance(name, str) and ENV_NAME.match(name))]
    if not bad:
        return None
    names = ", ".join(map(repr, bad))
    return (
        f"{names} is not a valid environment variable name (letters, digits and _, not starting with a digit)"
    )


# --------------------------------------------------------------------------- code and steps


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeRef(_Node):
    """Where a step's function lives and a digest of its code and of the helpers it reaches."""

    module: str
    """The module the function is defined in; ``__main__`` for scripts and notebooks."""
    qualname: str
    file: str
    digest: str


ReturnKind = Literal["single", "fields", "none"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReturnShape(_Node):
    """How the function's return value maps onto outputs.

    ``single``: one output named ``output``; ``fields``: a ``NamedTuple`` whose fields are the outputs;
    ``none``: no output.
    """

    kind: ReturnKind
    type: str | None = None
    """Import path of the NamedTuple class, for ``fields``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StepSpec(_Node):
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


@dataclass(frozen=True, kw_only=True, slots=True)
class ConstantBinding(_Node):
    """A value written in the pipeline source."""

    kind: Literal["constant"] = "constant"
    value: JsonValue = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ParameterBinding(_Node):
    """A parameter of the enclosing pipeline."""

    kind: Literal["parameter"] = "parameter"
    name: str
    path: list[str | int] = dataclasses.field(default_factory=list)
    """Fields to select from the value, for ``params.config.lr`` on a model parameter."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskOutputBinding(_Node):
    """An output of another task in the same pipeline."""

    kind: Literal["task_output"] = "task_output"
    task: str
    output: str
    path: list[str | int] = dataclasses.field(default_factory=list)
    """Fields to select from the value, for ``metrics.accuracy`` on a dataclass or model output."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OneOfBinding(_Node):
    """The output of whichever branch ran: one source per branch of a ``when``/``otherwise`` pair."""

    kind: Literal["one_of"] = "one_of"
    sources: list[TaskOutputBinding]


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusBinding(_Node):
    """How the pipeline ended, ``"Succeeded"`` or ``"Failed"``: only for the exit handler's inputs."""

    kind: Literal["pipeline_status"] = "pipeline_status"


@dataclass(frozen=True, kw_only=True, slots=True)
class ListBinding(_Node):
    """A list written in the pipeline whose elements are bindings (``total(xs=[a, b, c])``): the fan-in
    of independent values into one input, in the order written."""

    kind: Literal["list"] = "list"
    items: list[Binding]


@dataclass(frozen=True, kw_only=True, slots=True)
class DictBinding(_Node):
    """A dict written in the pipeline whose values are bindings (``report(scores={"a": a, "b": b})``)."""

    kind: Literal["dict"] = "dict"
    entries: dict[str, Binding]


Binding = Annotated[
    Union[  # noqa: UP007 - a tagged union
        ConstantBinding,
        ParameterBinding,
        TaskOutputBinding,
        OneOfBinding,
        StatusBinding,
        ListBinding,
        DictBinding,
    ],
    _Tagged(),
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


@dataclass(frozen=True, kw_only=True, slots=True)
class Compare(_Node):
    """``left op right``, decided when the pipeline runs."""

    kind: Literal["compare"] = "compare"
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: Binding
    right: Binding


@dataclass(frozen=True, kw_only=True, slots=True)
class AllOf(_Node):
    """All of the conditions hold (``a & b``)."""

    kind: Literal["all"] = "all"
    conditions: list[Condition]


@dataclass(frozen=True, kw_only=True, slots=True)
class AnyOf(_Node):
    """At least one of the conditions holds (``a | b``)."""

    kind: Literal["any"] = "any"
    conditions: list[Condition]


@dataclass(frozen=True, kw_only=True, slots=True)
class Not(_Node):
    """The condition does not hold (``~a``)."""

    kind: Literal["not"] = "not"
    condition: Condition


Condition = Annotated[
    Union[Compare, AllOf, AnyOf, Not],  # noqa: UP007 - a tagged union
    _Tagged(),
]
"""A boolean expression over bindings."""


def operands(condition: Condition) -> list[Binding]:
    """The bindings a condition compares, in order, through ``all``/``any``/``not``."""
    if isinstance(condition, Compare):
        return [condition.left, condition.right]
    if isinstance(condition, Not):
        return operands(condition.condition)
    return [b for part in condition.conditions for b in operands(part)]


@dataclass(frozen=True, kw_only=True, slots=True)
class Group(_Node):
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


@dataclass(frozen=True, kw_only=True, slots=True)
class MapSpec(_Node):
    """A task run once per element of a list (``step.map(...)``); its outputs are lists, in input order."""

    input: str
    """The input that takes one element per run; its binding delivers the whole list."""
    max_parallel: int | None = dataclasses.field(default=None, metadata={"ge": 1})
    min_success: float | None = dataclasses.field(default=None, metadata={"ge": 0, "le": 1})
    """Tolerant map: the fraction of elements that must succeed; the failed ones are reported and left out
    of the collected lists. ``None``: every element must succeed (a failed element fails the map)."""

    def __post_init__(self) -> None:
        if type(self.min_success) is int:  # a fraction is a float, however it was written
            object.__setattr__(self, "min_success", float(self.min_success))


@dataclass(frozen=True, kw_only=True, slots=True)
class Task(_Node):
    """One call of a step or a sub-pipeline inside a pipeline."""

    id: str
    """Unique inside its pipeline: the step's name, with ``-2``, ``-3`` for later calls."""
    step: str | None = None
    pipeline: str | None = None
    inputs: dict[str, Binding] = dataclasses.field(default_factory=dict)
    after: list[str] = dataclasses.field(default_factory=list)
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


@dataclass(frozen=True, kw_only=True, slots=True)
class PipelineOutput(_Node):
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


@dataclass(frozen=True, kw_only=True, slots=True)
class PipelineSpec(_Node):
    """A pipeline: its parameters, its tasks in the order they were called, and its outputs."""

    name: str
    description: str | None = None
    schedule: Annotated[Schedule | None, _CronText()] = None
    """When the published pipeline runs by itself. Written as the bare cron text (``"0 3 * * *"``) when no
    other setting differs from its default, as IR 1.3 wrote it, so that such documents and their digests
    stay the same; otherwise as an object of the settings that differ."""
    pod: Pod | None = None
    """Pod settings every step of a run of this pipeline starts from (``@ml.pipeline(pod=...)``); each
    step's own settings win (:func:`mlopsdsl.lowering.pod_of`)."""
    params: list[Param]
    outputs: list[PipelineOutput] = dataclasses.field(default_factory=list)
    tasks: list[Task]
    groups: list[Group] = dataclasses.field(default_factory=list)
    """The ``when``/``otherwise`` blocks, in the order they were opened."""
    on_exit: Task | None = None
    """A step that runs when the pipeline ends, whether it succeeded or failed."""
    location: SourceLocation | None = None
    digest: str = ""
    """sha256 over the pipeline's structure and the digests of every step and sub-pipeline it uses."""

    _dumped_as: ClassVar[dict[str, Callable[[Any], Any]]] = {"schedule": _schedule_as_text}

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class Document(_Node):
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
            body = dump(spec, exclude_defaults=True, skip=_DIGEST_SKIPS, skip_everywhere=_LOCATION)
            done[spec.name] = dataclasses.replace(spec, digest=digest_of({"body": body, "uses": uses}))
            return done[spec.name]

        pipelines = [digest(p, ()) for p in self.pipelines]
        whole = digest_of(
            {"pipelines": [p.digest for p in pipelines], "steps": [s.digest for s in self.steps]}
        )
        return dataclasses.replace(self, pipelines=pipelines, digest=whole)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, two-space indent, UTF-8 text; byte-identical for the same source."""
        return canonical_json(dump(self, exclude_none=True)) + "\n"

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
            document: Document = _adapter().validate_python(data)
        except ValidationError as exc:
            raise IRError(f"not a valid IR {version} document: {exc}") from None
        return document


_DIGEST_SKIPS = frozenset({"digest", "description", "location"})
_LOCATION = frozenset({"location"})
"""What a pipeline's digest leaves out: its description and digest, and the ``location`` of every IR node
in it (its own, its parameters', outputs', tasks', groups' and exit task's), never a key of a user's value."""


_Plan = tuple[tuple[str, Any, "Callable[[Any], Any] | None"], ...]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    """Each field of an IR or option dataclass: its name, its default (``MISSING`` when required; a
    factory's product) and the function that writes it, if it is not written field by field."""
    plan = _PLANS.get(cls)
    if plan is None:
        special: dict[str, Any] = getattr(cls, "_dumped_as", {})
        plan = tuple(
            (
                f.name,
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default,
                special.get(f.name),
            )
            for f in dataclasses.fields(cls)
        )
        _PLANS[cls] = plan
    return plan


def dump(
    node: Any,
    *,
    exclude_none: bool = False,
    exclude_defaults: bool = False,
    skip: frozenset[str] = frozenset(),
    skip_everywhere: frozenset[str] = frozenset(),
) -> Any:
    """The JSON form of an IR node (or of a list or dict of them): what pydantic's
    ``dump_python(mode="json")`` gives for it with the same ``exclude_none`` and ``exclude_defaults``.

    A dataclass becomes a dict of its fields in declaration order, a tuple a list; a user's value (a constant,
    a default, a patch) is copied as it is, its ``None`` and keys kept. ``skip`` leaves fields of ``node``
    itself out, ``skip_everywhere`` fields of every dataclass inside it too.
    """
    missing = dataclasses.MISSING

    def walk(value: Any, skipped: frozenset[str]) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            return value
        if kind is list or kind is tuple:
            return [walk(item, skip_everywhere) for item in value]
        if kind is dict:
            return {key: walk(item, skip_everywhere) for key, item in value.items()}
        plan = _PLANS.get(kind)
        if plan is None:
            if not dataclasses.is_dataclass(value):
                return value  # a JSON scalar of another type (a str or int subclass): as pydantic leaves it
            plan = _plan(kind)
        out: dict[str, Any] = {}
        for name, default, write in plan:
            if name in skipped:
                continue
            item = getattr(value, name)
            if item is None:
                if not exclude_none and not (exclude_defaults and default is None):
                    out[name] = None
                continue
            if exclude_defaults and default is not missing and item == default:
                continue
            out[name] = write(item) if write is not None else walk(item, skip_everywhere)
        return out

    return walk(node, skip | skip_everywhere)


def canonical_json(value: JsonValue, indent: int | None = 2) -> str:
    return json.dumps(value, sort_keys=True, indent=indent, ensure_ascii=False, allow_nan=False)


def step_digest(spec: StepSpec) -> str:
    """A step's digest: over its code digest, interface and options, not its location or description."""
    return digest_of(dump(spec, exclude_defaults=True, skip=_DIGEST_SKIPS))


def digest_of(value: JsonValue) -> str:
    """sha256 of the compact canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value, indent=None).encode()).hexdigest()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Document`, for users who read or produce IR with other tools."""
    schema: dict[str, Any] = _adapter().json_schema()
    schema["$id"] = f"https://mlopsdsl.dev/schema/ir-{IR_VERSION}.json"
    return schema


@functools.cache
def _adapter() -> Any:
    """The pydantic ``TypeAdapter`` of :class:`Document`: built on first use, by what reads documents."""
    from pydantic import TypeAdapter

    from mlopsdsl._plugins import skip_pydantic_plugin_scan

    skip_pydantic_plugin_scan()  # when none is installed: building the adapter is ~10 ms cheaper
    return TypeAdapter(Document)
