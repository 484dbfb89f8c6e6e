"""The ``mlopsdsl`` command line.

Each command lives in its own module and registers itself on :data:`app`; heavy imports (the IR, the
backends) happen inside the commands, so ``mlopsdsl --help`` stays fast. Exit codes: 0 success, 1 a run
failed, 2 a user error (printed as ``file:line: message``, no traceback, no output file written), 3 an
internal error (printed with its traceback), 4 a cluster's API refused a request or could not be reached.
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

from mlopsdsl.cli import _commands, _remote  # noqa: E402,F401  - registers the commands on `app`


def main() -> None:
    """The console-script entry point."""
    app()


from mlopsdsl.cli import (  # noqa: E402,F401  - registers `mlopsdsl run` and `mlopsdsl runs`
    _build,
    _run,
    _runs,
)
