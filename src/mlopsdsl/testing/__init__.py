"""Emulators that run compiled KFP and Argo documents on this machine, for smoke tests in your own CI.

``run_kfp(text, params, workdir=...)`` and ``run_argo(text, params, workdir=...)`` read a document that
``mlopsdsl compile`` wrote and execute it the way the orchestrator would for the constructs mlopsdsl
emits: DAG order, parameters, artifacts, loops and the collection of their outputs, conditions, retries
(each engine's own rules; the backoff it would wait is recorded, not slept) and exit handlers. Every
container's command runs as a local subprocess with the real step runtime, so a pipeline that passes here
has run the same code, with the same arguments, as it will in the pod.

Caching is shown as it happens on the cluster: the KFP emulator models KFP's own cache (keyed as KFP keys
it, recorded in ``workdir``), and on both the step runtime applies its own cache in the pod when the
document was compiled with ``cache_root`` (a folder on this machine, then). Two runs that share the
``workdir`` and the ``cache_root`` therefore show hits; ``EmulatedRun.cached`` lists them.

They are test tools, not orchestrators: no scheduling across machines, no resources, no Kubernetes
(volumes, secrets, node selectors are ignored), no timeouts, and only the features of KFP and Argo that
mlopsdsl's compilers produce. A document written by hand or by another tool may use features
they do not know; they refuse it with an error naming the feature rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["EmulatedRun", "EmulatorError", "emulate", "kube_expand", "run_argo", "run_kfp"]


class EmulatorError(Exception):
    """The document uses something the emulator does not cover, or is malformed."""


@dataclass
class EmulatedRun:
    """How an emulated run ended.

    Attributes:
        status: ``"Succeeded"`` or ``"Failed"``.
        outputs: The pipeline's outputs as Python values (JSON values decoded, stored values loaded).
        tasks: Every task that was considered, by its path in the document (``loop-1/process[2]``), and how
            it ended: ``Succeeded``, ``Failed``, ``Skipped`` (a condition did not hold) or ``Omitted``
            (something it needed failed).
        failed: The tasks that failed, in the order they failed.
        attempts: Attempts made, by task path, for the tasks that ran.
        logs: Standard error of each failed attempt's process, by task path.
        waits: The backoff the engine waits after each failed attempt, in seconds, by task path (tasks
            that waited only): before each retry, and, as Argo's controller does, before it finds that
            the last attempt may not be retried. Recorded, never slept.
        cached: The tasks whose outputs were reused instead of computed, by task path, and which cache
            served them: ``"kfp"`` (KFP's own, emulated) or ``"runtime"`` (the step runtime's, in the pod).
        tolerated: The elements of tolerant maps that failed and were left out, by task path, with their
            error (``ValueError: ...``): their pods succeeded, reporting the failure in the output
            ``mlopsdsl-outcome``, which is where the engine's UI shows it too.
    """

    status: str
    outputs: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    waits: dict[str, list[float]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """KFP only: what the engine recorded for each output artifact, by task path and output name
    (``{"uri": ..., "metadata": {...}}``, the executor output's metadata merged in, as the KFP UI shows)."""
    cached: dict[str, str] = field(default_factory=dict)
    tolerated: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    """The metrics each task logged (``ml.log_metric``), last value per name, by task path, as the engine
    shows them: KFP from the ``system.Metrics`` artifact's metadata, Argo from the metrics output
    parameter."""

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"


def kube_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of ``$(VAR)`` in a container's command, args and env values: a defined
    variable is replaced, an undefined reference is left as written, ``$$`` is a literal ``$``."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i:]:
            end = text.index(")", i)
            out.append(env.get(text[i + 2 : end], text[i : end + 1]))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def emulate(backend: str, text: str, params: dict[str, Any], *, workdir: Path, **options: Any) -> EmulatedRun:
    """Run a document compiled for ``backend`` through that backend's emulator.

    Each emulator lives with its compiler (``mlopsdsl_kfp.testing``, ``mlopsdsl_argo.testing``) and shares
    its constants, so the two cannot drift apart; a backend offers one through its ``emulate`` method
    (:class:`mlopsdsl.backends.Emulates`), found like any backend through its entry point.

    Raises:
        EmulatorError: The backend has no emulator, or the document uses something it does not cover.
    """
    from mlopsdsl import backends

    chosen = backends.load(backend)
    if not isinstance(chosen, backends.Emulates):
        raise EmulatorError(f"backend {chosen.name!r} has no emulator")
    run: EmulatedRun = chosen.emulate(text, params, workdir=workdir, **options)
    return run


def run_kfp(text: str, params: dict[str, Any], *, workdir: Path, **options: Any) -> EmulatedRun:
    """Run a compiled KFP pipeline package on this machine (``mlopsdsl_kfp.testing.run_kfp``).

    Options: ``isolated`` (default ``True``) runs commands under ``-I -S``, with nothing installed
    importable, as in a stock image; ``False`` keeps this interpreter's site-packages.
    """
    return emulate("kfp", text, params, workdir=workdir, **options)


def run_argo(text: str, params: dict[str, Any], *, workdir: Path, **options: Any) -> EmulatedRun:
    """Run a compiled Argo workflow on this machine (``mlopsdsl_argo.testing.run_argo``).

    Options: ``isolated`` (default ``True``), as for :func:`run_kfp`.
    """
    return emulate("argo", text, params, workdir=workdir, **options)
