"""``ArgoBackend``: the object the ``mlopsdsl.backends`` entry point ``argo`` names.

It only wires the parts together: :mod:`._manifest` compiles, :mod:`._check` validates compiled text,
:mod:`._client` talks to an Argo Server (and is imported only when asked to).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlopsdsl import ir
from mlopsdsl.lowering import ARGUMENT_BYTES, Capabilities
from mlopsdsl_argo._manifest import dump, manifest
from mlopsdsl_argo._options import CompileOptions

if TYPE_CHECKING:
    from pathlib import Path

    from mlopsdsl.backends import PublishResult, RemoteOptions, RunView, SubmitResult
    from mlopsdsl.errors import Problem
    from mlopsdsl.testing import EmulatedRun
    from mlopsdsl.testing._site import Sites

__all__ = ["ArgoBackend"]


class ArgoBackend:
    """Compiles pipelines to Argo Workflows YAML, checks it, and submits or publishes it.

    Args:
        poll_interval: Seconds between status checks while ``submit`` waits for a workflow.
    """

    name = "argo"
    file_suffix = ".yaml"
    capabilities = Capabilities(
        map_over_stored=False,
        gather_artifacts=False,
        argument_bytes=ARGUMENT_BYTES,
        tolerant_stored_outputs=False,
    )
    """What Argo cannot run even after lowering: a loop iterates over parameters, so it can run over another
    loop's stored results (their records) but over no other stored list; and stored values reach a step
    one input at a time or as a loop's collected results. A tolerant map runs as lowering desugars it
    (elements in tolerant mode, then a ``settle`` task), so only of a step whose outputs are values
    (docs/argo.md)."""

    def __init__(self, poll_interval: float = 2.0) -> None:
        self.poll_interval = poll_interval

    def compile(self, document: ir.Document, **options: Any) -> str:
        """The Argo manifest of ``document`` as YAML; byte-identical for the same IR.

        Args:
            document: A validated IR document.
            **options: ``kind`` (``workflow``, ``template`` or ``cron``), ``schedule`` (cron; the pipeline's
                own schedule by default), ``service_account``, ``artifact_repository``
                (:class:`~mlopsdsl_argo.S3Repository`; the cluster's default when left out), ``image``
                (for steps that set none), ``code`` (``value`` or ``import``), ``runtime`` (``bundle``,
                the default, ships the step runtime in the document; ``image`` expects mlopsdsl installed
                in every image), ``non_root`` (default ``True``), ``functions`` (step functions by step
                name).

        Raises:
            CompileError: An unknown option, a bad value, or something Argo cannot express.
        """
        return dump(manifest(document, CompileOptions.parse(options, document.pipeline.location)))

    def manifest(self, document: ir.Document, **options: Any) -> dict[str, Any]:
        """The Argo object of ``document`` as plain data (what :meth:`compile` writes as YAML)."""
        return manifest(document, CompileOptions.parse(options, document.pipeline.location))

    def emulate(
        self,
        text: str,
        params: dict[str, Any],
        *,
        workdir: Path,
        isolated: bool = True,
        site_packages: Sites = (),
        packages_cache: Path | None = None,
    ) -> EmulatedRun:
        """Run a compiled workflow on this machine with :func:`mlopsdsl_argo.testing.run_argo`."""
        from mlopsdsl_argo.testing import run_argo

        return run_argo(
            text,
            params,
            workdir=workdir,
            isolated=isolated,
            site_packages=site_packages,
            packages_cache=packages_cache,
        )

    def validate_compiled(self, text: str) -> list[Problem]:
        """Every problem in a compiled document that a schema cannot see (references, cycles)."""
        from mlopsdsl_argo._check import check_text

        return check_text(text)

    def submit(self, document: ir.Document, options: RemoteOptions) -> SubmitResult:
        """Create a Workflow on the Argo Server; with ``options.wait``, follow it to its end.

        Raises:
            RemoteError: The server refused the request or could not be reached.
        """
        from mlopsdsl_argo._client import submit

        return submit(self, document, options)

    def publish(self, document: ir.Document, options: RemoteOptions) -> PublishResult:
        """Create or update the WorkflowTemplate (and the CronWorkflow when scheduled); unchanged content
        changes nothing.

        Raises:
            RemoteError: The server refused the request or could not be reached.
        """
        from mlopsdsl_argo._client import publish

        return publish(self, document, options)

    def inspect(self, run_id: str, options: RemoteOptions) -> RunView:
        """Workflow ``run_id``'s phase and pods, with their outputs and metrics (the Argo Server's API)."""
        from mlopsdsl_argo._client import inspect

        return inspect(run_id, options)

    def logs(self, run_id: str, task: str, options: RemoteOptions) -> list[str]:
        """The log lines of the pods of ``task`` in workflow ``run_id`` (the Argo Server's log API)."""
        from mlopsdsl_argo._client import logs

        return logs(run_id, task, options)
