"""The generated protobuf modules of the KFP schema, loaded without running ``kfp/__init__``.

``kfp.pipeline_spec.pipeline_spec_pb2`` (from kfp-pipeline-spec) and
``kfp.kubernetes.kubernetes_executor_config_pb2`` (from kfp-kubernetes) live inside the ``kfp`` package,
so an ordinary import first runs ``kfp/__init__``, which imports ``kfp.client`` and with it the whole
Kubernetes client: about 0.6 s before the first message is built, for a compile that talks to no cluster.
The generated modules themselves need only ``google.protobuf`` (and, for the Kubernetes one, the
pipeline spec module). So they are executed straight from their files, under their own names in
:data:`sys.modules`, with their ``from kfp.… import …_pb2`` lines answered by this loader: a later
``import kfp`` (``submit``, tests, a user's own code) finds the same module objects there, the descriptor
pool holds each file once, and messages built here are the very classes kfp uses.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import os
import sys
import threading
from types import ModuleType, SimpleNamespace
from typing import Any

__all__ = ["kubernetes_config", "pipeline_spec"]

PIPELINE_SPEC = "kfp.pipeline_spec.pipeline_spec_pb2"
KUBERNETES_CONFIG = "kfp.kubernetes.kubernetes_executor_config_pb2"

_lock = threading.RLock()  # re-entered: a module's own imports come back through load()


def pipeline_spec() -> ModuleType:
    """``kfp.pipeline_spec.pipeline_spec_pb2``: ``PipelineSpec``, ``PlatformSpec`` and their parts."""
    return load(PIPELINE_SPEC)


def kubernetes_config() -> ModuleType:
    """``kfp.kubernetes.kubernetes_executor_config_pb2``: ``KubernetesExecutorConfig``."""
    return load(KUBERNETES_CONFIG)


def load(name: str) -> ModuleType:
    """The module ``name`` (a ``kfp.…_pb2`` module), without importing the packages above it.

    Falls back to an ordinary import when its package is already imported or its file is not a plain
    ``.py`` on ``sys.path`` (a zip, a frozen build): correct either way, only slower.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    with _lock:
        module = sys.modules.get(name)
        if module is not None:
            return module
        parent = name.rpartition(".")[0]
        path = None if parent in sys.modules else _file_of(name)
        if path is None:
            return importlib.import_module(name)
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
            return importlib.import_module(name)
        module = importlib.util.module_from_spec(spec)
        module.__dict__["__builtins__"] = {**builtins.__dict__, "__import__": _import}
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module


def _file_of(name: str) -> str | None:
    """The first ``name``'s ``.py`` file along ``sys.path``, where ``import`` would find the package."""
    relative = os.path.join(*name.split(".")) + ".py"
    package_init = os.path.join(name.split(".")[0], "__init__.py")
    for entry in sys.path:
        root = entry or os.getcwd()
        if not os.path.isfile(os.path.join(root, package_init)):
            continue
        candidate = os.path.join(root, relative)
        return candidate if os.path.isfile(candidate) else None
    return None


def _import(
    name: str,
    globals: Any = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    """``__import__`` for a generated module's own imports: ``from kfp.<package> import <module>_pb2``
    comes from :func:`load` (so ``kfp/__init__`` stays unrun); everything else is an ordinary import."""
    generated = bool(fromlist) and all(leaf.endswith("_pb2") for leaf in fromlist)
    if level == 0 and generated and name.startswith("kfp."):
        return SimpleNamespace(**{leaf: load(f"{name}.{leaf}") for leaf in fromlist})
    return builtins.__import__(name, globals, locals, fromlist, level)
