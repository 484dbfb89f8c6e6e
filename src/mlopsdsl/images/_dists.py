"""Installed distributions: which one provides a module, its version, and everything it requires.

The answers come from this environment's metadata (``importlib.metadata``), read once per process and only
when a step imports something that is neither the standard library nor the user's own code. Requirements
are followed with their environment markers evaluated for the image (Linux, the image's Python), not for
this machine, so a lock written on a laptop lists what ``pip`` will install in the container.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable
from dataclasses import field
from typing import TYPE_CHECKING

from mlopsdsl._dataclass import dataclass

if TYPE_CHECKING:  # loaded when a step imports a module from outside the standard library and the project
    from importlib import metadata

__all__ = ["RUNTIME_PROVIDED", "Closure", "canonical", "closure", "distributions_for", "version_of"]

RUNTIME_PROVIDED = frozenset({"mlopsdsl", "cloudpickle"})
"""Modules every pod has without an install: the step runtime bundle carries mlopsdsl's runtime, its
artifact classes and cloudpickle (or the image has mlopsdsl, with ``runtime="image"``)."""


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Scikit_Learn`` is ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _providers() -> dict[str, tuple[str, ...]]:
    from importlib import metadata

    return {k: tuple(v) for k, v in metadata.packages_distributions().items()}


@functools.cache
def _installed(name: str) -> metadata.Distribution | None:
    from importlib import metadata

    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def version_of(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None`` when it is not installed here."""
    dist = _installed(canonical(name))
    if dist is None:
        return None
    # ``dist.version`` parses the whole METADATA file with the email package (tens of milliseconds, cold,
    # for a large one); the version is one of its first header lines.
    for line in (dist.read_text("METADATA") or "").splitlines()[:20]:
        if line.startswith("Version:"):
            return line[len("Version:") :].strip()
    return dist.version


@functools.cache
def _providers_of(module: str) -> tuple[str, ...]:
    """The distributions providing top-level ``module``. Most are named after their module (numpy,
    pandas, torch): one metadata look-up, checked against the distribution's ``top_level.txt`` when it has
    one. Only the others (sklearn, yaml, PIL) read every installed distribution's file list, which costs
    hundreds of milliseconds in a large environment, once per process."""
    dist = _installed(canonical(module))
    if dist is not None:
        listed = dist.read_text("top_level.txt")
        if listed is None or module in listed.split():
            return (module,)
    return _providers().get(module, ())


def distributions_for(modules: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The installed distributions (canonical name to version) providing ``modules``, which are top-level
    module names, and the modules that no installed distribution provides (not installed here).

    The standard library and what the step runtime carries are left out.
    """
    wanted = sorted(m for m in set(modules) if m not in sys.stdlib_module_names and m not in RUNTIME_PROVIDED)
    if not wanted:
        return {}, []
    found: dict[str, str] = {}
    unknown: list[str] = []
    for module in wanted:
        names = _providers_of(module)
        if not names:
            unknown.append(module)
            continue
        for name in names:
            version = version_of(name)
            if version is not None and canonical(name) not in RUNTIME_PROVIDED:
                found[canonical(name)] = version
    return found, unknown


@dataclass
class Closure:
    """Distributions with everything they require, pinned to the versions installed here."""

    pins: dict[str, str] = field(default_factory=dict)
    """Canonical name to installed version."""
    missing: dict[str, str] = field(default_factory=dict)
    """A requirement the image needs that is not installed here (so cannot be pinned), to who needs it."""


def _environment(python: str) -> dict[str, str]:
    """Marker values for a ``python:<python>-slim`` image (Debian, CPython) on this machine's CPU."""
    import platform

    machine = platform.machine() or "x86_64"
    machine = {"arm64": "aarch64", "AMD64": "x86_64"}.get(machine, machine)
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_release": "",
        "platform_version": "",
        "implementation_version": f"{python}.0",
    }


def closure(requirements: Iterable[str], python: str, skip: frozenset[str] = RUNTIME_PROVIDED) -> Closure:
    """``requirements`` (names or pip requirement strings, with extras) and everything they require, as
    installed here, with markers evaluated for an image running Python ``python`` (``"3.11"``); ``skip``
    names distributions the image gets otherwise (the runtime bundle's, by default)."""
    from packaging.requirements import InvalidRequirement, Requirement

    env = _environment(python)
    result = Closure()
    queue: list[tuple[str, frozenset[str], str]] = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        queue.append((canonical(req.name), frozenset(req.extras), canonical(req.name)))
    done: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras, wanted_by = queue.pop()
        if (name, extras) in done or name in skip:
            continue
        done.add((name, extras))
        dist = _installed(name)
        if dist is None:
            result.missing.setdefault(name, wanted_by)
            continue
        result.pins[name] = dist.version
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not any(
                req.marker.evaluate({**env, "extra": extra}) for extra in (extras or {""})
            ):
                continue
            queue.append((canonical(req.name), frozenset(req.extras), name))
    return result
