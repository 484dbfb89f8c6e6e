"""Backends: what turns the IR into something that runs, found through entry points.

A backend is any object with the small :class:`Backend` protocol. Installed distributions register
backends under the entry-point group ``mlopsdsl.backends``; a backend module is imported only when it is
chosen, so core never imports a compiler and ``mlopsdsl --help`` stays fast. Passing a backend object
instead of a name works everywhere a name does, which keeps tests and experiments simple.

Optional abilities are separate protocols (:class:`Validates`); a backend has them when it has the methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mlopsdsl.errors import PluginError

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl.errors import Problem

GROUP = "mlopsdsl.backends"

__all__ = ["GROUP", "Backend", "BackendInfo", "Validates", "available", "load"]


@runtime_checkable
class Backend(Protocol):
    """What every backend does: compile a validated IR document to text."""

    name: str
    """The name users choose it by (``kfp``, ``argo``)."""
    file_suffix: str
    """The suffix of the file it writes (``.yaml``, ``.json``)."""

    def compile(self, document: ir.Document) -> str:
        """The compiled document, deterministic for the same IR."""
        ...


@runtime_checkable
class Validates(Protocol):
    """A backend that checks its own compiled output (``mlopsdsl validate --backend NAME``)."""

    def validate_compiled(self, text: str) -> list[Problem]:
        """Every problem found in a compiled document."""
        ...


@dataclass(frozen=True)
class BackendInfo:
    """A backend as installed: its name, where it points, and the distribution that provides it."""

    name: str
    target: str
    distribution: str | None
    version: str | None


def _entry_points() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def available() -> list[BackendInfo]:
    """Every installed backend, sorted by name."""
    out = []
    for name, ep in sorted(_entry_points().items()):
        dist = ep.dist
        out.append(BackendInfo(name, ep.value, dist.name if dist else None, dist.version if dist else None))
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
