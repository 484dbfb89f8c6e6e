"""Loading the step's function: unpickling a by-value payload, or importing ``module:qualname``.

By-value payloads are cloudpickle pickles; loading one needs ``cloudpickle`` importable (the runtime
bundle carries a copy) and the Python minor version that wrote it, which the call spec records: bytecode
is not portable across minor versions, so a mismatch fails here, before anything runs, with advice.
Sets in a payload are written in a canonical order, as persistent ids (see :data:`SET_PIDS`), so a
payload is loaded by :func:`load_payload`, not by a bare ``pickle.loads``.
"""

from __future__ import annotations

import sys

from ._spec import CodeSpec, SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class LoadError(Exception):
    """The function could not be loaded. ``retry`` is False when trying again cannot help."""

    def __init__(self, message: str, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def python_version() -> str:
    """This interpreter's ``major.minor``, as recorded in by-value call specs."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def load_function(code: CodeSpec, step: str) -> Callable[..., Any]:
    """The step's function as ``code`` describes it."""
    if code.mode == "import":
        return _imported(code.module, code.qualname, step)
    if code.python != python_version():
        raise LoadError(
            f"step {step!r} was pickled by Python {code.python}, but this is Python {python_version()} "
            f"({sys.executable}); by-value code only loads on the same Python minor version. Run it on a "
            f"python:{code.python} image, or ship the code in import mode with an image that contains "
            "your package.",
            retry=False,
        )
    if code.file is not None:
        with open(code.file, "rb") as handle:
            data = handle.read()
    else:
        import base64

        assert code.payload is not None
        data = base64.b64decode(code.payload)
    try:
        fn = load_payload(data)
    except ModuleNotFoundError as exc:
        if exc.name == "cloudpickle":
            raise LoadError(
                f"step {step!r} is shipped by value, which needs cloudpickle in this environment "
                "(the mlopsdsl runtime bundle includes it; or pip install cloudpickle)",
                retry=False,
            ) from None
        raise LoadError(
            f"step {step!r} uses module {exc.name!r}, which is not installed here; declare it in the "
            "step's packages= or use an image that has it",
            retry=False,
        ) from None
    if not callable(fn):
        raise SpecError(f"code: the payload of step {step!r} is a {type(fn).__name__}, not a function")
    return unwrap_step(fn)


SET_PIDS = ("mlopsdsl.set", "mlopsdsl.frozenset")
"""The tags of the persistent ids a payload writes its sets as: ``(SET_PIDS[0], index, items)`` for a set
(``(SET_PIDS[0], index)`` when the same set is met again, so that a set two functions share stays one
set) and ``(SET_PIDS[1], items)`` for a frozenset, the items in a canonical order (the pickler in
``mlopsdsl.runtime._pickler`` chooses it). pickle can only write a set in its iteration order, which
depends on the hash seed of the process; persistent ids are its one hook for builtin sets."""


def load_payload(data: bytes) -> Any:
    """Unpickle a by-value payload, rebuilding the sets its pickler wrote as persistent ids."""
    import io
    import pickle

    made: dict[int, set[Any]] = {}

    def persistent_load(pid: Any) -> Any:
        if isinstance(pid, tuple) and pid[:1] == (SET_PIDS[0],) and len(pid) in (2, 3):
            # A set can be met again while its own items are still being read (a function among them
            # whose globals hold the set): that reference gets the empty set, filled when its items are.
            found = made.setdefault(pid[1], set())
            if len(pid) == 3:
                found.update(pid[2])
            return found
        if isinstance(pid, tuple) and pid[:1] == (SET_PIDS[1],) and len(pid) == 2:
            return frozenset(pid[1])
        raise pickle.UnpicklingError(f"unknown persistent id in a payload: {pid!r}")

    unpickler = pickle.Unpickler(io.BytesIO(data))
    unpickler.persistent_load = persistent_load  # type: ignore[method-assign]
    return unpickler.load()


def _imported(module: str, qualname: str, step: str) -> Callable[..., Any]:
    import importlib

    try:
        obj: Any = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise LoadError(
                f"step {step!r} is shipped by import, but module {module!r} is not importable here "
                f"(sys.path: {sys.path}); use an image that contains your package, or by-value mode",
                retry=False,
            ) from None
        raise
    for part in qualname.split("."):
        if part == "<locals>" or not hasattr(obj, part):
            raise LoadError(
                f"step {step!r}: {module}:{qualname} cannot be imported by name (functions defined inside "
                "other functions only ship by value)",
                retry=False,
            )
        obj = getattr(obj, part)
    return unwrap_step(obj)


class Shipped:
    """A by-value payload that carries, with the function, what the step's process cannot find by itself.

    The serialisers registered where it was pickled, and the field types of the dataclasses its inputs are
    rebuilt into, resolved: a class shipped by value keeps string annotations (``from __future__ import
    annotations``) that name classes which are not shipped and cannot be imported in the pod. Only made
    when there is either, so that a plain payload stays a plain function.
    """

    __slots__ = ("fields", "fn", "serializers")

    def __init__(
        self,
        fn: Callable[..., Any],
        serializers: list[Any],
        fields: list[tuple[type, dict[str, Any]]] | None = None,
    ) -> None:
        self.fn = fn
        self.serializers = serializers
        self.fields = fields or []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def _resolve_fields(fields: list[tuple[type, dict[str, Any]]]) -> None:
    """Give shipped dataclasses their resolved field types (the classes are this process's own copies)."""
    for cls, types in fields:
        declared = getattr(cls, "__dataclass_fields__", {})
        for name, type_ in types.items():
            if name in declared:
                declared[name].type = type_


def unwrap_step(obj: Any) -> Callable[..., Any]:
    """The plain function of an ``@ml.step`` object (found by name, so the authoring layer stays unloaded)."""
    if isinstance(obj, Shipped):
        from .serializers import install

        install(obj.serializers)
        _resolve_fields(getattr(obj, "fields", []))  # absent from payloads made before it existed
        obj = obj.fn
    if type(obj).__module__ == "mlopsdsl._step" and hasattr(obj, "fn"):
        return obj.fn  # type: ignore[no-any-return]
    if not callable(obj):
        raise LoadError(f"{obj!r} is not callable", retry=False)
    return obj  # type: ignore[no-any-return]
