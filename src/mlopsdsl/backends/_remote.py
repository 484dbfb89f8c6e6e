"""What the remote commands exchange with a backend: the options of ``submit`` and ``publish``, what they
give back, and a run as a cluster reports it.

Kept apart from :mod:`mlopsdsl.backends`, which re-exports them, because only the commands that talk to a
cluster use them: each dataclass costs a cold ``compile`` or ``run`` about a millisecond to make.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from mlopsdsl._dataclass import dataclass

__all__ = ["PublishResult", "RemoteOptions", "RunView", "SubmitResult", "TaskView"]


@dataclass(frozen=True)
class RemoteOptions:
    """What ``mlopsdsl submit`` and ``mlopsdsl publish`` were told, for every remote backend alike.

    ``token`` is a secret: backends send it and never print or log it (``repr`` hides it).
    """

    host: str
    """The API endpoint: the KFP host, or the Argo Server URL."""
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    experiment: str | None = None
    run_name: str | None = None
    version: str | None = None
    """The version name to publish; the backend derives one from the content digest when left out."""
    params: dict[str, Any] = field(default_factory=dict)
    """Parameter values for this run (already checked against the pipeline's types)."""
    wait: bool = False
    """Follow the run to its end."""
    timeout: float | None = None
    """Seconds ``wait`` may take before giving up."""
    compile_options: dict[str, Any] = field(default_factory=dict)
    """Compile options (``kind``, ``schedule``, ``cache_root``...); ``{"cache": False}`` is a run that reuses
    nothing (``submit --no-cache``), on every backend that caches."""
    verify_tls: bool = True


@dataclass(frozen=True)
class SubmitResult:
    """A run created on a cluster, and how it ended when it was followed (``wait``)."""

    run_id: str
    url: str | None = None
    status: str | None = None
    """The final state when waited for (``Succeeded``, ``Failed``...), else the state at creation."""
    succeeded: bool | None = None
    """``None`` when not waited for."""


@dataclass(frozen=True)
class PublishResult:
    """What publishing did: created, added a version, or nothing because the content was unchanged."""

    name: str
    version: str | None
    changed: bool
    message: str


@dataclass(frozen=True)
class TaskView:
    """One task of a run on a cluster, as the engine reports it."""

    name: str
    status: str
    started: str | None = None
    finished: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    """Output values the engine holds (JSON values decoded; stored values by their record)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """What the task logged with ``ml.log_metric``, each metric's last value, where the engine keeps it."""


@dataclass(frozen=True)
class RunView:
    """A run on a cluster: its status and its tasks (``mlopsdsl runs show --backend ...``)."""

    run_id: str
    status: str
    started: str | None = None
    finished: str | None = None
    url: str | None = None
    tasks: list[TaskView] = field(default_factory=list)
