"""The ``mlopsdsl`` command line.

Each command lives in its own module and registers itself on :data:`app`; heavy imports (the IR, the
backends) happen inside the commands, so ``mlopsdsl --help`` stays fast. Exit codes: 0 success, 1 a run
failed, 2 a user error (printed as ``file:line: message``, no traceback, no output file written), 3 an
internal error (printed with its traceback), 4 a cluster's API refused a request or could not be reached.

:func:`main` (the console script) imports only the module of the command it runs and builds only that
command: a cold ``mlopsdsl compile`` does not pay for the other commands' definitions. ``mlopsdsl.cli.app``,
the whole command line, registers every command when first read.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlopsdsl.cli._app import app

__all__ = ["app", "main"]

# The modules that register commands, in the order `mlopsdsl --help` lists their commands.
_MODULES = ("_commands", "_remote", "_build", "_run", "_runs")
# Which module registers each top-level command; a test checks it against the registrations.
COMMAND_MODULES = {
    "compile": "_commands",
    "validate": "_commands",
    "graph": "_commands",
    "backends": "_commands",
    "submit": "_remote",
    "publish": "_remote",
    "build": "_build",
    "run": "_run",
    "logs": "_runs",
}


def _whole() -> Any:
    for name in _MODULES:
        import_module(f"mlopsdsl.cli.{name}")
    from mlopsdsl.cli._app import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        value = _whole()
        globals()["app"] = value
        return value
    raise AttributeError(f"module 'mlopsdsl.cli' has no attribute {name!r}")


def main() -> None:
    """The console-script entry point."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    module = COMMAND_MODULES.get(name)
    if module is None:  # --help, a group (`runs`), a mistyped command: the whole command line answers
        _whole()()
        return
    import typer

    from mlopsdsl.cli import _app

    import_module(f"mlopsdsl.cli.{module}")
    # The same group as the whole app's, holding only the command asked for: its parsing, help and errors
    # are the same, as typer builds them from the same definition.
    one = typer.Typer(cls=_app.Group, **_app.SETTINGS)
    one.registered_commands = [c for c in _app.app.registered_commands if c.name == name]
    typer.main.get_group(one)()
