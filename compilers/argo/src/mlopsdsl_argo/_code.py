"""How a step's code and the step runtime reach a stock Python image: once per document.

The runtime bundle (:func:`mlopsdsl.runtime.bundle.bundle`, tens of kilobytes) is base64 text in a single
workflow parameter, ``mlopsdsl-runtime``, that every step container reads through one environment
variable; so it appears in the manifest once, whatever the number of steps, and not in each node's status
(node inputs would copy it per task). A by-value step's cloudpickle payload is inlined in its template's
call spec, once per distinct step. In import mode the spec names ``module:qualname`` instead, for images
that contain the user's package.

The compiler reads the IR, and the IR names each step's function by module and qualified name; the payload
is made from that function as loaded in the compiling process (or from ``functions=``, for functions that
cannot be found by name).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from mlopsdsl import ir
from mlopsdsl.backends import find_function
from mlopsdsl.errors import CompileError

__all__ = ["RUNTIME_PARAMETER", "code_spec", "runtime_bundle"]

RUNTIME_PARAMETER = "mlopsdsl-runtime"
"""The workflow parameter holding the runtime bundle; its ``-`` keeps it apart from Python names."""
BACKEND = "argo"
MAX_SPEC_BYTES = 100_000
"""An argv item is limited to 128 KiB by Linux; the call spec, with its payload, must fit in one."""


@cache
def runtime_bundle(include_cloudpickle: bool) -> str:
    """The runtime bundle as base64 text (cached: it only changes with the installed mlopsdsl)."""
    from mlopsdsl.runtime.bundle import bundle

    return base64.b64encode(bundle(include_cloudpickle)).decode("ascii")


def code_spec(step: ir.StepSpec, mode: str, functions: Mapping[str, Callable[..., Any]]) -> dict[str, Any]:
    """The ``code`` part of the step's call spec.

    Raises:
        CompileError: The function cannot be found or pickled (by value), or cannot be imported by name;
            at the step's definition.
    """
    from mlopsdsl.lowering import function_name, is_builtin

    where = f"step {step.name!r} ({step.code.module}:{step.code.qualname})"
    if is_builtin(step):
        return {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
    if mode == "import":
        if step.code.module == "__main__" or "<locals>" in step.code.qualname:
            raise CompileError(
                f"{where} cannot be imported by name in a container; use code='value'",
                BACKEND,
                location=step.location,
            )
        return {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
    fn = functions.get(function_name(step)) or find_function(step.code)
    if fn is None:
        raise CompileError(
            f"{where} is not loaded in this process, so it cannot be shipped by value; compile the "
            "pipeline object (ml.compile), pass functions={name: fn}, or use code='import' with an image "
            "that contains your package",
            BACKEND,
            location=step.location,
        )
    from mlopsdsl.runtime.payload import pickle_function, python_version

    try:
        payload = pickle_function(fn, portable=True)
    except Exception as exc:
        raise CompileError(
            f"{where} cannot be pickled by value: {type(exc).__name__}: {exc} (a module-level object it "
            "uses is not picklable; create it inside the step, or use code='import')",
            BACKEND,
            location=step.location,
        ) from exc
    if len(payload) * 4 // 3 > MAX_SPEC_BYTES:
        raise CompileError(
            f"{where}: its by-value payload is {len(payload) // 1024} KiB, too large for a container "
            "argument; keep large data out of module globals, or use code='import'",
            BACKEND,
            location=step.location,
        )
    return {
        "mode": "value",
        "python": python_version(),
        "payload": base64.b64encode(payload).decode("ascii"),
    }
