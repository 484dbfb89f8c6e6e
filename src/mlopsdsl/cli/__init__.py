"""The ``mlopsdsl`` command line.

Each command lives in its own module and registers itself on :data:`app`; heavy imports (the IR, the
backends) happen inside the commands, so ``mlopsdsl --help`` stays fast. Exit codes: 0 success, 1 a run
or a remote operation failed, 2 a user error (printed as ``file:line: message``, no traceback, no output
file written), 3 an internal error (printed with its traceback).
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mlopsdsl",
    help="Typed Python pipelines: run them locally, compile them for Kubeflow Pipelines or Argo Workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

from mlopsdsl.cli import _commands  # noqa: E402,F401  - registers the commands on `app`


def main() -> None:
    """The console-script entry point."""
    app()
