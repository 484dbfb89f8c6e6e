"""Choosing the artifact root and the file-system options of a run.

Precedence, first found wins: the explicit value (``mlopsdsl run --artifact-root``, ``ml.run(...,
artifact_root=...)``), ``$MLOPSDSL_ARTIFACT_ROOT``, ``artifact_root`` in ``<home>/config.toml`` (the
machine's or user's own settings, never committed), ``[tool.mlopsdsl] artifact_root`` in the nearest
``pyproject.toml`` from the working directory up (the project's shared default), and last
``<home>/blobs``. File-system options (``storage_options``: an endpoint, a region, a profile name) merge in
the same order, ``$MLOPSDSL_STORAGE_OPTIONS`` (JSON) over the config files. Credentials belong in the
usual environment variables (``AWS_ACCESS_KEY_ID``...), profiles or instance roles: nothing here writes
them into a call spec, a record or compiled output; the runner passes options to its steps in their
environment only.
"""

from __future__ import annotations

import json
import os
from dataclasses import field
from pathlib import Path
from typing import Any

from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import RunError

ENV_ROOT = "MLOPSDSL_ARTIFACT_ROOT"
ENV_OPTIONS = "MLOPSDSL_STORAGE_OPTIONS"


@dataclass(frozen=True)
class StorageConfig:
    """Where a run stores its blobs, and how to reach it."""

    root: str
    """A local folder (absolute) or an fsspec URL."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the fsspec file system (``endpoint_url``, ``profile``, ``client_kwargs``)."""
    source: str = "default"
    """Where ``root`` came from, for messages: ``argument``, ``environment``, a config file, ``default``."""

    @property
    def is_remote(self) -> bool:
        return "://" in self.root and not self.root.startswith("file://")


def _read_toml(path: Path, mentions: bytes = b"") -> dict[str, Any]:
    """The TOML file at ``path``; ``{}`` when it is missing or does not hold ``mentions`` at all (a project's
    ``pyproject.toml`` without a word of mlopsdsl is not parsed: ``tomllib`` alone is ~5 ms of a cold run)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise RunError(f"{path}: cannot read the mlopsdsl settings: {exc}") from None
    if mentions not in data:
        return {}
    import tomllib

    try:
        return tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RunError(f"{path}: cannot read the mlopsdsl settings: {exc}") from None


def _pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _section(path: Path | None, pyproject: bool) -> tuple[dict[str, Any], Path | None]:
    if path is None:
        return {}, None
    data = _read_toml(path, b"mlopsdsl" if pyproject else b"")
    if pyproject:
        data = data.get("tool", {}).get("mlopsdsl", {})
    if not isinstance(data, dict):
        raise RunError(f"{path}: the mlopsdsl settings must be a table")
    return data, path


def _local(root: str, base: Path) -> str:
    if root.startswith("file://"):
        from urllib.parse import unquote, urlparse

        root = unquote(urlparse(root).path)
    return str((base / os.path.expanduser(root)).resolve())


def resolve(
    explicit: str | os.PathLike[str] | None,
    home: Path,
    cwd: Path | None = None,
) -> StorageConfig:
    """The storage of a run, by the precedence in this module's docstring.

    Raises:
        RunError: A config file cannot be read, or its settings have the wrong shape.
    """
    cwd = cwd or Path.cwd()
    layers = [
        _section(home / "config.toml", pyproject=False),
        _section(_pyproject(cwd), pyproject=True),
    ]
    options: dict[str, Any] = {}
    for data, path in reversed(layers):
        extra = data.get("storage_options", {})
        if not isinstance(extra, dict):
            raise RunError(f"{path}: storage_options must be a table")
        options.update(extra)
    env_options = os.environ.get(ENV_OPTIONS)
    if env_options:
        try:
            parsed = json.loads(env_options)
        except ValueError as exc:
            raise RunError(f"${ENV_OPTIONS} is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise RunError(f"${ENV_OPTIONS} must be a JSON object")
        options.update(parsed)
    root: str | None = None
    source = "default"
    base = cwd
    if explicit is not None and str(explicit):
        root, source = str(explicit), "argument"
    elif os.environ.get(ENV_ROOT):
        root, source = os.environ[ENV_ROOT], f"${ENV_ROOT}"
    else:
        for data, path in layers:
            value = data.get("artifact_root")
            if value is None:
                continue
            if not isinstance(value, str) or not value:
                raise RunError(f"{path}: artifact_root must be a non-empty string")
            assert path is not None
            root, source, base = value, str(path), path.parent
            break
    if root is None:
        return StorageConfig(str(home.resolve() / "blobs"), options, "default")
    if "://" not in root or root.startswith("file://"):
        root = _local(root, base)
    return StorageConfig(root.rstrip("/") if "://" in root else root, options, source)


def tracking(home: Path, cwd: Path | None = None) -> str | None:
    """``"mlflow"`` when runs are tracked in MLflow: ``tracking = "mlflow"`` in ``<home>/config.toml`` or
    ``[tool.mlopsdsl]`` of the nearest ``pyproject.toml``, or ``MLFLOW_TRACKING_URI`` set; else ``None``.

    Raises:
        RunError: A config file names a tracking this version does not know.
    """
    for data, path in (
        _section(home / "config.toml", pyproject=False),
        _section(_pyproject(cwd or Path.cwd()), pyproject=True),
    ):
        value = data.get("tracking")
        if value is None:
            continue
        if value not in ("mlflow", "none"):
            raise RunError(f'{path}: tracking must be "mlflow" or "none", not {value!r}')
        return "mlflow" if value == "mlflow" else None
    return "mlflow" if os.environ.get("MLFLOW_TRACKING_URI") else None


@dataclass(frozen=True)
class Trust:
    """What the runner trusts in its store: the key records are signed with, and whether values may be
    pickled (see ``docs/storage.md``, the threat model)."""

    key: bytes | None = None
    """``MLOPSDSL_STORE_KEY``, else ``store_key`` in ``<home>/config.toml`` (never in ``pyproject.toml``:
    a key must not be committed). With a key, unsigned or badly signed records are refused."""
    pickle: bool = True
    """``MLOPSDSL_PICKLE``, else ``pickle`` in ``<home>/config.toml``, else in ``[tool.mlopsdsl]``."""


def trust(home: Path, cwd: Path | None = None) -> Trust:
    """The store key and the pickle setting of a run.

    Raises:
        RunError: A setting has the wrong type, or the key is in ``pyproject.toml``.
    """
    from mlopsdsl.runtime._seal import ENV_KEY
    from mlopsdsl.runtime.serializers import ENV_PICKLE, pickle_allowed

    machine, machine_path = _section(home / "config.toml", pyproject=False)
    project, project_path = _section(_pyproject(cwd or Path.cwd()), pyproject=True)
    if "store_key" in project:
        raise RunError(
            f"{project_path}: store_key must not be in pyproject.toml (it would be committed); set "
            f"{ENV_KEY} or put it in {home / 'config.toml'}"
        )
    key: bytes | None = None
    if os.environ.get(ENV_KEY):
        key = os.environ[ENV_KEY].encode()
    elif "store_key" in machine:
        value = machine["store_key"]
        if not isinstance(value, str) or len(value) < 16:
            raise RunError(f"{machine_path}: store_key must be a string of at least 16 characters")
        key = value.encode()
    allowed = True
    if os.environ.get(ENV_PICKLE):
        allowed = pickle_allowed()
    else:
        for data, path in ((machine, machine_path), (project, project_path)):
            if "pickle" in data:
                if not isinstance(data["pickle"], bool):
                    raise RunError(f"{path}: pickle must be true or false")
                allowed = data["pickle"]
                break
    return Trust(key, allowed)
