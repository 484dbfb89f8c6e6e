"""Backends: what turns the IR into something that runs, found through entry points.

A backend is any object with the small :class:`Backend` protocol. Installed distributions register
backends under the entry-point group ``mlopsdsl.backends``; a backend module is imported only when it is
chosen, so core never imports a compiler and ``mlopsdsl --help`` stays fast. Passing a backend object
instead of a name works everywhere a name does, which keeps tests and experiments simple.

Optional abilities are separate protocols (:class:`Validates`, :class:`Submits`, :class:`Publishes`); a
backend has them when it has the methods. The CLI's ``submit`` and ``publish`` hand every backend the same
:class:`RemoteOptions`; a backend uses what applies to it and says clearly what it is missing.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mlopsdsl._dataclass import dataclass
from mlopsdsl._plugins import EntryPoint as _EntryPoint
from mlopsdsl._plugins import declared
from mlopsdsl.errors import PluginError

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl.backends._remote import PublishResult, RemoteOptions, RunView, SubmitResult, TaskView
    from mlopsdsl.errors import Problem

GROUP = "mlopsdsl.backends"

_REMOTE = ("PublishResult", "RemoteOptions", "RunView", "SubmitResult", "TaskView")
"""Read from :mod:`mlopsdsl.backends._remote` when first asked for: only the remote commands use them."""


def __getattr__(name: str) -> Any:
    if name in _REMOTE:
        from mlopsdsl.backends import _remote

        value = getattr(_remote, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlopsdsl.backends' has no attribute {name!r}")


__all__ = [
    "GROUP",
    "Backend",
    "BackendInfo",
    "Emulates",
    "Inspects",
    "PublishResult",
    "Publishes",
    "RemoteOptions",
    "RunView",
    "SubmitResult",
    "Submits",
    "TaskView",
    "Validates",
    "available",
    "check_capabilities",
    "check_images",
    "compile_document",
    "find_function",
    "load",
]


@runtime_checkable
class Backend(Protocol):
    """What every backend does: compile a validated IR document to text."""

    name: str
    """The name users choose it by (``kfp``, ``argo``)."""
    file_suffix: str
    """The suffix of the file it writes (``.yaml``, ``.json``)."""

    def compile(self, document: ir.Document, **options: Any) -> str:
        """The compiled document, deterministic for the same IR.

        ``options`` are backend-specific (Argo's ``kind="cron"``, say); a backend raises
        :class:`~mlopsdsl.errors.CompileError` for one it does not know, located at the root pipeline's
        definition (every ``CompileError`` names the user's line at fault). ``ml.compile`` and the CLI always
        pass ``functions``: the step functions by step name (``Pipeline.step_functions()``), for backends
        that ship code by value; a backend that does not need them ignores them.
        """
        ...


@runtime_checkable
class Validates(Protocol):
    """A backend that checks its own compiled output (``mlopsdsl validate --backend NAME``)."""

    def validate_compiled(self, text: str) -> list[Problem]:
        """Every problem found in a compiled document."""
        ...


@runtime_checkable
class Emulates(Protocol):
    """A backend that can run its own compiled documents on this machine, for tests
    (``mlopsdsl.testing.emulate``). The emulator lives with the compiler and shares its constants."""

    def emulate(self, text: str, params: dict[str, Any], *, workdir: Any, **options: Any) -> Any:
        """Run ``text`` with ``params``; an :class:`mlopsdsl.testing.EmulatedRun`."""
        ...


@runtime_checkable
class Submits(Protocol):
    """A backend that starts runs on a cluster (``mlopsdsl submit``)."""

    def submit(self, document: ir.Document, options: RemoteOptions) -> SubmitResult:
        """Create a run; with ``options.wait``, follow it to the end.

        Raises:
            RemoteError: The server refused or could not be reached; the message says which, plainly.
        """
        ...


@runtime_checkable
class Publishes(Protocol):
    """A backend that keeps named, versioned pipelines on a cluster (``mlopsdsl publish``)."""

    def publish(self, document: ir.Document, options: RemoteOptions) -> PublishResult:
        """Create or update the pipeline; unchanged content changes nothing and says so."""
        ...


@runtime_checkable
class Inspects(Protocol):
    """A backend that reads runs back from a cluster (``mlopsdsl runs show --backend``, ``mlopsdsl logs``)."""

    def inspect(self, run_id: str, options: RemoteOptions) -> RunView:
        """The run's status and task tree, through the engine's official client.

        Raises:
            RemoteError: The server refused, could not be reached, or has no such run.
        """
        ...

    def logs(self, run_id: str, task: str, options: RemoteOptions) -> list[str]:
        """The log lines of a task's pods, where the engine's API offers them.

        Raises:
            RemoteError: As for :meth:`inspect`, or the engine keeps no logs behind its API.
        """
        ...


@dataclass(frozen=True)
class BackendInfo:
    """A backend as installed: its name, where it points, and the distribution that provides it."""

    name: str
    target: str
    distribution: str | None
    version: str | None


@functools.cache
def _entry_points() -> dict[str, _EntryPoint]:
    # What is installed does not change while a process runs: read it once.
    found: dict[str, _EntryPoint] = {}
    for ep in _scan():
        found.setdefault(ep.name, ep)
    return found


def _scan() -> list[_EntryPoint]:
    """Every ``mlopsdsl.backends`` entry point (:func:`mlopsdsl._plugins.declared`)."""
    return declared(GROUP)


def available() -> list[BackendInfo]:
    """Every installed backend, sorted by name."""
    out = []
    for name, ep in sorted(_entry_points().items()):
        out.append(BackendInfo(name, ep.value, ep.distribution, ep.version))
    return out


def load(backend: str | Backend) -> Backend:
    """The backend called ``backend``, or ``backend`` itself when it is already a backend object."""
    if not isinstance(backend, str):
        if not isinstance(backend, Backend):
            raise PluginError(
                f"{backend!r} is not a backend: it needs name, file_suffix and compile(document)"
            )
        return backend
    eps = _entry_points()
    if backend not in eps:
        known = ", ".join(sorted(eps)) or "none"
        hint = {"kfp": " (pip install mlopsdsl-kfp)", "argo": " (pip install mlopsdsl-argo)"}.get(backend, "")
        raise PluginError(f"no backend named {backend!r}{hint}; installed backends: {known}")
    ep = eps[backend]
    try:
        factory = ep.load()
    except Exception as exc:
        raise PluginError(
            f"backend {backend!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        obj = factory if isinstance(factory, Backend) and not isinstance(factory, type) else factory()
    except Exception as exc:
        raise PluginError(
            f"backend {backend!r} ({ep.value}) failed to start: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(obj, Backend):
        raise PluginError(
            f"entry point {backend!r} ({ep.value}) is not a backend: it needs name, file_suffix and compile()"
        )
    return obj


def find_function(code: ir.CodeRef) -> Callable[..., Any] | None:
    """The step function a ``CodeRef`` names, among the modules loaded in this process (unwrapped from
    its ``@ml.step``), or ``None``. For backends shipping code by value when they were not handed
    ``functions``; a function defined inside another function cannot be found this way."""
    obj: Any = sys.modules.get(code.module)
    for part in code.qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    fn = getattr(obj, "fn", obj)
    return fn if callable(fn) else None


def compile_document(
    backend: Backend,
    document: ir.Document,
    locate: Callable[[ir.SourceLocation | None], Any] | None = None,
    *,
    notes: list[str] | None = None,
    **options: Any,
) -> str:
    """``backend.compile(document, **options)``, after checking that the backend can run everything the
    document uses (:mod:`mlopsdsl.lowering`) and, for a backend that runs steps in images, that each step's
    image has what its code imports (:mod:`mlopsdsl.images`).

    Every compile and ``validate --backend`` goes through here, so a construct a backend cannot run, or an
    image that lacks a step's libraries, is reported the same way everywhere: at the user's line, before
    anything is written.

    A backend runs steps in images unless it says otherwise (``images = False``, as the IR backend does);
    for those, the options ``image`` and ``code`` are read as KFP and Argo define them, and the option
    ``image_repo`` (``REGISTRY/NAME``) is taken out and makes every step that sets no image run on the
    image ``mlopsdsl build`` makes for it.

    Args:
        backend: The backend.
        document: The validated IR.
        locate: Turns IR locations into the ones errors show (``Pipeline.locate``).
        notes: When given, what the image check could not verify is appended to it, as text.
        **options: The backend's compile options.

    Raises:
        ValidationError: The backend lacks a capability the document needs, or a step's image lacks what
            it needs; every problem is listed.
    """
    from mlopsdsl._gc import paused

    with paused():
        check_capabilities(backend, document, locate)
        if getattr(backend, "images", True):
            document = check_images(document, options, locate, notes)
        return backend.compile(document, **options)


def check_images(
    document: ir.Document,
    options: dict[str, Any],
    locate: Callable[[ir.SourceLocation | None], Any] | None = None,
    notes: list[str] | None = None,
) -> ir.Document:
    """The document with the images of ``options["image_repo"]`` in place (the option is taken out of
    ``options``), after checking every step's image (:func:`mlopsdsl.images.check`).

    Raises:
        ValidationError: Every step whose image lacks what it needs, at the step's line.
    """
    from mlopsdsl import images
    from mlopsdsl.errors import Location, Problem, ValidationError

    def where(location: ir.SourceLocation | None) -> Any:
        if locate is not None:
            return locate(location)
        return Location(location.file, location.line) if location is not None else None

    functions = options.get("functions") or {}
    code = options.get("code", "value")
    image = options.get("image")
    repo = options.pop("image_repo", None)
    needs = images.needs_of(document, functions)
    built = images.plan(document, functions, repo, code, needs) if repo else None
    problems, found = images.check(
        document,
        functions,
        image=image if isinstance(image, str) else None,
        code=code,
        built=built,
        needs=needs,
    )
    if problems:
        raise ValidationError([Problem(where(p.location), p.code, p.message) for p in problems])
    if notes is not None:
        notes.extend(f"{where(at)}: {text}" if at is not None else text for at, text in found)
    return images.with_images(document, built) if built is not None else document


def check_capabilities(
    backend: Backend,
    document: ir.Document,
    locate: Callable[[ir.SourceLocation | None], Any] | None = None,
) -> None:
    """Raise :class:`~mlopsdsl.errors.ValidationError` listing, at the user's lines, every construct of
    ``document`` that ``backend`` declares it cannot run (see :mod:`mlopsdsl.lowering`)."""
    from mlopsdsl import lowering
    from mlopsdsl.errors import Location, Problem, ValidationError

    def where(location: ir.SourceLocation | None) -> Any:
        if locate is not None:
            return locate(location)
        return Location(location.file, location.line) if location is not None else None

    gaps = lowering.gaps(document, backend)
    if gaps:
        raise ValidationError([Problem(where(g.location), g.code, g.message) for g in gaps])
