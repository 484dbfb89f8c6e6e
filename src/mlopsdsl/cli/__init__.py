"""The ``mlopsdsl`` command line.

Each command lives in its own module and declares its parameters without typer (``_decl``); heavy imports
(the IR, the backends) happen inside the commands. Exit codes: 0 success, 1 a run failed, 2 a user error
(printed as ``file:line: message``, no traceback, no output file written), 3 an internal error (printed
with its traceback), 4 a cluster's API refused a request or could not be reached.

:func:`main` (the console script) imports only the module of the command it runs. A well-formed command
line of one of :data:`COMMAND_MODULES` is read by the quick reader (``_fast``) and the command runs without
typer being imported; anything else (``--help``, a usage error, ``mlopsdsl`` alone, the ``runs`` group, any
command line the quick reader declines) goes to typer, which is the one source of help and of every message
about a malformed command line. ``mlopsdsl.cli.app``, the whole typer command line, is built when first read.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    app: typer.Typer

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
    from mlopsdsl.cli import _app

    return _app.whole()


def __getattr__(name: str) -> Any:
    if name == "app":
        value = _whole()
        globals()["app"] = value
        return value
    raise AttributeError(f"module 'mlopsdsl.cli' has no attribute {name!r}")


def _forks(args: list[str]) -> bool:
    """Whether ``mlopsdsl run ARGS`` may run its steps on the fork executor (its default where it exists).

    Read before the command line is, so a server may be started for a command that then fails or asks for
    help: it ends with the process, unused."""
    if "--in-process" in args or "--executor=subprocess" in args or {"--help", "-h"} & set(args):
        return False
    return not any(args[i : i + 2] == ["--executor", "subprocess"] for i in range(len(args) - 1))


def main() -> None:
    """The console-script entry point."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    module = COMMAND_MODULES.get(name)
    if name == "run" and _forks(sys.argv[2:]):
        from mlopsdsl.local._prestart import prestart

        prestart()  # first: its ~70 ms start overlaps everything up to the run's first step
    if module is None:  # --help, a group (`runs`), a mistyped command: the whole command line answers
        _whole()()
        return
    from mlopsdsl.cli import _decl, _fast

    import_module(f"mlopsdsl.cli.{module}")
    command = _decl.COMMANDS[None, name]
    kwargs = _fast.read(command.function, sys.argv[2:], os.environ)
    if kwargs is None:
        from mlopsdsl.cli import _app

        _app.one(command)()
        return
    try:
        command.function(**kwargs)
    except KeyboardInterrupt:  # as typer's main: report_errors catches one that comes while the command runs
        raise SystemExit(130) from None
    raise SystemExit(0)  # as typer's main ends a command that returned
