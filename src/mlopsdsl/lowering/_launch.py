"""How a step's code and the step runtime reach a pod: the one rule every Kubernetes backend renders.

A step's function travels in its call spec (``code``): by value, a cloudpickle payload made in the
compiling process; or as an import of ``module:qualname``, for images that contain the user's package.
Built-in steps (``gather``, ``decide``) are always imported, from the runtime bundle itself. The spec goes
to the container as one argv item, which Linux limits to 128 KiB, so a payload too large for it is a
compile error at the step, not a pod that fails to start.

How the step runtime gets there is the ``runtime`` compile option of every Kubernetes backend
(:data:`RUNTIMES`, checked by :func:`runtime_problem`). ``bundle`` (the default): the runtime bundle
(:func:`mlopsdsl.runtime.bundle.bundle`) travels as base64 text, once per document: KFP writes it as an
artifact from one task, Argo and Airflow hand it to every pod in the ``MLOPSDSL_RUNTIME`` environment
variable, which :func:`launch_prologue` turns into a zip on ``sys.path`` (after installing the step's
``packages``, read from ``MLOPSDSL_PACKAGES``). ``image``: every image has mlopsdsl installed, and nothing
is shipped. Every step container runs the image's own Python with one program (:func:`launch_command`),
never a shell.

Backends keep only their rendering: where the text goes in their document, and what their launcher does
around the prologue (how their engine hands values in and out).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from functools import cache
from typing import Any

from mlopsdsl import ir
from mlopsdsl.errors import CompileError

__all__ = [
    "INTERPRETER",
    "MAX_SPEC_BYTES",
    "PACKAGES_ENV",
    "RUNTIMES",
    "RUNTIME_ENV",
    "bundle_needs_cloudpickle",
    "code_spec",
    "launch_command",
    "launch_prologue",
    "runtime_bundle_text",
    "runtime_problem",
    "stored_kind",
]

MAX_SPEC_BYTES = 100_000
"""An argv item is limited to 128 KiB by Linux; the call spec, with its payload, must fit in one."""
RUNTIME_ENV = "MLOPSDSL_RUNTIME"
"""The environment variable holding the runtime bundle as base64 text (Argo, Airflow)."""
PACKAGES_ENV = "MLOPSDSL_PACKAGES"
"""The environment variable holding a step's ``packages`` as a JSON list (Argo, Airflow)."""
RUNTIMES = ("bundle", "image")
"""The values of the ``runtime`` compile option: ``bundle`` ships the step runtime in the document (stock
images work); ``image`` ships nothing, every image having mlopsdsl installed."""
INTERPRETER = ("python", "-c")
"""How a step container starts: the image's own Python, running one program given as text."""


def launch_command(program: str) -> list[str]:
    """The container command that runs ``program`` (a launcher, or a bootstrap with its preludes)."""
    return [*INTERPRETER, program]


def stored_kind(type_: ir.TypeSpec) -> str | None:
    """``object`` or ``artifact`` for values passed through the store, else ``None``: what a call spec names.

    Whether a value is stored is the IR's one answer (:attr:`mlopsdsl.ir.TypeSpec.is_stored`); this only
    says which kind of stored value it is."""
    if not type_.is_stored:
        return None
    inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
    return inner.kind


def bundle_needs_cloudpickle(document: ir.Document, mode: str) -> bool:
    """Whether the runtime bundle must carry cloudpickle: by-value code, or a stored object anywhere."""
    types = [p.type for s in document.steps for p in s.inputs] + [
        o.type for s in document.steps for o in s.outputs
    ]
    return mode == "value" or any(stored_kind(t) == "object" for t in types)


@cache
def runtime_bundle_text(include_cloudpickle: bool) -> str:
    """The runtime bundle as base64 text (cached: it only changes with the installed mlopsdsl)."""
    from mlopsdsl.runtime.bundle import bundle

    return base64.b64encode(bundle(include_cloudpickle)).decode("ascii")


def runtime_problem(value: object) -> str | None:
    """What is wrong with ``value`` as the ``runtime`` compile option, or ``None``: one message for every
    backend."""
    if isinstance(value, str) and value in RUNTIMES:
        return None
    return f"runtime={value!r}: choose one of {', '.join(map(repr, RUNTIMES))}"


def launch_prologue(step_expression: str, runtime: str = "bundle") -> str:
    """The start of a launcher: install the step's ``packages``, then (``runtime="bundle"``) put the runtime
    bundle on ``sys.path``.

    The program it starts must have imported ``json``, ``os`` and ``sys`` and set ``work`` (the launcher's
    folder, the pod's own). ``step_expression`` is the Python expression giving the step's name
    from the launcher's argv (where the call spec sits is the backend's), so that a set pip cannot install
    ends the pod with a message naming the step, as on every backend. The bundle's zip is written whole
    before it is put on ``sys.path``, so no import ever sees part of it. With ``runtime="image"`` the
    program imports the image's mlopsdsl.
    """
    from mlopsdsl.runtime.bundle import unpacker

    packages = f"""\
packages = json.loads(os.environ.get("{PACKAGES_ENV}", "[]"))
if packages:
    import subprocess
    pip = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check"]
    if subprocess.run([*pip, "--target", work + "/site", *packages]).returncode:
        step = {step_expression}
        sys.exit(f"mlopsdsl: step {{step!r}}: packages= could not be installed: {{' '.join(packages)}}")
    sys.path.insert(0, work + "/site")
"""
    if runtime == "image":
        return packages
    return (
        packages
        + unpacker(f'os.environ["{RUNTIME_ENV}"]')
        + """\
bundle = work + "/runtime.zip"
with open(bundle, "wb") as f:
    f.write(zipped)
sys.path.insert(0, bundle)
"""
    )


def code_spec(
    step: ir.StepSpec, mode: str, function: Callable[..., Any] | None, backend: str
) -> dict[str, Any]:
    """The ``code`` part of ``step``'s call spec: a by-value payload, or an import of ``module:qualname``.

    Args:
        step: The step.
        mode: ``value`` or ``import`` (the ``code`` compile option).
        function: The step's function when the caller has it (``functions=``); else it is found in the
            loaded modules by the IR's code reference.
        backend: The backend compiling, named in errors.

    Raises:
        CompileError: The function cannot be found or pickled (by value), is too large for a container
            argument, or cannot be imported by name; at the step's definition.
    """
    from mlopsdsl.backends import find_function
    from mlopsdsl.lowering._desugar import is_builtin

    importing = {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
    if is_builtin(step):
        return importing
    where = f"step {step.name!r} ({step.code.module}:{step.code.qualname})"
    if mode == "import":
        if step.code.module == "__main__" or "<locals>" in step.code.qualname:
            raise CompileError(
                f"{where} cannot be imported by name in a container; use code='value'",
                backend,
                location=step.location,
            )
        return importing
    fn = function or find_function(step.code)
    if fn is None:
        raise CompileError(
            f"{where} is not loaded in this process, so it cannot be shipped by value; compile the "
            "pipeline object (ml.compile), pass functions={name: fn}, or use code='import' with an image "
            "that contains your package",
            backend,
            location=step.location,
        )
    from mlopsdsl.runtime.payload import pickle_function, python_version

    try:
        payload = pickle_function(fn, portable=True)
    except Exception as exc:
        raise CompileError(
            f"{where} cannot be pickled by value: {type(exc).__name__}: {exc} (a module-level object it "
            "uses is not picklable; create it inside the step, or use code='import')",
            backend,
            location=step.location,
        ) from exc
    if len(payload) * 4 // 3 > MAX_SPEC_BYTES:
        raise CompileError(
            f"{where}: its by-value payload is {len(payload) // 1024} KiB, too large for a container "
            "argument; keep large data out of module globals, or use code='import'",
            backend,
            location=step.location,
        )
    return {"mode": "value", "python": python_version(), "payload": base64.b64encode(payload).decode("ascii")}
