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
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mlopsdsl import ir
from mlopsdsl.errors import CompileError

from ._code import code_spec
from ._executors import InputPlan, runtime_container, step_container
from ._naming import (
    RUNTIME_COMPONENT,
    RUNTIME_EXECUTOR,
    RUNTIME_INPUT,
    RUNTIME_OUTPUT,
    RUNTIME_TASK,
    Names,
    executor_for,
    task_name,
)
from ._platform import executor_config
from ._types import ARTIFACT_SCHEMA_VERSION, Encoding, encode_value, encoding_of

__all__ = ["Lowered", "Settings", "lower"]

Select = tuple[str | int, ...]


@dataclass(frozen=True)
class Settings:
    """Compile options: how code ships, how the runtime reaches the pod, and the default image."""

    code: Literal["value", "import"] = "value"
    runtime: Literal["bundle", "image"] = "bundle"
    image: str = "python:3.11-slim"
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    """Step functions by step name, for those not found by their import path."""


@dataclass
class Lowered:
    """The compiled documents: the pipeline spec and the platform executors (empty when none)."""

    pipeline: Any
    platform: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Source:
    """Where a value comes from inside one DAG: a DAG input, a task's output, or a constant."""

    kind: Literal["input", "task", "constant"]
    encoding: Encoding | None = None
    name: str = ""
    """The DAG input's name, or the producing task's name."""
    key: str = ""
    """The producing task's output key."""
    select: Select = ()
    value: Any = None

    def then(self, path: list[str | int]) -> _Source:
        if not path:
            return self
        if self.kind == "constant":
            return _Source("constant", value=_select(self.value, path))
        return _Source(self.kind, self.encoding, self.name, self.key, (*self.select, *path))


@dataclass(frozen=True)
class _Exposed:
    """A callee's output as its caller sees it: a component output, or a pass-through of an input."""

    kind: Literal["output", "input", "constant"]
    encoding: Encoding | None = None
    key: str = ""
    """The component output key, or the callee input's name."""
    select: Select = ()
    value: Any = None


@dataclass
class _Variant:
    component: str
    outputs: dict[str, _Exposed]


def _select(value: Any, path: list[str | int]) -> Any:
    for part in path:
        value = value[part]
    return value


def lower(document: ir.Document, settings: Settings) -> Lowered:
    """Compile ``document`` to protobuf messages."""
    return _Lowering(document, settings).run()


class _Lowering:
    def __init__(self, document: ir.Document, settings: Settings) -> None:
        from kfp.pipeline_spec import pipeline_spec_pb2 as pb  # type: ignore[import-untyped,unused-ignore]

        self.pb = pb
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
            enc = encoding_of(param.type)
            if not enc.is_parameter:
                raise CompileError(
                    f"pipeline parameter {param.name!r} has type {param.type}; a KFP pipeline parameter must "
                    "be a JSON value (artifacts and objects come from steps)",
                    "kfp",
                )
            definition = spec.root.input_definitions.parameters[param.name]
            definition.parameter_type = self.pb.ParameterType.ParameterTypeEnum.Value(enc.type)
            if param.optional:
                definition.is_optional = True
                if param.default is not None or enc.type == "STRING":
                    _set_value(definition.default_value, encode_value(param.default, enc))
            if param.name == RUNTIME_INPUT:
                raise CompileError(
                    f"the parameter name {RUNTIME_INPUT!r} is reserved by the KFP backend", "kfp"
                )
            env[param.name] = _Source("input", enc, param.name)
        if self.bundled:
            self._runtime_task()
        exposed = self._dag(root, spec.root, env, is_root=True)
        for name, item in exposed.items():
            if item.kind == "output" and item.encoding is not None:
                _declare(spec.root.output_definitions, name, item.encoding, self.pb)
        from ._emit import message_to_dict

        # The PipelineSpec holds its deployment config as a Struct; it is built as the typed message.
        spec.deployment_spec.update(message_to_dict(self.deployment))
        return Lowered(spec, self.platform)

    def _runtime_task(self) -> None:
        component = self.spec.components[RUNTIME_COMPONENT]
        component.executor_label = RUNTIME_EXECUTOR
        _declare(
            component.output_definitions, RUNTIME_OUTPUT, Encoding("artifact", "system.Artifact"), self.pb
        )
        types = [p.type for s in self.doc.steps for p in s.inputs] + [
            o.type for s in self.doc.steps for o in s.outputs
        ]
        with_cloudpickle = self.settings.code == "value" or any(t.kind == "object" for t in types)
        container = runtime_container(_bundle(with_cloudpickle), self.settings.image)
        self._container(RUNTIME_EXECUTOR, container.image, container.command, container.args)
        task = self.spec.root.dag.tasks[RUNTIME_TASK]
        task.task_info.name = RUNTIME_TASK
        task.component_ref.name = RUNTIME_COMPONENT
        task.caching_options.enable_cache = True

    # ------------------------------------------------------------------ DAGs

    def _dag(
        self, pipeline: ir.PipelineSpec, component: Any, env: dict[str, _Source], is_root: bool
    ) -> dict[str, _Exposed]:
        """Fill ``component.dag`` with the pipeline's tasks; its outputs as the caller sees them."""
        outputs: dict[str, dict[str, _Source]] = {}
        dag = component.dag
        ids = {t.id: task_name(t.id) for t in pipeline.tasks}
        _no_control_flow(pipeline)
        for task in pipeline.tasks:
            name = ids[task.id]
            if is_root and name == RUNTIME_TASK:
                raise CompileError(f"the task name {RUNTIME_TASK!r} is reserved by the KFP backend", "kfp")
            sources = {k: self._resolve(b, env, outputs) for k, b in task.inputs.items()}
            if task.step is not None:
                variant = self._step_variant(self.steps[task.step], sources)
                params = self.steps[task.step].inputs
            else:
                sub = self.pipelines[task.pipeline or ""]
                variant = self._pipeline_variant(sub, sources)
                params = sub.params
            spec = dag.tasks[name]
            spec.task_info.name = name
            spec.component_ref.name = variant.component
            depends = {ids[a] for a in task.after if a in ids}
            for param in params:
                source = sources.get(param.name)
                if source is not None:
                    self._bind(spec, param, source)
                    if source.kind == "task":
                        depends.add(source.name)
            if self.bundled:
                runtime = spec.inputs.artifacts[RUNTIME_INPUT]
                if is_root:
                    runtime.task_output_artifact.producer_task = RUNTIME_TASK
                    runtime.task_output_artifact.output_artifact_key = RUNTIME_OUTPUT
                    depends.add(RUNTIME_TASK)
                else:
                    runtime.component_input_artifact = RUNTIME_INPUT
            spec.dependent_tasks.extend(sorted(depends))
            if task.step is not None:
                self._task_options(spec, self.steps[task.step].options)
            else:
                spec.caching_options.enable_cache = True
            outputs[task.id] = {
                out: self._expose(item, name, sources, params) for out, item in variant.outputs.items()
            }
        exposed: dict[str, _Exposed] = {}
        for out in pipeline.outputs:
            source = self._resolve(out.source, env, outputs)
            if is_root and (source.kind != "task" or source.select):
                # A KFP DAG output can only name a task's output as it is: a small task picks the value.
                source = self._pick(dag, out, source)
            if source.kind == "task" and source.encoding is not None:
                self._dag_output(component, out.name, source)
                exposed[out.name] = _Exposed("output", source.encoding, out.name, source.select)
            elif source.kind == "input" and out.source.kind == "parameter":
                exposed[out.name] = _Exposed("input", key=out.source.name, select=tuple(out.source.path))
            else:
                exposed[out.name] = _Exposed("constant", value=source.value)
        return exposed

    def _pick(self, dag: Any, out: ir.PipelineOutput, source: _Source) -> _Source:
        """A root task that returns ``source`` (fields selected) as the pipeline output ``out``."""
        from mlopsdsl.naming import k8s_name

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
        task.caching_options.enable_cache = True
        self._bind(task, pick.inputs[0], source)
        depends = {source.name} if source.kind == "task" else set()
        if self.bundled:
            runtime = task.inputs.artifacts[RUNTIME_INPUT].task_output_artifact
            runtime.producer_task = RUNTIME_TASK
            runtime.output_artifact_key = RUNTIME_OUTPUT
            depends.add(RUNTIME_TASK)
        task.dependent_tasks.extend(sorted(depends))
        return _Source("task", encoding_of(out.type), name, "output")

    def _resolve(
        self, binding: ir.Binding, env: dict[str, _Source], outputs: dict[str, dict[str, _Source]]
    ) -> _Source:
        if isinstance(binding, ir.ConstantBinding):
            return _Source("constant", value=binding.value)
        if isinstance(binding, ir.ParameterBinding):
            return env[binding.name].then(binding.path)
        if isinstance(binding, ir.TaskOutputBinding):
            return outputs[binding.task][binding.output].then(binding.path)
        raise CompileError(
            f"{binding.kind!r} bindings are control flow, which the KFP backend does not compile yet", "kfp"
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

    def _bind(self, spec: Any, param: ir.Param, source: _Source) -> None:
        if source.kind == "constant":
            enc = encoding_of(param.type)
            if not enc.is_parameter:
                raise CompileError(
                    f"input {param.name!r} ({param.type}) is bound to a constant; on KFP stored inputs "
                    "(artifacts and objects) must come from a step",
                    "kfp",
                )
            _set_value(
                spec.inputs.parameters[param.name].runtime_value.constant, encode_value(source.value, enc)
            )
            return
        assert source.encoding is not None
        if source.encoding.is_parameter:
            target = spec.inputs.parameters[param.name]
            if source.kind == "input":
                target.component_input_parameter = source.name
            else:
                target.task_output_parameter.producer_task = source.name
                target.task_output_parameter.output_parameter_key = source.key
        else:
            artifact = spec.inputs.artifacts[param.name]
            if source.kind == "input":
                artifact.component_input_artifact = source.name
            else:
                artifact.task_output_artifact.producer_task = source.name
                artifact.task_output_artifact.output_artifact_key = source.key

    def _dag_output(self, component: Any, name: str, source: _Source) -> None:
        assert source.encoding is not None
        outputs = component.dag.outputs
        if source.encoding.is_parameter:
            value = outputs.parameters[name].value_from_parameter
            value.producer_subtask = source.name
            value.output_parameter_key = source.key
        else:
            outputs.artifacts[name].artifact_selectors.add(
                producer_subtask=source.name, output_artifact_key=source.key
            )

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
            _declare(component.input_definitions, param.name, plans[-1].encoding, self.pb)
            if _has_kfp_default(param):
                self._default(component.input_definitions, param)
        if self.bundled:
            _declare(
                component.input_definitions, RUNTIME_INPUT, Encoding("artifact", "system.Artifact"), self.pb
            )
        outputs = {o.name: encoding_of(o.type) for o in step.outputs}
        for out_name, enc in outputs.items():
            _declare(component.output_definitions, out_name, enc, self.pb)
        code_key = code_key or step.name
        if code_key not in self.codes:
            function = self.settings.functions.get(step.name)
            self.codes[code_key] = code_spec(step, self.settings.code, function)
        container = step_container(
            step, plans, outputs, self.codes[code_key], self.settings.image, self.bundled
        )
        executor = executor_for(name)
        deployment = self._container(executor, container.image, container.command, container.args)
        _resources(deployment.container, step.options, self.pb)
        for env_name in sorted(step.options.env):
            deployment.container.env.add(name=env_name, value=step.options.env[env_name])
        config = executor_config(step.options)
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
            _declare(component.input_definitions, param.name, enc, self.pb)
            if _has_kfp_default(param):
                self._default(component.input_definitions, param)
            env[param.name] = _Source("input", enc, param.name, select=select)
        if self.bundled:
            _declare(
                component.input_definitions, RUNTIME_INPUT, Encoding("artifact", "system.Artifact"), self.pb
            )
        # Registered before the body is lowered, so that the component order does not depend on recursion.
        variant = _Variant(name, {})
        self.variants[key] = variant
        exposed = self._dag(sub, component, env, is_root=False)
        for out_name, item in exposed.items():
            if item.kind == "output" and item.encoding is not None:
                _declare(component.output_definitions, out_name, item.encoding, self.pb)
        variant.outputs = exposed
        return variant

    def _default(self, definitions: Any, param: ir.Param) -> None:
        spec = definitions.parameters[param.name]
        spec.is_optional = True
        _set_value(spec.default_value, encode_value(param.default, encoding_of(param.type)))

    def _container(self, executor: str, image: str, command: list[str], args: list[str]) -> Any:
        deployment = self.deployment.executors[executor]
        deployment.container.image = image
        deployment.container.command.extend(command)
        deployment.container.args.extend(args)
        return deployment

    def _task_options(self, spec: Any, options: ir.StepOptions) -> None:
        spec.caching_options.enable_cache = options.cache
        retry = options.retry
        if retry is not None and retry.attempts > 1:
            policy = spec.retry_policy
            policy.max_retry_count = retry.attempts - 1
            policy.backoff_duration.FromNanoseconds(round(retry.backoff * 1e9))
            policy.backoff_factor = retry.factor
            if retry.max_backoff is not None:
                policy.backoff_max_duration.FromNanoseconds(round(retry.max_backoff * 1e9))


@functools.cache
def _bundle(with_cloudpickle: bool) -> bytes:
    """The runtime bundle; its bytes only change with the installed mlopsdsl, so one process makes it once."""
    from mlopsdsl.runtime.bundle import bundle

    return bundle(include_cloudpickle=with_cloudpickle)


def _has_kfp_default(param: ir.Param) -> bool:
    """True when an optional input's default can be the KFP component's default (one component for all
    calls, whether they pass the input or not); else the input is left to the function's own default."""
    if not param.optional:
        return False
    enc = encoding_of(param.type)
    return enc.is_parameter and (param.default is not None or (enc.type == "STRING" and not enc.raw))


def _no_control_flow(pipeline: ir.PipelineSpec) -> None:
    """Control flow (maps, conditions, exit handlers) is the next issue; until then it is refused plainly."""
    found = [
        f"task {t.id!r} ({'map' if getattr(t, 'map', None) else 'group ' + repr(t.group)})"
        for t in pipeline.tasks
        if t.group is not None or getattr(t, "map", None) is not None
    ]
    if getattr(pipeline, "on_exit", None) is not None:
        found.append("an exit handler")
    if found:
        raise CompileError(
            f"pipeline {pipeline.name!r} uses control flow ({', '.join(found)}), which the KFP backend does "
            "not compile yet",
            "kfp",
        )


def _declare(definitions: Any, name: str, enc: Encoding, pb: Any) -> None:
    if enc.is_parameter:
        definitions.parameters[name].parameter_type = pb.ParameterType.ParameterTypeEnum.Value(enc.type)
    else:
        schema = definitions.artifacts[name].artifact_type
        schema.schema_title = enc.type
        schema.schema_version = ARTIFACT_SCHEMA_VERSION


def _set_value(target: Any, value: Any) -> None:
    """Set a ``google.protobuf.Value`` from a JSON value."""
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]

    if isinstance(value, float) and not math.isfinite(value):
        raise CompileError(
            f"{value!r} cannot be written to a KFP document (JSON has no NaN or infinity)", "kfp"
        )
    json_format.ParseDict(value, target)


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
