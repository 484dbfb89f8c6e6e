"""The exceptions mlopsdsl raises, one family under a single root.

Every error a user can cause carries the place in the user's code at fault (``file:line``), taken when the
decorator, the option or the step call ran, so that the CLI and notebooks can point at it without a
traceback::

    MlopsDslError                 root: catch this to catch everything we raise on purpose
    ├── DefinitionError           a step, pipeline or option is malformed where it is written
    ├── ValidationError           a pipeline failed validation; ``.problems`` lists every problem found
    ├── CompileError              a backend refuses a valid IR, at the line at fault; ``.backend`` names it
    ├── PluginError               a backend could not be found, loaded, or is not a backend
    ├── TargetError               ``path/file.py:name`` or ``module:name`` does not name a pipeline
    ├── IRError                   an IR document cannot be read (bad JSON, another major version, bad fields)
    ├── ParameterError            a ``-p key=value`` or ``**params`` value does not fit its parameter
    ├── RunError                  running a pipeline failed (the local runner and ``--wait`` raise it)
    │   └── IntegrityError        stored bytes or a record do not match their digest or signature
    ├── BuildError                ``mlopsdsl build --push`` found no image builder, or a build failed
    └── RemoteError               a cluster's API refused a request or could not be reached
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlopsdsl._dataclass import dataclass

if TYPE_CHECKING:
    from mlopsdsl.ir import SourceLocation

__all__ = [
    "BuildError",
    "CompileError",
    "DefinitionError",
    "IRError",
    "IntegrityError",
    "Location",
    "MlopsDslError",
    "ParameterError",
    "PluginError",
    "RemoteError",
    "Problem",
    "RunError",
    "TargetError",
    "ValidationError",
]


@dataclass(frozen=True, order=True)
class Location:
    """A place in user code: the path as the user should see it, and a 1-based line number."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a pipeline. ``code`` is a stable slug (``type-mismatch``) for tools and tests."""

    location: Location | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location is not None else ""
        return f"{where}{self.message}"


class MlopsDslError(Exception):
    """Root of every error mlopsdsl raises on purpose."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class DefinitionError(MlopsDslError):
    """A step, pipeline or option is malformed where it is written."""


class ValidationError(MlopsDslError):
    """A pipeline failed validation. All problems are collected before this is raised."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=_problem_order)
        first = self.problems[0] if self.problems else None
        count = len(self.problems)
        summary = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__(summary, first.location if first else None)

    def __str__(self) -> str:
        return "\n".join([self.message + ":", *(str(p) for p in self.problems)])


def _problem_order(problem: Problem) -> tuple[str, int, str]:
    loc = problem.location
    return (loc.file if loc else "", loc.line if loc else 0, problem.message)


class CompileError(MlopsDslError):
    """A backend could not compile a pipeline that passed validation.

    Every compile error is about something the user wrote, so ``location`` is required (keyword-only, no
    default): the call of the task at fault, else the definition of its step, the ``ml.when`` block, the
    returned value, the parameter, or for compile options the root pipeline's definition. It is the IR's
    location (the path relative to the import root) until ``ml.compile`` or the CLI turns it into the path
    the user sees, as they do for validation problems. ``None`` is only for an IR document that records
    no location (one written by hand).

    ``str(error)`` is ``file:line: [backend] message``.
    """

    def __init__(self, message: str, backend: str, *, location: SourceLocation | Location | None) -> None:
        where = Location(location.file, location.line) if location is not None else None
        super().__init__(f"[{backend}] {message}", where)
        self.backend = backend


class PluginError(MlopsDslError):
    """A backend plugin could not be found or loaded, or does not implement the backend protocol."""


class TargetError(MlopsDslError):
    """A CLI target (``path/file.py[:name]`` or ``package.module[:name]``) does not name a pipeline."""


class IRError(MlopsDslError):
    """An IR document cannot be read: not JSON, another major ``ir_version``, or fields that do not fit."""


class ParameterError(MlopsDslError):
    """A pipeline parameter value does not fit the parameter's type, or names no parameter."""


class RunError(MlopsDslError):
    """Running a pipeline failed."""


class IntegrityError(RunError):
    """Stored bytes, or a record, do not match the digest or signature recorded with them, and nothing
    could be recomputed in their place. The message names the URI; nothing damaged was returned."""


class RemoteError(MlopsDslError):
    """A cluster's API refused a request (401, 404, 409...), could not be reached, or answered with
    something that is not an answer (HTML, cut-off JSON, no id of what it created).

    ``status`` is the HTTP status when there was one. The message is one line and never holds a token:
    ``secrets`` (the token) and anything shaped like a credential are replaced by ``***``, including text
    the server echoed back.
    """

    def __init__(self, message: str, status: int | None = None, secrets: tuple[str | None, ...] = ()) -> None:
        super().__init__(" ".join(redact(message, secrets).split()))
        self.status = status


class BuildError(MlopsDslError):
    """``mlopsdsl build`` could not build or push an image (no builder on PATH, or the builder failed)."""


_CREDENTIAL = (
    r"(?i)(\b(?:[a-z_-]*token|password|passwd|pwd|[a-z_-]*secret[a-z_-]*|api[_-]?key|"
    r"access[_-]?key(?:[_-]?id)?|authorization|credentials?)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic)\s+)?|\b(?:bearer|basic)\s+)"
    r"(?!\*\*\*)([^\s\"',;&<>]+)"
)


def redact(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """``text`` with each of ``secrets`` and every credential-shaped value (``Bearer X``, ``token=X``,
    ``password: X``, AWS key ids) replaced by ``***``."""
    import re

    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = re.sub(_CREDENTIAL, lambda m: m.group(1) + "***", text)
    return re.sub(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "***", text)
