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
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

from mlopsdsl import ir
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


def _resolve(code: ir.CodeRef) -> Callable[..., Any] | None:
    obj: Any = sys.modules.get(code.module)
    for part in code.qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    fn = getattr(obj, "fn", obj)
    return fn if callable(fn) else None


def _portable(filename: str) -> str:
    """A source file name relative to the ``sys.path`` entry it was imported from, for tracebacks."""
    if not os.path.isabs(filename):
        return filename
    best = ""
    for entry in sys.path:
        root = os.path.abspath(entry or os.getcwd())
        if filename.startswith(root + os.sep) and len(root) > len(best):
            best = root
    return os.path.relpath(filename, best).replace(os.sep, "/") if best else os.path.basename(filename)


@contextmanager
def _portable_module_files(fn: Callable[..., Any]) -> Iterator[None]:
    """Give the user's modules portable ``__file__`` values while ``fn`` is pickled.

    cloudpickle stores a by-value function's module ``__file__`` with it; an absolute path would make the
    compiled document depend on where the project is checked out. (``pickle_function`` maps code objects'
    file names but not this one; see docs/argo.md.)
    """
    from mlopsdsl.runtime.payload import user_modules

    names = {getattr(fn, "__module__", None) or "__main__", *user_modules(fn)}
    saved: list[tuple[Any, str]] = []
    try:
        for name in sorted(names):
            module = sys.modules.get(name)
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str) and os.path.isabs(filename):
                saved.append((module, filename))
                module.__file__ = _portable(filename)  # type: ignore[union-attr]
        _stable_class_ids(sorted(names))
        yield
    finally:
        for module, filename in saved:
            module.__file__ = filename


def _stable_class_ids(modules: list[str]) -> None:
    """Give the user's classes tracker ids derived from their names, not random ones.

    cloudpickle tags each class it pickles by value with ``uuid4().hex`` (so that unpickling twice in one
    process gives one class); a random tag would make every compilation differ. Classes defined inside
    functions are not reachable here and keep random tags.
    """
    import hashlib

    import cloudpickle  # type: ignore[import-untyped]

    impl = cloudpickle.cloudpickle
    with impl._DYNAMIC_CLASS_TRACKER_LOCK:
        for name in modules:
            module = sys.modules.get(name)
            for value in list(vars(module).values()) if module is not None else []:
                if isinstance(value, type) and value.__module__ == name:
                    tag = hashlib.sha256(f"{name}:{value.__qualname__}".encode()).hexdigest()[:32]
                    impl._DYNAMIC_CLASS_TRACKER_BY_CLASS[value] = tag
                    impl._DYNAMIC_CLASS_TRACKER_BY_ID[tag] = value


def code_spec(step: ir.StepSpec, mode: str, functions: Mapping[str, Callable[..., Any]]) -> dict[str, Any]:
    """The ``code`` part of the step's call spec.

    Raises:
        CompileError: The function cannot be found or pickled (by value), or cannot be imported by name.
    """
    where = f"step {step.name!r} ({step.code.module}:{step.code.qualname})"
    if mode == "import":
        if step.code.module == "__main__" or "<locals>" in step.code.qualname:
            raise CompileError(
                f"{where} cannot be imported by name in a container; use code='value'", BACKEND
            )
        return {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
    fn = functions.get(step.name) or _resolve(step.code)
    if fn is None:
        raise CompileError(
            f"{where} is not loaded in this process, so it cannot be shipped by value; compile the "
            "pipeline object (ml.compile), pass functions={name: fn}, or use code='import' with an image "
            "that contains your package",
            BACKEND,
        )
    from mlopsdsl.runtime.payload import pickle_function, python_version

    try:
        with _portable_module_files(fn):
            payload = pickle_function(fn, filename=_portable)
    except Exception as exc:
        raise CompileError(
            f"{where} cannot be pickled by value: {type(exc).__name__}: {exc} (a module-level object it "
            "uses is not picklable; create it inside the step, or use code='import')",
            BACKEND,
        ) from exc
    if len(payload) * 4 // 3 > MAX_SPEC_BYTES:
        raise CompileError(
            f"{where}: its by-value payload is {len(payload) // 1024} KiB, too large for a container "
            "argument; keep large data out of module globals, or use code='import'",
            BACKEND,
        )
    return {
        "mode": "value",
        "python": python_version(),
        "payload": base64.b64encode(payload).decode("ascii"),
    }
