"""The ``code`` part of each step's call spec: a by-value payload, or an import of ``module:qualname``.

By value (the default), the step's function is found in the loaded modules by the IR's ``CodeRef`` (the
pipeline was just built in this process, so it is there) and pickled with the runtime's own
:func:`mlopsdsl.runtime.payload.pickle_function` in its ``portable`` mode, so that compiled documents are
byte-identical for the same source wherever they are compiled.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from mlopsdsl import ir
from mlopsdsl.backends import find_function
from mlopsdsl.errors import CompileError

__all__ = ["code_spec"]


def code_spec(step: ir.StepSpec, mode: str, function: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The call spec's ``code`` for ``step``: ``{"mode": "value", "payload": ...}`` or an import.

    ``function`` is the step's function when the caller has it; else it is found by its import path. A
    function that cannot be shipped is a compile error at the step's definition.
    """
    from mlopsdsl.lowering import is_builtin

    if is_builtin(step):
        return {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
    if mode == "import":
        if step.code.module == "__main__" or "<locals>" in step.code.qualname:
            raise CompileError(
                f"step {step.name!r} ({step.code.module}:{step.code.qualname}) cannot be shipped in import "
                "mode: it is not importable by name; use code='value'",
                "kfp",
                location=step.location,
            )
        return {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
    fn = function or find_function(step.code)
    if fn is None:
        raise CompileError(
            f"step {step.name!r}: its function {step.code.module}:{step.code.qualname} is not loaded in this "
            "process, so it cannot be shipped by value; pass functions=pipeline.step_functions(), or use "
            "code='import' with an image that contains your package",
            "kfp",
            location=step.location,
        )
    from mlopsdsl.runtime.payload import pickle_function, python_version

    try:
        payload = pickle_function(fn, portable=True)
    except Exception as exc:
        raise CompileError(
            f"step {step.name!r} cannot be pickled by value: {type(exc).__name__}: {exc} (a module-level "
            "object it uses is not picklable; create it inside the step, or use code='import')",
            "kfp",
            location=step.location,
        ) from exc
    return {"mode": "value", "python": python_version(), "payload": base64.b64encode(payload).decode()}
