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

Only the authoring layer is imported up front; the IR (pydantic), the backends and the CLI load when first
used, so that ``import mlopsdsl`` stays cheap inside every step's container.
"""

import typing as _typing

from mlopsdsl._pipeline import Pipeline, pipeline
from mlopsdsl._step import Step, step
from mlopsdsl.artifacts import Artifact, Dataset, Model
from mlopsdsl.errors import (
    CompileError,
    DefinitionError,
    MlopsDslError,
    ParameterError,
    PluginError,
    RunError,
    TargetError,
    ValidationError,
)

if _typing.TYPE_CHECKING:
    from mlopsdsl._compile import compile
    from mlopsdsl.ir import Resources, Retry, Secret, Toleration, Volume

__version__ = "0.1.0"

__all__ = [
    "Artifact",
    "CompileError",
    "Dataset",
    "DefinitionError",
    "MlopsDslError",
    "Model",
    "ParameterError",
    "Pipeline",
    "PluginError",
    "Resources",
    "Retry",
    "RunError",
    "Secret",
    "Step",
    "TargetError",
    "Toleration",
    "ValidationError",
    "Volume",
    "__version__",
    "compile",
    "pipeline",
    "step",
]

_LAZY = {
    "compile": "mlopsdsl._compile",
    "Resources": "mlopsdsl.ir",
    "Retry": "mlopsdsl.ir",
    "Secret": "mlopsdsl.ir",
    "Toleration": "mlopsdsl.ir",
    "Volume": "mlopsdsl.ir",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlopsdsl' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
