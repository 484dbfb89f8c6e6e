"""mlopsdsl: typed Python pipelines that run locally and compile to Kubeflow Pipelines and Argo Workflows.

::

    import mlopsdsl as ml

    @ml.step
    def double(x: int) -> int:
        return 2 * x

    @ml.pipeline
    def twice(x: int = 1) -> int:
        return double(x=double(x=x))

    ml.compile(twice, backend="ir", output="twice.json")

Nothing is imported up front: the authoring layer, the IR (pydantic), the local runner, the backends and
the CLI load when first used, so that ``import mlopsdsl`` stays cheap inside every step's container.
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from mlopsdsl import runs
    from mlopsdsl._compile import compile
    from mlopsdsl._control import one_of, otherwise, when
    from mlopsdsl._pipeline import Pipeline, pipeline
    from mlopsdsl._step import Step, step
    from mlopsdsl._tracing import after
    from mlopsdsl.artifacts import HTML, Artifact, ClassificationMetrics, Dataset, Markdown, Model
    from mlopsdsl.errors import (
        CompileError,
        DefinitionError,
        IRError,
        MlopsDslError,
        ParameterError,
        PluginError,
        RemoteError,
        RunError,
        TargetError,
        ValidationError,
    )
    from mlopsdsl.local import RunResult, run
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
    from mlopsdsl.runtime.serializers import register_serializer
    from mlopsdsl.runtime.tracking import current, log_metric, log_metrics

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "ClassificationMetrics",
    "CompileError",
    "Dataset",
    "DefinitionError",
    "HTML",
    "IRError",
    "Markdown",
    "MlopsDslError",
    "Model",
    "NodeAffinity",
    "ParameterError",
    "Pipeline",
    "PluginError",
    "Pod",
    "PodAffinity",
    "RemoteError",
    "Resources",
    "Retry",
    "RunError",
    "RunResult",
    "Schedule",
    "Secret",
    "Step",
    "TargetError",
    "Toleration",
    "ValidationError",
    "Volume",
    "__version__",
    "after",
    "compile",
    "current",
    "log_metric",
    "log_metrics",
    "one_of",
    "otherwise",
    "pipeline",
    "register_serializer",
    "run",
    "runs",
    "step",
    "when",
]

# Everything loads on first use: the step runtime (``python -m mlopsdsl.runtime``) imports this package
# in every step's process, and must not pay there for the authoring layer, pydantic or the runner.
_LAZY = {
    "Artifact": "mlopsdsl.artifacts",
    "Dataset": "mlopsdsl.artifacts",
    "Model": "mlopsdsl.artifacts",
    "Markdown": "mlopsdsl.artifacts",
    "HTML": "mlopsdsl.artifacts",
    "ClassificationMetrics": "mlopsdsl.artifacts",
    "CompileError": "mlopsdsl.errors",
    "DefinitionError": "mlopsdsl.errors",
    "IRError": "mlopsdsl.errors",
    "MlopsDslError": "mlopsdsl.errors",
    "ParameterError": "mlopsdsl.errors",
    "PluginError": "mlopsdsl.errors",
    "RemoteError": "mlopsdsl.errors",
    "RunError": "mlopsdsl.errors",
    "TargetError": "mlopsdsl.errors",
    "ValidationError": "mlopsdsl.errors",
    "Pipeline": "mlopsdsl._pipeline",
    "pipeline": "mlopsdsl._pipeline",
    "Step": "mlopsdsl._step",
    "step": "mlopsdsl._step",
    "RunResult": "mlopsdsl.local",
    "run": "mlopsdsl.local",
    "compile": "mlopsdsl._compile",
    "after": "mlopsdsl._tracing",
    "one_of": "mlopsdsl._control",
    "otherwise": "mlopsdsl._control",
    "when": "mlopsdsl._control",
    "NodeAffinity": "mlopsdsl.options",
    "Pod": "mlopsdsl.options",
    "PodAffinity": "mlopsdsl.options",
    "Resources": "mlopsdsl.options",
    "Retry": "mlopsdsl.options",
    "Schedule": "mlopsdsl.options",
    "Secret": "mlopsdsl.options",
    "Toleration": "mlopsdsl.options",
    "Volume": "mlopsdsl.options",
    "register_serializer": "mlopsdsl.runtime.serializers",
    "current": "mlopsdsl.runtime.tracking",
    "log_metric": "mlopsdsl.runtime.tracking",
    "log_metrics": "mlopsdsl.runtime.tracking",
    "runs": "mlopsdsl.runs",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlopsdsl' has no attribute {name!r}")
    from importlib import import_module

    loaded = import_module(module)
    value = loaded if module == f"mlopsdsl.{name}" else getattr(loaded, name)  # ml.runs: the module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
