"""Wiring: how values move between the nested DAGs of a KFP document.

Control flow turns one IR pipeline into nested KFP DAGs: an exit-handler DAG around the body, a sub-DAG per
condition (inside a ``condition-branches`` DAG when there is an ``otherwise``), a sub-DAG per loop. A KFP
task can only read its own DAG's inputs and its sibling tasks' outputs, so a value made outside a nested DAG
is *imported* (declared as an input of each component on the way down and bound by the task that runs it),
and a value made inside is *exported* (a DAG output on the way up). A :class:`Source` knows which
:class:`Scope` (DAG) it belongs to; :meth:`Wiring.local` imports it wherever it is needed, so the lowering
itself never spells out the path.

Every stored value (object or artifact) is two things on the wire: the artifact, and its producer's output
record as the parameter ``NAME--meta`` (``_types.META``). :func:`declare`, :meth:`Wiring.bind` and
:func:`dag_output` always handle both, so no edge can lose the record.

A loop's collected stored values (an artifact list) never enter a sub-DAG as a list: KFP's driver records
a DAG's input artifact list whole but reads it back one artifact per name, so every task inside would see
one element (kubeflow/pipelines#13900, in every release through 2.17). The lowering imports a *pack*
instead (``_types.PACKED``, made by ``_lower.py``): one artifact holding every element, with their records.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from typing import Any, Literal

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import CompileError

from ._naming import RUNTIME_INPUT, RUNTIME_OUTPUT, RUNTIME_TASK
from ._types import ARTIFACT_SCHEMA_VERSION, META, Encoding, encode_value

__all__ = [
    "Scope",
    "Source",
    "Wiring",
    "dag_output",
    "declare",
    "declare_bundle",
    "depend",
    "set_value",
]

Select = tuple[str | int, ...]
_META_ONE = Encoding("json", "STRUCT")
_META_LIST = Encoding("json", "LIST")


@dataclass(frozen=True)
class Source:
    """Where a value comes from inside one DAG: a DAG input, a task's output, a constant, or (for the exit
    handler) the final status of a task."""

    kind: Literal["input", "task", "constant", "status"]
    encoding: Encoding | None = None
    name: str = ""
    """The DAG input's name, or the producing task's name."""
    key: str = ""
    """The producing task's output key."""
    select: Select = ()
    value: Any = None
    scope: int = 0
    """The id of the :class:`Scope` (DAG) this source belongs to."""
    origin: str = ""
    """A name for the value, unique in its IR pipeline (``param``, ``task-output``): names its imports."""
    meta: str = ""
    """For a stored ``input`` whose record is another input than ``NAME--meta``: that input (the item of a
    loop over a packed list, ``_types.ELEMENT``)."""

    def then(self, path: list[str | int]) -> Source:
        if not path:
            return self
        if self.kind == "constant":
            value = self.value
            for part in path:
                value = value[part]
            return Source("constant", value=value)
        return dataclasses.replace(self, select=(*self.select, *path))


@dataclass
class Scope:
    """One DAG being built: a component, and the task of the parent DAG that runs it."""

    id: int
    component: Any
    parent: Scope | None = None
    call: Any = None
    call_name: str = ""
    imports: dict[str, Source] = field(default_factory=dict)
    """Input name -> the parent-DAG source bound to it."""
    exports: dict[str, str] = field(default_factory=dict)
    """Source identity -> the DAG output name it was exported as."""
    has_runtime: bool = False
    """True for the DAG that holds the ``mlopsdsl-runtime`` task (the root)."""


def declare(definitions: Any, name: str, enc: Encoding, pb: Any) -> None:
    """Declare an input or output (with the record parameter that goes with a stored value)."""
    if enc.is_parameter:
        spec = definitions.parameters[name]
        spec.parameter_type = pb.ParameterType.ParameterTypeEnum.Value(enc.type)
        if enc.type == "TASK_FINAL_STATUS":
            spec.is_optional = True  # as kfp declares it: the driver fills it in
        return
    artifact = definitions.artifacts[name]
    artifact.artifact_type.schema_title = enc.type
    artifact.artifact_type.schema_version = ARTIFACT_SCHEMA_VERSION
    if enc.is_list:
        artifact.is_artifact_list = True
    declare(definitions, name + META, _META_LIST if enc.is_list or enc.kind == "packed" else _META_ONE, pb)


def declare_bundle(definitions: Any, name: str = RUNTIME_INPUT) -> None:
    """Declare the runtime bundle artifact: a plain artifact, without a record (no step wrote it)."""
    artifact = definitions.artifacts[name]
    artifact.artifact_type.schema_title = "system.Artifact"
    artifact.artifact_type.schema_version = ARTIFACT_SCHEMA_VERSION


def dag_output(component: Any, name: str, source: Source, pb: Any) -> None:
    """Make ``source`` (a task of ``component``'s DAG) the DAG output ``name``, and declare it."""
    assert source.encoding is not None and source.kind == "task"
    outputs = component.dag.outputs
    if source.encoding.is_parameter:
        value = outputs.parameters[name].value_from_parameter
        value.producer_subtask = source.name
        value.output_parameter_key = source.key
    else:
        outputs.artifacts[name].artifact_selectors.add(
            producer_subtask=source.name, output_artifact_key=source.key
        )
        meta = outputs.parameters[name + META].value_from_parameter
        meta.producer_subtask = source.name
        meta.output_parameter_key = source.key + META
    declare(component.output_definitions, name, source.encoding, pb)


def depend(task: Any, name: str) -> None:
    if name not in task.dependent_tasks:
        task.dependent_tasks.append(name)


def set_value(target: Any, value: Any, *, where: ir.SourceLocation | None, what: str = "a value") -> None:
    """Set a ``google.protobuf.Value`` from a JSON value; ``where`` is the user's line that wrote it, and
    ``what`` the value is, for messages.

    Every number in a ``Value`` is a double, so an int a double cannot hold exactly is refused here, as one
    beyond a double's range is.
    """
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

    from mlopsdsl.runtime._values import LossyValue, check_float64

    if isinstance(value, float) and not math.isfinite(value):
        raise CompileError(
            f"{value!r} cannot be written to a KFP document (JSON has no NaN or infinity)",
            "kfp",
            location=where,
        )
    try:
        check_float64(value, what)
    except LossyValue as exc:
        raise CompileError(str(exc), "kfp", location=where) from None
    json_format.ParseDict(value, target)


class Wiring:
    """Creates scopes and moves sources between them."""

    def __init__(self, pb: Any, bundled: bool) -> None:
        self.pb = pb
        self.bundled = bundled
        self.scopes: dict[int, Scope] = {}

    def scope(self, component: Any, parent: Scope | None = None, call: Any = None, name: str = "") -> Scope:
        scope = Scope(len(self.scopes) + 1, component, parent, call, name)
        self.scopes[scope.id] = scope
        if parent is not None and self.bundled:
            declare_bundle(component.input_definitions)
            self.runtime(call, parent)
        return scope

    def runtime(self, task: Any, scope: Scope) -> None:
        """Give ``task`` (in ``scope``'s DAG) the runtime bundle artifact."""
        if not self.bundled:
            return
        runtime = task.inputs.artifacts[RUNTIME_INPUT]
        if scope.has_runtime:
            runtime.task_output_artifact.producer_task = RUNTIME_TASK
            runtime.task_output_artifact.output_artifact_key = RUNTIME_OUTPUT
            depend(task, RUNTIME_TASK)
        else:
            runtime.component_input_artifact = RUNTIME_INPUT

    def local(self, source: Source, scope: Scope, *, where: ir.SourceLocation | None) -> Source:
        """``source`` as seen inside ``scope``'s DAG, importing it through every DAG on the way down.
        ``where`` is the user's line that uses it."""
        if source.kind in ("constant", "status") or source.scope == scope.id:
            return source
        if source.encoding is not None and source.encoding.is_list:
            raise CompileError(
                f"internal: the artifact list {source.origin!r} would enter a sub-DAG", "kfp", location=where
            )
        if scope.parent is None or source.meta:
            raise CompileError(
                f"internal: {source.origin!r} is not visible where it is used", "kfp", location=where
            )
        outer = self.local(source, scope.parent, where=where)
        assert outer.encoding is not None
        name = f"pipelinechannel--{source.origin}"
        whole = dataclasses.replace(outer, select=())
        if name not in scope.imports:
            declare(scope.component.input_definitions, name, outer.encoding, self.pb)
            self.bind(scope.call, name, whole, where=where)
            scope.imports[name] = whole
        return Source(
            "input", outer.encoding, name, select=outer.select, scope=scope.id, origin=source.origin
        )

    def export(self, source: Source, scope: Scope) -> Source:
        """``source`` (of ``scope``'s DAG) as seen in the parent DAG: a DAG output of ``scope``."""
        assert scope.parent is not None and source.scope == scope.id
        if source.kind in ("constant",):
            return source
        if source.kind == "input":
            return dataclasses.replace(scope.imports[source.name], select=source.select)
        identity = f"{source.name}\0{source.key}"
        name = scope.exports.get(identity)
        if name is None:
            name = f"pipelinechannel--{source.origin}"
            while name in scope.exports.values():
                name += "-2"
            scope.exports[identity] = name
            dag_output(scope.component, name, dataclasses.replace(source, select=()), self.pb)
        return Source(
            "task", source.encoding, scope.call_name, name, source.select, scope=scope.parent.id,
            origin=source.origin,
        )  # fmt: skip

    def bind(
        self,
        task: Any,
        name: str,
        source: Source,
        constant_encoding: Encoding | None = None,
        *,
        where: ir.SourceLocation | None,
    ) -> None:
        """Bind ``task``'s input ``name`` to ``source`` (of the task's own DAG); ``where`` is the user's
        line that binds it."""
        if source.kind == "constant":
            enc = constant_encoding
            if enc is None or not enc.is_parameter:
                raise CompileError(
                    f"input {name!r} is bound to a constant; on KFP stored inputs (artifacts and objects) "
                    "must come from a step",
                    "kfp",
                    location=where,
                )
            value = encode_value(source.value, enc)
            target = task.inputs.parameters[name].runtime_value.constant
            set_value(target, value, where=where, what=f"input {name!r}")
            return
        if source.kind == "status":
            task.inputs.parameters[name].task_final_status.producer_task = source.name
            return
        assert source.encoding is not None
        if source.encoding.is_parameter:
            target = task.inputs.parameters[name]
            if source.kind == "input":
                target.component_input_parameter = source.name
            else:
                target.task_output_parameter.producer_task = source.name
                target.task_output_parameter.output_parameter_key = source.key
        else:
            artifact = task.inputs.artifacts[name]
            meta = task.inputs.parameters[name + META]
            if source.kind == "input":
                artifact.component_input_artifact = source.name
                meta.component_input_parameter = source.meta or source.name + META
            else:
                artifact.task_output_artifact.producer_task = source.name
                artifact.task_output_artifact.output_artifact_key = source.key
                meta.task_output_parameter.producer_task = source.name
                meta.task_output_parameter.output_parameter_key = source.key + META
        if source.kind == "task":
            depend(task, source.name)
