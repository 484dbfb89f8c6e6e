"""The ``code`` part of each step's call spec: a by-value payload, or an import of ``module:qualname``.

By value (the default), the step's function is found in the loaded modules by the IR's ``CodeRef`` (the
pipeline was just built in this process, so it is there) and pickled with the runtime's own
:func:`mlopsdsl.runtime.payload.pickle_function`. Compiled documents must be byte-identical for the same
source, and two things in a plain cloudpickle payload are not: the tracker id cloudpickle gives a class it
pickles by value (a random ``uuid4``), and the absolute ``__file__`` of the step's module. While a payload
is made, :func:`_portable_pickling` gives classes an id derived from their import path and records paths
relative to the import root, exactly as code objects' file names are recorded. (The runtime contract
could do both itself; until it does, this is the one place that patches cloudpickle, under a lock.)
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError

__all__ = ["code_spec", "portable_path"]

_LOCK = threading.Lock()


def code_spec(step: ir.StepSpec, mode: str, function: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The call spec's ``code`` for ``step``: ``{"mode": "value", "payload": ...}`` or an import.

    ``function`` is the step's function when the caller has it; else it is found by its import path.
    """
    if mode == "import":
        if step.code.module == "__main__" or "<locals>" in step.code.qualname:
            raise CompileError(
                f"step {step.name!r} ({step.code.module}:{step.code.qualname}) cannot be shipped in import "
                "mode: it is not importable by name; use code='value'",
                "kfp",
            )
        return {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
    fn = function or _resolve(step.code)
    if fn is None:
        raise CompileError(
            f"step {step.name!r}: its function {step.code.module}:{step.code.qualname} is not loaded in this "
            "process, so it cannot be shipped by value; pass functions=pipeline.step_functions(), or use "
            "code='import' with an image that contains your package",
            "kfp",
        )
    from mlopsdsl.runtime.payload import pickle_function, python_version

    try:
        with _portable_pickling():
            payload = pickle_function(fn, portable_path)
    except CompileError:
        raise
    except Exception as exc:
        raise CompileError(
            f"step {step.name!r} cannot be pickled by value: {type(exc).__name__}: {exc} (a module-level "
            "object it uses is not picklable; create it inside the step, or use code='import')",
            "kfp",
        ) from exc
    return {"mode": "value", "python": python_version(), "payload": base64.b64encode(payload).decode()}


def _resolve(code: ir.CodeRef) -> Callable[..., Any] | None:
    obj: Any = sys.modules.get(code.module)
    for part in code.qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    fn = getattr(obj, "fn", obj)
    return fn if callable(fn) else None


def portable_path(path: str) -> str:
    """``path`` relative to the ``sys.path`` entry it was imported from, so no absolute path is recorded."""
    if not os.path.isabs(path):
        return path
    best = ""
    for entry in sys.path:
        root = os.path.abspath(entry or os.curdir)
        if path.startswith(root + os.sep) and len(root) > len(best):
            best = root
    rel = os.path.relpath(path, best) if best else os.path.basename(path)
    return rel.replace(os.sep, "/")


@contextmanager
def _portable_pickling() -> Iterator[None]:
    import cloudpickle  # type: ignore[import-untyped]

    module: Any = sys.modules[cloudpickle.Pickler.__module__]
    original_tracker = module._get_or_create_tracker_id
    original_newargs = cloudpickle.Pickler._function_getnewargs

    def tracker(class_def: type) -> str:
        name = f"{class_def.__module__}.{class_def.__qualname__}"
        return hashlib.sha256(name.encode()).hexdigest()[:32]

    def newargs(self: Any, func: Any) -> Any:
        args = original_newargs(self, func)
        base_globals = args[1]
        if isinstance(base_globals.get("__file__"), str):
            base_globals["__file__"] = portable_path(base_globals["__file__"])
        if isinstance(base_globals.get("__path__"), list):
            base_globals["__path__"] = [portable_path(p) for p in base_globals["__path__"]]
        return args

    with _LOCK:
        module._get_or_create_tracker_id = tracker
        cloudpickle.Pickler._function_getnewargs = newargs
        try:
            yield
        finally:
            module._get_or_create_tracker_id = original_tracker
            cloudpickle.Pickler._function_getnewargs = original_newargs
