"""Secrets on this machine: each step gets the values of the ``ml.Secret`` keys it declares, and no others.

On a cluster a step's pod holds only the secret keys the step names (``secretKeyRef``). The local runner
keeps that promise: a value is looked up, by reference (``NAME.KEY`` of the secret), in what the user gave
``--secret NAME.KEY=VALUE`` (``ml.run(secrets={"NAME.KEY": VALUE})``), then in a ``.env`` file (a line
``NAME.KEY=VALUE``, or ``ENV=VALUE`` with the variable the step reads), then in the runner's own
environment (the variable the step reads). A step's process starts from a clean environment: what Python,
locale and the artifact store need (:func:`mlopsdsl.local._prestart.clean_environment`), the step's
``env``, and its own secrets; ``clean_env=False`` (``--inherit-env``) passes the runner's whole
environment instead.

Values live in memory only: never in a call spec, a record, a log line of ours or an error message. A
declared secret with no value anywhere stops the run before any step starts, naming the step's line and
where the value may come from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mlopsdsl.errors import Location, ParameterError

if TYPE_CHECKING:
    from mlopsdsl import ir

__all__ = ["read_env_file", "step_secrets"]

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*(.*?)\s*$")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (``export`` and quotes allowed, ``#`` comments skipped).

    Raises:
        ParameterError: A line is neither blank, a comment nor ``KEY=VALUE`` (named by line number, never
            by its text, which may hold a value).
    """
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ParameterError(f"{path}:{number}: not a KEY=VALUE line")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def step_secrets(
    document: ir.Document,
    given: Mapping[str, str],
    env_file: Path | None,
    environ: Mapping[str, str],
    locate: object = None,
) -> dict[str, dict[str, str]]:
    """The secret environment variables of each step that declares some: step name -> {ENV: value}.

    Args:
        document: The run's document.
        given: Values by reference, ``NAME.KEY`` -> value (``--secret``).
        env_file: A ``.env`` file to read, or ``None``.
        environ: The runner's environment.
        locate: Turns an IR location into the user's (``Pipeline.locate``).

    Raises:
        ParameterError: A declared secret has no value, or ``given`` names no declared secret.
    """
    from_file = read_env_file(env_file) if env_file is not None else {}
    declared = {f"{s.name}.{s.key}" for step in document.steps for s in step.options.secrets}
    unknown = sorted(set(given) - declared)
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise ParameterError(f"--secret {', '.join(unknown)}: no step declares it (declared: {names})")
    found: dict[str, dict[str, str]] = {}
    missing: list[str] = []
    for step in document.steps:
        for secret in step.options.secrets:
            reference = f"{secret.name}.{secret.key}"
            for source in (given, from_file):
                if reference in source:
                    value: str | None = source[reference]
                    break
            else:
                value = from_file.get(secret.env, environ.get(secret.env))
            if value is None:
                where = _where(step.location, locate)
                missing.append(
                    f"{where}step {step.name!r} declares secret {reference} (env {secret.env}), which has no "
                    f"value here: give --secret {reference}=..., a line {secret.env}=... in .env, or set "
                    f"{secret.env}"
                )
                continue
            found.setdefault(step.name, {})[secret.env] = value
    if missing:
        raise ParameterError("\n".join(missing))
    return found


def _where(location: ir.SourceLocation | None, locate: object) -> str:
    if location is None:
        return ""
    shown = locate(location) if callable(locate) else Location(location.file, location.line)
    return f"{shown}: " if shown is not None else ""


def default_env_file(given: str | os.PathLike[str] | None) -> Path | None:
    """The ``.env`` file to read: the one given (which must exist), else ``./.env`` when there is one."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise ParameterError(f"env file {path} does not exist")
        return path
    path = Path(".env")
    return path if path.is_file() else None
