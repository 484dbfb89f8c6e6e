"""Lowering: an IR document to a KFP ``PipelineSpec`` and its Kubernetes ``PlatformSpec``.

The result is built with kfp-pipeline-spec's generated protobuf classes, so it is valid by construction.

A component is made per *variant* of a step or sub-pipeline: the callee plus, for each of its inputs, the
wire encoding of what it is bound to and the fields to select from it. A step used N times the same way
(the usual case) is one component and one executor; a step fed a ``str`` in one place and an
``Optional[str]`` in another gets two, because the two values reach its command line differently. Field
selections (``metrics.accuracy``) are applied by the step runtime's ``select``, composed through
sub-pipelines, so both ends of every KFP edge always carry the same type.

Sub-pipelines become KFP sub-DAG components. A sub-pipeline output that just passes an input or a constant
through is resolved at compile time in the caller, because a KFP DAG output can only come from a task.

Control flow takes the shapes kfp's own compiler gives ``dsl.ParallelFor``, ``dsl.Collected``, ``dsl.If``/
``dsl.Else``, ``dsl.OneOf`` and ``dsl.ExitHandler`` (see ``docs/kfp.md``):

* a mapped task runs in a ``for-loop-TASK`` sub-DAG whose task carries a ``parameterIterator`` (over a raw
  literal list or an input parameter) and ``iteratorPolicy.parallelismLimit``; the loop DAG's outputs
  collect the task's outputs: a ``LIST`` parameter, or an artifact list plus a list of output records;
* a ``when`` block is a ``condition-ID`` sub-DAG whose task has a ``triggerPolicy.condition`` (``_cel.py``);
  with an ``otherwise``, both sit in a ``condition-branches-ID`` sub-DAG, whose outputs are the
  ``ml.one_of`` selections (``valueFromOneof``, or several ``artifactSelectors``);
* an exit handler wraps the body in an ``exit-handler`` sub-DAG; the handler's task runs after it with
  ``ALL_UPSTREAM_TASKS_COMPLETED`` and takes its ``taskFinalStatus``.

Values cross these DAG boundaries through ``_wiring.py``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import field
from typing import Any, Literal

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import CompileError
from mlopsdsl.lowering import (
    bundle_needs_cloudpickle,
    code_spec,
    function_name,
    is_tolerant,
    runtime_bundle_text,
    tolerant_section,
)
from mlopsdsl.naming import k8s_literal
from mlopsdsl.runtime.push import ENV as PUSH_ENV

from . import _cel
from ._executors import METRICS_OUTPUT, InputPlan, pack_container, runtime_container, step_container
from ._naming import (
    PACK_COMPONENT,
    PACK_INPUT,
    PACK_OUTPUT,
    RUNTIME_COMPONENT,
    RUNTIME_EXECUTOR,
    RUNTIME_INPUT,
    RUNTIME_OUTPUT,
    RUNTIME_TASK,
    Names,
    executor_for,
    task_name,
)
from ._platform import default_config, executor_config
from ._retry import MARKER_OUTPUT, marker_spec, needs_counter, needs_marker, retry_policy
from ._types import ARTIFACT_SCHEMA_VERSION, ELEMENT, META, PACKED, Encoding, encode_value, encoding_of
from ._wiring import Scope, Wiring, dag_output, declare, declare_bundle, depend, set_value
from ._wiring import Source as _Source

__all__ = ["Lowered", "Settings", "lower"]

_STATUS = Encoding("json", "TASK_FINAL_STATUS", raw=True)
_RECORDS = Encoding("json", "LIST")
_RECORD = Encoding("json", "STRUCT")
EXIT_HANDLER_TASK = "exit-handler"


@dataclass(frozen=True)
class Settings:
    """Compile options: how code ships, how the runtime reaches the pod, and the default image."""

    code: Literal["value", "import"] = "value"
    runtime: Literal["bundle", "image"] = "bundle"
    image: str = "python:3.11-slim"
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    """Step functions by step name, for those not found by their import path."""
    store: str | None = None
    """Where the runtime keeps never-retry markers: an fsspec URL or a folder every pod mounts."""
    cache: bool = True
    """``False``: a run that reuses nothing (every ``enableCache`` off; the pods' cache only records)."""
    cache_root: str | None = None
    pushgateway: str | None = None
    tracking_uri: str | None = None
    """The pods' own cache store (``runtime/_cache.py``); without it only KFP's cache applies."""
    non_root: bool = True
    """Run every executor as user 1000 unless a step's pod chooses its user (``ml.Pod(run_as_user=...)``)."""


@dataclass
class Lowered:
    """The compiled documents: the pipeline spec and the platform executors (empty when none)."""

    pipeline: Any
    platform: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Exposed:
    """A callee's output as its caller sees it: a component output, or a pass-through of an input."""

    kind: Literal["output", "input", "constant"]
    encoding: Encoding | None = None
    key: str = ""
    """The component output key, or the callee input's name."""
    select: tuple[str | int, ...] = ()
    value: Any = None


@dataclass
class _Variant:
    component: str
    outputs: dict[str, _Exposed]


@dataclass
class _Flow:
    """The state of lowering one IR pipeline into one component's DAG (and the DAGs nested in it)."""

    pipeline: ir.PipelineSpec
    top: Scope
    body: Scope
    env: dict[str, _Source]
    taken: set[str]
    """KFP task names in use anywhere in this pipeline's DAGs (IR tasks, loops, conditions)."""
    groups: dict[str, ir.Group] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    """Group id (and ``branches:WHEN`` id) -> its scope."""
    outputs: dict[str, dict[str, _Source]] = field(default_factory=dict)
    placed: dict[str, tuple[int, str]] = field(default_factory=dict)
    """IR task id -> (scope id, KFP task name) of what stands for it there (the loop task for a map)."""
    one_ofs: dict[str, _Source] = field(default_factory=dict)
    loops: dict[str, tuple[Scope, dict[str, _Source]]] = field(default_factory=dict)
    """Mapped IR task id -> the loop DAG it runs in, and its outputs there (one iteration's values)."""
    members: dict[int, set[str]] = field(default_factory=dict)
    """Loop scope id -> the mapped IR tasks that share it (a map and the maps over its stored results)."""


def lower(document: ir.Document, settings: Settings) -> Lowered:
    """Compile ``document`` to protobuf messages (after :func:`mlopsdsl.lowering.desugar`)."""
    from mlopsdsl.lowering import desugar

    return _Lowering(desugar(document), settings).run()


class _Lowering:
    def __init__(self, document: ir.Document, settings: Settings) -> None:
        from ._protos import pipeline_spec

        pb = self.pb = pipeline_spec()
        self.doc = document
        self.settings = settings
        self.bundled = settings.runtime == "bundle"
        self.spec = pb.PipelineSpec()
        self.deployment = pb.PipelineDeploymentConfig()
        self.names = Names({RUNTIME_COMPONENT} if self.bundled else set())
        self.variants: dict[tuple[Any, ...], _Variant] = {}
        self.codes: dict[str, Any] = {}
        self.platform: dict[str, dict[str, Any]] = {}
        self.steps = {s.name: s for s in document.steps}
        self.pipelines = {p.name: p for p in document.pipelines}
        self.wiring = Wiring(pb, self.bundled)
        self.packs: dict[tuple[int, str, str], _Source] = {}
        """(scope id, task, output key) of a collected list -> its pack (``_packed``)."""
        self.pack_components: dict[Encoding, str] = {}

    # ------------------------------------------------------------------ document

    def run(self) -> Lowered:
        from mlopsdsl.naming import k8s_name

        root = self.doc.pipeline
        spec = self.spec
        spec.pipeline_info.name = k8s_name(root.name)
        spec.pipeline_info.display_name = root.name
        if root.description:
            spec.pipeline_info.description = root.description
        spec.schema_version = "2.1.0"
        spec.sdk_version = "mlopsdsl-kfp"
        env: dict[str, _Source] = {}
        for param in root.params:
            where = param.location or root.location
            enc = encoding_of(param.type)
            if not enc.is_parameter:
                raise CompileError(
                    f"pipeline parameter {param.name!r} has type {param.type}; a KFP pipeline parameter must "
                    "be a JSON value (artifacts and objects come from steps)",
                    "kfp",
                    location=where,
                )
            definition = spec.root.input_definitions.parameters[param.name]
            definition.parameter_type = self.pb.ParameterType.ParameterTypeEnum.Value(enc.type)
            if param.optional:
                definition.is_optional = True
                if param.default is not None or enc.type == "STRING":
                    set_value(
                        definition.default_value,
                        encode_value(param.default, enc),
                        where=where,
                        what=f"the default of parameter {param.name!r}",
                    )
            if param.name == RUNTIME_INPUT:
                raise CompileError(
                    f"the parameter name {RUNTIME_INPUT!r} is reserved by the KFP backend",
                    "kfp",
                    location=where,
                )
            env[param.name] = _Source("input", enc, param.name)
        if self.bundled:
            self._runtime_task()
        self._dag(root, spec.root, env, is_root=True)
        _sort_dependencies(spec)
        from ._emit import message_to_dict

        # The PipelineSpec holds its deployment config as a Struct; it is built as the typed message.
        spec.deployment_spec.update(message_to_dict(self.deployment))
        return Lowered(spec, self.platform)

    def _runtime_task(self) -> None:
        component = self.spec.components[RUNTIME_COMPONENT]
        component.executor_label = RUNTIME_EXECUTOR
        declare_bundle(component.output_definitions, RUNTIME_OUTPUT)
        with_cloudpickle = bundle_needs_cloudpickle(self.doc, self.settings.code)
        container = runtime_container(runtime_bundle_text(with_cloudpickle), self.settings.image)
        self._container(RUNTIME_EXECUTOR, container.image, container.command, container.args)
        task = self.spec.root.dag.tasks[RUNTIME_TASK]
        task.task_info.name = RUNTIME_TASK
        task.component_ref.name = RUNTIME_COMPONENT
        task.caching_options.enable_cache = self.settings.cache

    # ------------------------------------------------------------------ DAGs

    def _dag(
        self, pipeline: ir.PipelineSpec, component: Any, env: dict[str, _Source], is_root: bool
    ) -> dict[str, _Exposed]:
        """Fill ``component.dag`` with the pipeline's tasks; its outputs as the caller sees them."""
        top = self.wiring.scope(component)
        top.has_runtime = is_root and self.bundled
        env = {
            k: dataclasses.replace(v, scope=top.id, origin=k) if v.kind != "constant" else v
            for k, v in env.items()
        }
        taken = {task_name(t.id) for t in pipeline.tasks}
        if is_root and RUNTIME_TASK in taken:
            reserved = next(t for t in pipeline.tasks if task_name(t.id) == RUNTIME_TASK)
            raise CompileError(
                f"the task name {RUNTIME_TASK!r} is reserved by the KFP backend",
                "kfp",
                location=reserved.location or pipeline.location,
            )
        body = top
        if pipeline.on_exit is not None:
            if not is_root:
                raise CompileError(
                    f"sub-pipeline {pipeline.name!r} has an exit handler", "kfp", location=pipeline.location
                )
            body = self._child(top, _fresh(EXIT_HANDLER_TASK, taken | {task_name(pipeline.on_exit.id)}))
        flow = _Flow(pipeline, top, body, env, taken, groups={g.id: g for g in pipeline.groups})
        for task in pipeline.tasks:
            self._task(flow, task, self._group_scope(flow, task.group))
        exposed: dict[str, _Exposed] = {}
        for out in pipeline.outputs:
            source = self._lift(self._resolve(out.source, flow, out.location or pipeline.location), top)
            if is_root and (source.kind != "task" or source.select):
                # A KFP DAG output can only name a task's output as it is: a small task picks the value.
                source = self._pick(top, out, source)
            if source.kind == "task" and source.encoding is not None:
                dag_output(component, out.name, source, self.pb)
                exposed[out.name] = _Exposed("output", source.encoding, out.name, source.select)
            elif source.kind == "input" and out.source.kind == "parameter":
                exposed[out.name] = _Exposed("input", key=out.source.name, select=tuple(out.source.path))
            else:
                exposed[out.name] = _Exposed("constant", value=source.value)
        if pipeline.on_exit is not None:
            self._exit_handler(flow, pipeline.on_exit)
        return exposed

    def _child(self, parent: Scope, name: str, component_name: str | None = None) -> Scope:
        """A new sub-DAG component, run by the task ``name`` of ``parent``'s DAG."""
        component = self.names.component(component_name or name)
        call = parent.component.dag.tasks[name]
        call.task_info.name = name
        call.component_ref.name = component
        return self.wiring.scope(self.spec.components[component], parent, call, name)

    def _lift(self, source: _Source, top: Scope) -> _Source:
        """``source`` exported up to ``top``'s DAG (from the exit-handler body)."""
        while source.kind in ("task", "input") and source.scope != top.id:
            source = self.wiring.export(source, self.wiring.scopes[source.scope])
        return source

    def _task(self, flow: _Flow, task: ir.Task, scope: Scope) -> None:
        sources = {k: self._resolve(b, flow, task.location) for k, b in task.inputs.items()}
        if task.map is not None:
            shared = self._shared_loop(flow, task, scope)
            if shared is not None:
                self._join(flow, task, shared, sources)
            else:
                self._loop(flow, task, scope, sources)
            return
        name = task_name(task.id)
        flow.placed[task.id] = (scope.id, name)
        flow.outputs[task.id] = self._call(flow, task, scope, sources, name)

    def _call(
        self, flow: _Flow, task: ir.Task, scope: Scope, sources: dict[str, _Source], name: str
    ) -> dict[str, _Source]:
        """The task ``name`` in ``scope``'s DAG calling ``task``'s step or sub-pipeline; its outputs there."""
        into_dag = task.step is None
        local = {k: self._local(flow, s, scope, task, into_dag) for k, s in sources.items()}
        if task.step is not None:
            variant = self._step_variant(self.steps[task.step], local)
            params = self.steps[task.step].inputs
        else:
            sub = self.pipelines[task.pipeline or ""]
            variant = self._pipeline_variant(sub, local)
            params = sub.params
        spec = scope.component.dag.tasks[name]
        spec.task_info.name = name
        spec.component_ref.name = variant.component
        for other in task.after:
            self._after(flow, spec, scope, other)
        for param in params:
            source = local.get(param.name)
            if source is not None:
                self.wiring.bind(spec, param.name, source, encoding_of(param.type), where=task.location)
        self.wiring.runtime(spec, scope)
        if task.step is not None:
            self._task_options(spec, self.steps[task.step])
        return {
            out: dataclasses.replace(
                self._expose(item, name, local, params), scope=scope.id, origin=f"{task.id}-{out}"
            )
            if item.kind == "output"
            else self._expose(item, name, local, params)
            for out, item in variant.outputs.items()
        }

    def _local(
        self, flow: _Flow, source: _Source, scope: Scope, task: ir.Task, into_dag: bool = False
    ) -> _Source:
        """``source`` as seen in ``scope``'s DAG by ``task`` (a sub-DAG task there, when ``into_dag``): a
        collected list of stored values is packed first if it must enter a sub-DAG."""
        enc = source.encoding
        if enc is not None and enc.is_list and (into_dag or source.scope != scope.id):
            source = self._packed(flow, source, task.location)
        return self.wiring.local(source, scope, where=task.location)

    def _packed(self, flow: _Flow, source: _Source, where: ir.SourceLocation | None) -> _Source:
        """A task beside the producer of the collected list ``source`` that copies it into one artifact
        (``_executors.PACK``); the pack as a source there. One per list, however many readers it has
        (``where`` is the line of the first)."""
        from mlopsdsl.naming import k8s_name

        assert source.encoding is not None and source.kind == "task"
        identity = (source.scope, source.name, source.key)
        if identity not in self.packs:
            scope = self.wiring.scopes[source.scope]
            name = _fresh(f"pack-{k8s_name(source.origin)}", flow.taken)
            task = scope.component.dag.tasks[name]
            task.task_info.name = name
            task.component_ref.name = self._pack_component(source.encoding)
            task.caching_options.enable_cache = True
            self.wiring.bind(task, PACK_INPUT, dataclasses.replace(source, select=()), where=where)
            self.packs[identity] = _Source(
                "task", PACKED, name, PACK_OUTPUT, scope=source.scope, origin=source.origin
            )
        return dataclasses.replace(self.packs[identity], select=source.select)

    def _pack_component(self, enc: Encoding) -> str:
        """The component of the tasks that pack lists of ``enc`` (one per artifact schema)."""
        if enc not in self.pack_components:
            name = self.names.component(PACK_COMPONENT)
            component = self.spec.components[name]
            component.executor_label = executor_for(name)
            declare(component.input_definitions, PACK_INPUT, enc, self.pb)
            declare(component.output_definitions, PACK_OUTPUT, PACKED, self.pb)
            container = pack_container(self.settings.image)
            self._container(executor_for(name), container.image, container.command, container.args)
            self.pack_components[enc] = name
        return self.pack_components[enc]

    def _after(self, flow: _Flow, spec: Any, scope: Scope, other: str) -> None:
        """``spec`` (in ``scope``) waits for IR task ``other``: the dependency is set in ``other``'s DAG, on
        the task there that contains ``spec``."""
        if other not in flow.placed:
            return
        owner, name = flow.placed[other]
        holder, where = spec, scope
        while where.id != owner:
            if where.parent is None:
                return
            holder, where = where.call, where.parent
        depend(holder, name)

    # ------------------------------------------------------------------ loops

    def _loop(self, flow: _Flow, task: ir.Task, scope: Scope, sources: dict[str, _Source]) -> None:
        assert task.map is not None
        base = task_name(task.id)
        loop = self._child(scope, _fresh(f"for-loop-{base}", flow.taken))
        flow.placed[task.id] = (scope.id, loop.call_name)
        params = self.steps[task.step].inputs if task.step else self.pipelines[task.pipeline or ""].params
        mapped = next(p for p in params if p.name == task.map.input)
        source = sources[task.map.input]
        item_name = f"pipelinechannel--{base}-loop-item"
        loop.call.parameter_iterator.item_input = item_name
        if mapped.type.is_stored:
            element = self._elements(flow, task, source, loop, item_name)
        else:
            element = self._values(task, mapped, source, loop, item_name)
        if task.map.max_parallel is not None:
            loop.call.iterator_policy.parallelism_limit = task.map.max_parallel
        inner = {**sources, task.map.input: element}
        outputs = self._call(flow, task, loop, inner, base)
        flow.loops[task.id] = (loop, outputs)
        flow.members[loop.id] = {task.id}
        flow.outputs[task.id] = {key: self._collect(task, key, out, loop) for key, out in outputs.items()}

    def _values(
        self, task: ir.Task, mapped: ir.Param, source: _Source, loop: Scope, item_name: str
    ) -> _Source:
        """Make ``loop`` run over the list of values ``source``; the item as a source inside it."""
        item = encoding_of(mapped.type)
        if not item.is_parameter or (item.type == "STRING" and not item.raw):
            raise CompileError(
                f"task {task.id!r} maps over a list of {mapped.type}; on KFP a map runs over a list of str, "
                "numbers, bools, lists, dicts, dataclasses or models",
                "kfp",
                location=task.location,
            )
        declare(loop.component.input_definitions, item_name, item, self.pb)
        if source.kind == "constant":
            values = [encode_value(v, item) for v in source.value or []]
            loop.call.parameter_iterator.items.raw = json.dumps(values, ensure_ascii=False, sort_keys=True)
        else:
            assert source.encoding is not None and loop.parent is not None
            if not source.encoding.is_parameter or source.select:
                raise CompileError(
                    f"task {task.id!r} maps over {'a field of a value' if source.select else 'stored values'}"
                    "; on KFP a map runs over a list parameter or step output as it is (select the field, or "
                    "make the list, in a step)",
                    "kfp",
                    location=task.location,
                )
            self._iterate(loop, self.wiring.local(source, loop.parent, where=task.location), task.location)
        return _Source("input", item, item_name, scope=loop.id, origin=item_name)

    def _elements(self, flow: _Flow, task: ir.Task, source: _Source, loop: Scope, item_name: str) -> _Source:
        """Make ``loop`` run over the collected stored values ``source`` (another map's results, when they
        cannot share its loop): over the records of their pack, each iteration reading its element from the
        pack. Every iteration downloads the whole pack; ``_shared_loop`` avoids this where it can."""
        assert loop.parent is not None
        enc = source.encoding
        if enc is None or not enc.is_list or source.select:
            raise CompileError(
                f"task {task.id!r} maps over stored values that are not the results of another map; on KFP a "
                "map runs over values, or over another map's stored results",
                "kfp",
                location=task.location,
            )
        packed = self._packed(flow, source, task.location)
        outer = self.wiring.local(packed, loop.parent, where=task.location)
        if outer.kind == "input":
            records = _Source("input", _RECORDS, outer.name + META, scope=outer.scope)
        else:
            records = _Source("task", _RECORDS, outer.name, outer.key + META, scope=outer.scope)
        self._iterate(loop, records, task.location)
        declare(loop.component.input_definitions, item_name, _RECORD, self.pb)
        inside = self.wiring.local(packed, loop, where=task.location)
        return dataclasses.replace(inside, encoding=ELEMENT, meta=item_name)

    def _iterate(self, loop: Scope, items: _Source, where: ir.SourceLocation | None) -> None:
        """Make ``loop`` run over ``items`` (a list parameter where the loop's task is), given to the loop as
        an input of its own: KFP removes the list the loop runs over from every iteration's inputs, so
        another read of the same value inside must come through another input."""
        name = f"pipelinechannel--{loop.call_name.removeprefix('for-loop-')}-loop-items"
        assert items.encoding is not None
        declare(loop.component.input_definitions, name, items.encoding, self.pb)
        self.wiring.bind(loop.call, name, items, where=where)
        loop.call.parameter_iterator.items.input_parameter = name

    def _shared_loop(self, flow: _Flow, task: ir.Task, scope: Scope) -> Scope | None:
        """The loop a map over another map's stored results runs in: that map's own loop, where each
        iteration's result is a single artifact of a sibling task (KFP hands an artifact *list* to no task
        inside a sub-DAG, see ``docs/kfp.md``). ``None`` when the map needs a loop of its own: it maps over
        values, sits in another ``when`` block, or waits for something that waits for that loop."""
        assert task.map is not None
        binding = task.inputs.get(task.map.input)
        if task.step is None or not isinstance(binding, ir.TaskOutputBinding) or binding.path:
            return None
        if binding.task not in flow.loops:
            return None
        loop, outputs = flow.loops[binding.task]
        item = outputs.get(binding.output)
        if item is None or item.kind != "task" or item.encoding is None or item.encoding.is_parameter:
            return None
        if loop.parent is not scope:
            return None
        members = flow.members[loop.id]
        others = set(task.after)
        for key, other in task.inputs.items():
            if key != task.map.input:
                others |= _producers(other)
        if any(o in members or _upstream(flow, o) & members for o in others):
            return None
        return loop

    def _join(self, flow: _Flow, task: ir.Task, loop: Scope, sources: dict[str, _Source]) -> None:
        """Run ``task`` in ``loop``, beside the map whose results it maps over (``_shared_loop``)."""
        assert task.map is not None and loop.parent is not None
        binding = task.inputs[task.map.input]
        assert isinstance(binding, ir.TaskOutputBinding)
        inner = {**sources, task.map.input: flow.loops[binding.task][1][binding.output]}
        flow.placed[task.id] = (loop.parent.id, loop.call_name)
        if task.map.max_parallel is not None:
            policy = loop.call.iterator_policy
            limit = policy.parallelism_limit
            policy.parallelism_limit = min(limit, task.map.max_parallel) if limit else task.map.max_parallel
        outputs = self._call(flow, task, loop, inner, task_name(task.id))
        flow.loops[task.id] = (loop, outputs)
        flow.members[loop.id].add(task.id)
        flow.outputs[task.id] = {key: self._collect(task, key, out, loop) for key, out in outputs.items()}

    def _collect(self, task: ir.Task, key: str, out: _Source, loop: Scope) -> _Source:
        """Output ``key`` of every iteration, as one list output of the loop's task."""
        enc = out.encoding
        if out.kind != "task" or enc is None or out.select:
            raise CompileError(
                f"output {key!r} of mapped task {task.id!r} passes a value through from its inputs; on KFP "
                "the outputs of a map must be made by a step",
                "kfp",
                location=task.location,
            )
        if enc.is_list or (enc.type == "STRING" and not enc.raw):
            what = "lists of stored values" if enc.is_list else "Optional/Any values (JSON text)"
            raise CompileError(
                f"output {key!r} of mapped task {task.id!r}: KFP cannot collect {what} from a loop",
                "kfp",
                location=task.location,
            )
        collected = Encoding("json", "LIST") if enc.is_parameter else Encoding(f"{enc.kind}s", enc.type)  # type: ignore[arg-type]
        name = f"pipelinechannel--{out.name}-{key}"
        dag_output(loop.component, name, out, self.pb)
        declare(loop.component.output_definitions, name, collected, self.pb)
        assert loop.parent is not None
        return _Source(
            "task", collected, loop.call_name, name, scope=loop.parent.id, origin=f"{task.id}-{key}"
        )

    # ------------------------------------------------------------------ conditions

    def _group_scope(self, flow: _Flow, group_id: str | None) -> Scope:
        if group_id is None:
            return flow.body
        if group_id in flow.scopes:
            return flow.scopes[group_id]
        group = flow.groups[group_id]
        parent = self._group_scope(flow, group.parent)
        when = group.id if group.kind == "when" else (group.else_of or group.id)
        host = parent
        if any(g.else_of == when for g in flow.groups.values()):
            key = "branches:" + when
            if key not in flow.scopes:
                flow.scopes[key] = self._child(parent, _fresh(f"condition-branches-{when}", flow.taken))
            host = flow.scopes[key]
        scope = self._child(host, _fresh(f"condition-{group.id}", flow.taken))
        flow.scopes[group_id] = scope
        where = group.location or flow.pipeline.location
        scope.call.trigger_policy.condition = self._condition(flow, group.condition, scope, where)
        return scope

    def _condition(
        self, flow: _Flow, condition: ir.Condition, scope: Scope, where: ir.SourceLocation | None
    ) -> str:
        """The CEL text of ``condition``, over inputs of ``scope``'s task (imported as needed); ``where`` is
        the ``ml.when`` block's line."""
        if isinstance(condition, ir.Compare):
            left = self._operand(flow, condition.left, scope, where)
            right = self._operand(flow, condition.right, scope, where)
            return f"{left} {condition.op} {right}"
        if isinstance(condition, ir.Not):
            return f"!({self._condition(flow, condition.condition, scope, where)})"
        joiner = " && " if isinstance(condition, ir.AllOf) else " || "
        return joiner.join(f"({self._condition(flow, part, scope, where)})" for part in condition.conditions)

    def _operand(
        self, flow: _Flow, binding: ir.Binding, scope: Scope, where: ir.SourceLocation | None
    ) -> str:
        if isinstance(binding, ir.ConstantBinding):
            return _cel.literal(binding.value, where)
        source = self.wiring.local(self._resolve(binding, flow, where), scope, where=where)
        if source.kind == "constant":
            return _cel.literal(source.value, where)
        enc = source.encoding
        assert enc is not None
        if not enc.is_parameter or (enc.type == "STRING" and not enc.raw):
            raise CompileError(
                f"a condition reads {source.origin!r}, "
                f"{'a stored value' if not enc.is_parameter else 'a value held as JSON text (Optional, Any)'}"
                "; on KFP conditions "
                "compare str, number and bool values (compute the value in a step)",
                "kfp",
                location=where,
            )
        return _cel.reference(source.name, source.select)

    def _one_of(self, flow: _Flow, binding: ir.OneOfBinding, where: ir.SourceLocation | None) -> _Source:
        """The branches DAG's output that takes whichever branch's value exists; ``where`` is the line that
        uses it."""
        identity = json.dumps(ir.dump(binding), sort_keys=True)
        if identity in flow.one_ofs:
            return flow.one_ofs[identity]
        selects = {tuple(s.path) for s in binding.sources}
        if len(selects) != 1:
            raise CompileError("ml.one_of() selects different fields of its branches", "kfp", location=where)
        picked: list[_Source] = []
        for ref in binding.sources:
            source = flow.outputs[ref.task][ref.output]
            picked.append(self.wiring.export(source, self.wiring.scopes[source.scope]))
        encodings = {p.encoding for p in picked}
        if len(encodings) != 1 or any(p.kind != "task" for p in picked):
            raise CompileError(
                "ml.one_of() joins values that travel differently on KFP (e.g. a list parameter and a "
                "collected list of stored values); make both in the same way",
                "kfp",
                location=where,
            )
        branches = self.wiring.scopes[picked[0].scope]
        assert branches.parent is not None
        enc = picked[0].encoding
        assert enc is not None
        name = f"pipelinechannel--{branches.call_name}-oneof-{len(flow.one_ofs) + 1}"
        outputs = branches.component.dag.outputs
        if enc.is_parameter:
            selectors = outputs.parameters[name].value_from_oneof.parameter_selectors
            for p in picked:
                selectors.add(producer_subtask=p.name, output_parameter_key=p.key)
        else:
            for p in picked:
                outputs.artifacts[name].artifact_selectors.add(
                    producer_subtask=p.name, output_artifact_key=p.key
                )
            records = outputs.parameters[name + "--meta"].value_from_oneof.parameter_selectors
            for p in picked:
                records.add(producer_subtask=p.name, output_parameter_key=p.key + "--meta")
        declare(branches.component.output_definitions, name, enc, self.pb)
        result = _Source(
            "task", enc, branches.call_name, name, selects.pop(), scope=branches.parent.id,
            origin=name.removeprefix("pipelinechannel--"),
        )  # fmt: skip
        flow.one_ofs[identity] = result
        return result

    # ------------------------------------------------------------------ exit handler

    def _exit_handler(self, flow: _Flow, task: ir.Task) -> None:
        """The exit task: after the body's DAG whatever its end, with its final status for ``status``."""
        sources: dict[str, _Source] = {}
        for key, binding in task.inputs.items():
            if isinstance(binding, ir.StatusBinding):
                sources[key] = _Source("status", _STATUS, flow.body.call_name, scope=flow.top.id)
            else:
                sources[key] = self._resolve(binding, flow, task.location)
        name = task_name(task.id)
        self._call(flow, task, flow.top, sources, name)
        spec = flow.top.component.dag.tasks[name]
        depend(spec, flow.body.call_name)
        strategy = self.pb.PipelineTaskSpec.TriggerPolicy.TriggerStrategy
        spec.trigger_policy.strategy = strategy.Value("ALL_UPSTREAM_TASKS_COMPLETED")

    # ------------------------------------------------------------------ values

    def _pick(self, top: Scope, out: ir.PipelineOutput, source: _Source) -> _Source:
        """A root task that returns ``source`` (fields selected) as the pipeline output ``out``."""
        from mlopsdsl.naming import k8s_name

        dag = top.component.dag
        name = base = f"output-{k8s_name(out.name)}"
        while name in dag.tasks:
            name += "-" + base.removeprefix("output-")
        param_type = out.type if source.kind == "constant" else ir.TypeSpec(kind="json")
        pick = ir.StepSpec(
            name="pick",
            code=ir.CodeRef(module="copy", qualname="copy", file="copy.py", digest=""),
            inputs=[ir.Param(name="x", type=param_type)],
            outputs=[ir.Output(name="output", type=out.type)],
            returns=ir.ReturnShape(kind="single"),
            options=ir.StepOptions(),
        )
        self.codes.setdefault("\0pick", {"mode": "import", "module": "copy", "qualname": "copy"})
        variant = self._step_variant(pick, {"x": source}, code_key="\0pick")
        task = dag.tasks[name]
        task.task_info.name = name
        task.component_ref.name = variant.component
        task.caching_options.enable_cache = self.settings.cache
        self.wiring.bind(task, "x", source, encoding_of(param_type), where=out.location)
        self.wiring.runtime(task, top)
        return _Source("task", encoding_of(out.type), name, "output", scope=top.id)

    def _resolve(self, binding: ir.Binding, flow: _Flow, where: ir.SourceLocation | None) -> _Source:
        """``binding`` as a source in the flow's pipeline; ``where`` is the user's line that uses it."""
        if isinstance(binding, ir.ConstantBinding):
            return _Source("constant", value=binding.value)
        if isinstance(binding, ir.ParameterBinding):
            return flow.env[binding.name].then(binding.path)
        if isinstance(binding, ir.TaskOutputBinding):
            return flow.outputs[binding.task][binding.output].then(binding.path)
        if isinstance(binding, ir.OneOfBinding):
            return self._one_of(flow, binding, where)
        raise CompileError(
            "the pipeline's status is only for the exit handler's inputs", "kfp", location=where
        )

    def _expose(
        self, item: _Exposed, task: str, sources: dict[str, _Source], params: list[ir.Param]
    ) -> _Source:
        """A callee's output as a source in the caller's DAG."""
        if item.kind == "output":
            return _Source("task", item.encoding, task, item.key, item.select)
        if item.kind == "constant":
            return _Source("constant", value=item.value)
        if item.key in sources:
            return sources[item.key].then(list(item.select))
        default = next(p.default for p in params if p.name == item.key)
        return _Source("constant", value=default).then(list(item.select))

    # ------------------------------------------------------------------ components

    def _key(self, params: list[ir.Param], sources: dict[str, _Source]) -> tuple[Any, ...]:
        entries: list[Any] = []
        for param in params:
            source = sources.get(param.name)
            if source is None and not _has_kfp_default(param):
                entries.append((param.name, None))
            elif source is None or source.kind == "constant":
                entries.append((param.name, encoding_of(param.type), ()))
            else:
                entries.append((param.name, source.encoding, source.select))
        return tuple(entries)

    def _step_variant(
        self, step: ir.StepSpec, sources: dict[str, _Source], code_key: str | None = None
    ) -> _Variant:
        key = (
            "step",
            code_key or step.name,
            self._key(step.inputs, sources),
            tuple(encoding_of(o.type) for o in step.outputs),
        )
        if key in self.variants:
            return self.variants[key]
        name = self.names.component(step.name)
        component = self.spec.components[name]
        component.executor_label = executor_for(name)
        plans: list[InputPlan] = []
        for param in step.inputs:
            source = sources.get(param.name)
            if source is None and not _has_kfp_default(param):
                continue  # left out of the call spec: the function's own default applies
            if source is None or source.kind == "constant":
                plans.append(InputPlan(param, encoding_of(param.type)))
            else:
                assert source.encoding is not None
                plans.append(InputPlan(param, source.encoding, source.select))
            declare(component.input_definitions, param.name, plans[-1].encoding, self.pb)
            if _has_kfp_default(param):
                self._default(component.input_definitions, param, param.location or step.location)
        if self.bundled:
            declare_bundle(component.input_definitions)
        outputs = {o.name: encoding_of(o.type) for o in step.outputs}
        for out_name, enc in outputs.items():
            declare(component.output_definitions, out_name, enc, self.pb)
        if METRICS_OUTPUT in outputs:
            raise CompileError(
                f"step {step.name!r}: the output name {METRICS_OUTPUT!r} is reserved by the KFP backend",
                "kfp",
                location=step.location,
            )
        metrics = component.output_definitions.artifacts[METRICS_OUTPUT]
        metrics.artifact_type.schema_title = "system.Metrics"
        metrics.artifact_type.schema_version = ARTIFACT_SCHEMA_VERSION
        marker = None
        tolerant = tolerant_section(step)
        counts = tolerant is not None and needs_counter(step, tolerant["attempts"], self.settings.store)
        marks = needs_marker(step, self.settings.store)
        if marks or counts:
            assert self.settings.store is not None
            declare_bundle(component.output_definitions, MARKER_OUTPUT)  # a plain artifact, no record
            marker = marker_spec(self.settings.store)
        if tolerant is not None and counts:
            tolerant["counter"] = marker  # the same key: one per execution, the same for its attempts
        if not marks:
            marker = None
        code_key = code_key or step.name
        if code_key not in self.codes:
            function = self.settings.functions.get(function_name(step))
            self.codes[code_key] = code_spec(step, self.settings.code, function, "kfp")
        container = step_container(
            step,
            plans,
            outputs,
            self.codes[code_key],
            self.settings.image,
            self.bundled,
            marker,
            self._cache(step),
            self.doc.root,
            tolerant,
        )
        executor = executor_for(name)
        deployment = self._container(executor, container.image, container.command, container.args)
        _resources(deployment.container, step.options, self.pb)
        observing = {PUSH_ENV: self.settings.pushgateway, "MLFLOW_TRACKING_URI": self.settings.tracking_uri}
        for env_name, url in observing.items():
            if url is not None and env_name not in step.options.env:  # the step's own env wins
                deployment.container.env.add(name=env_name, value=k8s_literal(url))
        for env_name in sorted(step.options.env):
            # Kubernetes expands $(VAR) in env values: written so that it gives the user's text back.
            deployment.container.env.add(name=env_name, value=k8s_literal(step.options.env[env_name]))
        from mlopsdsl.lowering import pod_of

        config = executor_config(step.options, pod_of(self.doc, step), self.settings.non_root)
        if config is not None:
            self.platform[executor] = config
        variant = _Variant(name, {o: _Exposed("output", e, o) for o, e in outputs.items()})
        self.variants[key] = variant
        return variant

    def _pipeline_variant(self, sub: ir.PipelineSpec, sources: dict[str, _Source]) -> _Variant:
        key = ("pipeline", sub.name, self._key(sub.params, sources))
        if key in self.variants:
            return self.variants[key]
        name = self.names.component(sub.name)
        component = self.spec.components[name]
        env: dict[str, _Source] = {}
        for param in sub.params:
            source = sources.get(param.name)
            if source is None and not _has_kfp_default(param):
                env[param.name] = _Source("constant", value=param.default)
                continue
            direct = source is None or source.kind == "constant"
            enc = encoding_of(param.type) if direct or source is None else source.encoding
            assert enc is not None
            select = () if direct or source is None else source.select
            declare(component.input_definitions, param.name, enc, self.pb)
            if _has_kfp_default(param):
                self._default(component.input_definitions, param, param.location or sub.location)
            env[param.name] = _Source("input", enc, param.name, select=select)
        if self.bundled:
            declare_bundle(component.input_definitions)
        # Registered before the body is lowered, so that the component order does not depend on recursion.
        variant = _Variant(name, {})
        self.variants[key] = variant
        exposed = self._dag(sub, component, env, is_root=False)
        for out_name, item in exposed.items():
            if item.kind == "output" and item.encoding is not None:
                declare(component.output_definitions, out_name, item.encoding, self.pb)
        variant.outputs = exposed
        return variant

    def _default(self, definitions: Any, param: ir.Param, where: ir.SourceLocation | None) -> None:
        spec = definitions.parameters[param.name]
        spec.is_optional = True
        set_value(
            spec.default_value,
            encode_value(param.default, encoding_of(param.type)),
            where=where,
            what=f"the default of {param.name!r}",
        )

    def _container(self, executor: str, image: str, command: list[str], args: list[str]) -> Any:
        own = default_config(self.settings.non_root)  # a step's executor replaces it with its own
        if own is not None:
            self.platform[executor] = own
        deployment = self.deployment.executors[executor]
        deployment.container.image = image
        deployment.container.command.extend(command)
        deployment.container.args.extend(args)
        return deployment

    def _cache(self, step: ir.StepSpec) -> dict[str, Any] | None:
        """The call spec's ``cache`` section: KFP's cache key covers the command line, so the step's digest
        there makes it change with the code even in import mode; with ``cache_root`` the pod applies the
        runtime's own rule too (by content, and checked by digest)."""
        if not step.options.cache or not step.digest:
            return None
        from mlopsdsl.runtime._cache import spec_section

        opts = step.options
        return spec_section(
            step.digest, self.settings.cache_root, self.settings.cache, opts.cache_ignore, opts.cache_max_age
        )

    def _task_options(self, spec: Any, step: ir.StepSpec) -> None:
        # KFP's own cache has no age limit: a step whose results go stale leaves it to the pods' cache
        # (cache_root), which applies the whole rule; without cache_root such a step always runs. Nor does
        # it know a tolerated failure from a success (the pod succeeds): a tolerant map's elements leave
        # caching to the pods' cache too, which keeps successes only.
        options = step.options
        own = (
            options.cache and self.settings.cache and options.cache_max_age is None and not is_tolerant(step)
        )
        spec.caching_options.enable_cache = own
        retry_policy(spec, options.retry)


def _producers(binding: ir.Binding) -> set[str]:
    """The IR tasks whose outputs ``binding`` reads."""
    found: set[str] = set()
    for leaf in ir.leaves(binding):
        if isinstance(leaf, ir.TaskOutputBinding):
            found.add(leaf.task)
        elif isinstance(leaf, ir.OneOfBinding):
            found.update(s.task for s in leaf.sources)
    return found


def _upstream(flow: _Flow, task_id: str) -> set[str]:
    """Every IR task ``task_id`` waits for, directly or not: inputs, ``after`` and its blocks' conditions."""
    tasks = {t.id: t for t in flow.pipeline.tasks}
    found: set[str] = set()
    todo = [task_id]
    while todo:
        task = tasks.get(todo.pop())
        if task is None:
            continue
        direct = set(task.after)
        for binding in task.inputs.values():
            direct |= _producers(binding)
        group = flow.groups.get(task.group or "")
        while group is not None:
            direct |= _condition_producers(group.condition)
            group = flow.groups.get(group.parent or "")
        todo.extend(direct - found)
        found |= direct
    return found


def _condition_producers(condition: ir.Condition) -> set[str]:
    if isinstance(condition, ir.Compare):
        return _producers(condition.left) | _producers(condition.right)
    if isinstance(condition, ir.Not):
        return _condition_producers(condition.condition)
    return {t for part in condition.conditions for t in _condition_producers(part)}


def _has_kfp_default(param: ir.Param) -> bool:
    """True when an optional input's default can be the KFP component's default (one component for all
    calls, whether they pass the input or not); else the input is left to the function's own default."""
    if not param.optional:
        return False
    enc = encoding_of(param.type)
    return enc.is_parameter and (param.default is not None or (enc.type == "STRING" and not enc.raw))


def _resources(container: Any, options: ir.StepOptions, pb: Any) -> None:
    res = options.resources
    cpu_limit = res.cpu_limit or res.cpu
    memory_limit = res.memory_limit or res.memory
    if not any((res.cpu, res.memory, cpu_limit, memory_limit, res.gpu)):
        return
    spec = container.resources
    if res.cpu:
        spec.resource_cpu_request = res.cpu
    if cpu_limit:
        spec.resource_cpu_limit = cpu_limit
    if res.memory:
        spec.resource_memory_request = res.memory
    if memory_limit:
        spec.resource_memory_limit = memory_limit
    if res.gpu:
        spec.accelerator.resource_type = res.gpu_type or "nvidia.com/gpu"
        spec.accelerator.resource_count = str(res.gpu)


def _fresh(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... when a task of the same DAG family has it."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    taken.add(candidate)
    return candidate


def _sort_dependencies(spec: Any) -> None:
    """``dependentTasks`` in sorted order: they are added as edges are found, in no meaningful order."""
    for component in [spec.root, *spec.components.values()]:
        for task in component.dag.tasks.values():
            names = sorted(set(task.dependent_tasks))
            del task.dependent_tasks[:]
            task.dependent_tasks.extend(names)
