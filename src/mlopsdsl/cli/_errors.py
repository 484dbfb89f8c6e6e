"""How the CLI reports failures: user errors as ``file:line: message`` and exit 2, anything else as an
internal error with its traceback and exit 3.

A command ends early with :class:`Exit`, which needs no typer: it is a ``SystemExit``, which typer's
``main`` lets through untouched (as it turns its own ``typer.Exit`` into one), typer's ``CliRunner``
reads as any exit, and the quick path (``mlopsdsl.cli.main``) passes on to the interpreter.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_USER = 2
EXIT_INTERNAL = 3
EXIT_REMOTE = 4
EXIT_BROKEN_PIPE = 141
"""As a shell reports a command killed by SIGPIPE (128 + 13)."""


class Exit(SystemExit):
    """End the command with ``code``; nothing more is printed."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)

    @property
    def exit_code(self) -> int:
        """The code, by the name ``typer.Exit`` gives it."""
        return int(self.code or 0)


def report_errors(fn: F) -> F:
    """Wrap a command so that our errors become clean messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mlopsdsl._target import UserCodeError
        from mlopsdsl.errors import MlopsDslError, RemoteError, RunError, ValidationError

        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"error: {exc.message}", file=sys.stderr)
            raise Exit(EXIT_USER) from None
        except UserCodeError as exc:
            print(f"{exc}", file=sys.stderr)
            if exc.details.strip():
                print(exc.details.rstrip(), file=sys.stderr)
            raise Exit(EXIT_USER) from None
        except RunError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise Exit(EXIT_FAILED) from None
        except RemoteError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise Exit(EXIT_REMOTE) from None
        except MlopsDslError as exc:
            print(str(exc) if exc.location else f"error: {exc}", file=sys.stderr)
            raise Exit(EXIT_USER) from None
        except BrokenPipeError:
            # The reader went away (`mlopsdsl runs list | head`): not an error of ours or the user's. Point
            # stdout at /dev/null so that the interpreter's final flush does not fail again.
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise Exit(EXIT_BROKEN_PIPE) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise Exit(130) from None
        except Exception:
            print("internal error (please report it, with this traceback):", file=sys.stderr)
            traceback.print_exc()
            raise Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
