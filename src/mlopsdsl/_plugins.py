"""Entry points, found without reading every installed distribution's metadata.

``importlib.metadata.entry_points()`` parses the metadata of every distribution on ``sys.path`` (~10 ms in a
large environment), and pydantic does the same the first time it builds a model, to look for its plugins.
Both only need the few distributions that declare an entry point of one group, so :func:`declared` finds
the distributions as :mod:`importlib.metadata` does (each ``*.dist-info``/``*.egg-info`` folder on
``sys.path``, the first of a name winning), reads only their ``entry_points.txt``, and the name and version
headers of the few that declare the group. Where it cannot look (a zip file on ``sys.path``), it asks
:mod:`importlib.metadata`. One pass serves every group, once per process.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

from mlopsdsl._dataclass import dataclass

__all__ = ["EntryPoint", "declared", "skip_pydantic_plugin_scan"]


@dataclass(frozen=True)
class EntryPoint:
    """One entry point and the distribution that declares it."""

    name: str
    value: str
    distribution: str | None
    version: str | None
    group: str = ""

    def load(self) -> Any:
        """The object the entry point names (``module:attr.path``; extras in brackets are ignored), read as
        :meth:`importlib.metadata.EntryPoint.load` reads it, without importing :mod:`importlib.metadata`
        (~15 ms of a cold command)."""
        from importlib import import_module

        target = self.value.split("[", 1)[0]
        module, _, attrs = (part.strip() for part in target.partition(":"))
        found = import_module(module)
        for attr in filter(None, attrs.split(".")):
            found = getattr(found, attr)
        return found


def declared(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, in the order :mod:`importlib.metadata` finds them."""
    if _zipped() or not (group == "pydantic" or group.startswith("mlopsdsl.")):  # not what _all() keeps
        return _from_metadata(group)
    return [ep for ep in _all() if ep.group == group]


def _zipped() -> bool:
    return any(os.path.isfile(entry) for entry in sys.path if entry)


def _from_metadata(group: str) -> list[EntryPoint]:
    """The reference: what :mod:`importlib.metadata` finds (used where :func:`_all` cannot look)."""
    from importlib import metadata

    found = []
    for ep in metadata.entry_points(group=group):
        name, version = (ep.dist.name, ep.dist.version) if ep.dist else (None, None)
        found.append(EntryPoint(ep.name, ep.value, name, version, group))
    return found


@functools.cache
def _all() -> tuple[EntryPoint, ...]:
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for folder in names:
            stem, dot, kind = folder.rpartition(".")
            if not dot or kind not in ("dist-info", "egg-info"):
                continue
            key = stem.split("-", 1)[0].lower().replace("-", "_").replace(".", "_")
            if key in seen:
                continue
            seen.add(key)
            base = os.path.join(entry or ".", folder)
            try:
                with open(os.path.join(base, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            if "[mlopsdsl." in text or "[pydantic]" in text:  # the groups anyone asks us for
                found.extend(_parse(text, base, kind))
    return tuple(found)


def _parse(text: str, base: str, kind: str) -> list[EntryPoint]:
    """The ``name = value`` lines of an ``entry_points.txt``, with their section and distribution."""
    name, version = _name_and_version(base, kind)
    found: list[EntryPoint] = []
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif "=" in line:
            key, _, value = line.partition("=")
            found.append(EntryPoint(key.strip(), value.strip(), name, version, group))
    return found


def _name_and_version(base: str, kind: str) -> tuple[str | None, str | None]:
    """The ``Name`` and ``Version`` headers of a distribution's metadata file."""
    fields: dict[str, str] = {}
    try:
        headers = os.path.join(base, "METADATA" if kind == "dist-info" else "PKG-INFO")
        with open(headers, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # the headers end at the first blank line
                key, sep, value = line.partition(":")
                if sep and key in ("Name", "Version"):
                    fields.setdefault(key, value.strip())
    except OSError:
        pass
    return fields.get("Name"), fields.get("Version")


def skip_pydantic_plugin_scan() -> None:
    """Spare pydantic its own scan for plugins when no installed distribution declares one.

    Pydantic looks for plugins (entry point group ``pydantic``) the first time it builds a model, reading
    every distribution's metadata, and keeps what it found for the rest of the process. When
    :func:`declared` finds none, that answer is given to pydantic ahead of time: the same empty set of
    plugins, without the scan. When any is declared, or plugins are switched off or on by
    ``PYDANTIC_DISABLE_PLUGINS``, or pydantic has already looked, pydantic is left to do it its own way.
    """
    if "PYDANTIC_DISABLE_PLUGINS" in os.environ or _zipped() or declared("pydantic"):
        return
    try:
        from pydantic.plugin import _loader
    except ImportError:  # pragma: no cover - a pydantic without plugins
        return
    if getattr(_loader, "_plugins", False) is None and not getattr(_loader, "_loading_plugins", True):
        _loader._plugins = {}
