"""Shared fixtures: writing user modules to a temporary folder and importing them as a user would."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """Write source to ``tmp_path/<name>.py`` and import it as module ``<name>``, as a user's file."""
    monkeypatch.syspath_prepend(str(tmp_path))
    # Rewritten within one second at the same size, a cached .pyc would look fresh.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    written: list[str] = []

    def make(source: str, name: str = "userpipe") -> ModuleType:
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        written.append(name)
        return importlib.import_module(name)

    yield make
    for name in written:
        sys.modules.pop(name, None)
