"""``AirflowBackend``: the object the ``mlopsdsl.backends`` entry point ``airflow`` names.

It only wires the parts together: :mod:`._plan` decides the tasks, :mod:`._render` writes the DAG file,
:mod:`._remote` publishes it and triggers runs (imported only when asked to), and :mod:`.testing` runs
it with Airflow's own ``dag.test()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlopsdsl import ir
from mlopsdsl.lowering import ARGUMENT_BYTES, Capabilities
from mlopsdsl_airflow._options import BACKEND, CompileOptions

if TYPE_CHECKING:
    from pathlib import Path

    from mlopsdsl.backends import PublishResult, RemoteOptions, SubmitResult
    from mlopsdsl.errors import Problem
    from mlopsdsl.testing import EmulatedRun

__all__ = ["AirflowBackend"]


class AirflowBackend:
    """Compiles pipelines to Airflow 3 DAG files, publishes them into a DAGs folder and triggers runs.

    Args:
        poll_interval: Seconds between status checks while ``submit`` waits for a DAG run.
    """

    name = "airflow"
    file_suffix = ".py"
    capabilities = Capabilities(
        map_over_stored=False,
        gather_artifacts=False,
        map_sub_pipelines=False,
        argument_bytes=ARGUMENT_BYTES,
        tolerant_stored_outputs=False,
    )
    """What Airflow cannot run even after lowering: a mapped task expands over a list XCom can carry (JSON
    values, or the records of another map's stored results), not over a stored list; stored values reach a
    step one at a time or as a map's results; and a mapped sub-pipeline would be a mapped task group whose
    tasks expand again, which Airflow does not run. A tolerant map runs as lowering desugars it (elements
    in tolerant mode, then a ``settle`` task), so only of a step whose outputs are values."""

    def __init__(self, poll_interval: float = 2.0) -> None:
        self.poll_interval = poll_interval

    def compile(self, document: ir.Document, **options: Any) -> str:
        """The DAG file of ``document``: Python source, byte-identical for the same IR.

        Args:
            document: A validated IR document.
            **options: See :class:`~mlopsdsl_airflow._options.CompileOptions`: ``operator``
                (``kubernetes`` or ``local``), ``store``, ``dag_id``, ``schedule``, ``namespace``,
                ``kubernetes_conn_id``, ``service_account``, ``image``, ``code``, ``non_root``, ``cache``,
                ``cache_root``, ``functions``.

        Raises:
            CompileError: An unknown option, a bad value, or something Airflow cannot express.
        """
        from mlopsdsl.lowering._kube import check_patches
        from mlopsdsl_airflow._plan import plan
        from mlopsdsl_airflow._render import render

        parsed = CompileOptions.parse(options, document.pipeline.location)
        check_patches(document, BACKEND)
        return render(document, plan(document, parsed), parsed)

    def validate_compiled(self, text: str) -> list[Problem]:
        """Every problem in a compiled DAG file found without Airflow (:mod:`._check`): Python syntax, call
        specs the runtime reads, and the tasks that specs and blocks name."""
        from mlopsdsl_airflow._check import check_text

        return check_text(text)

    def emulate(self, text: str, params: dict[str, Any], *, workdir: Path, **options: Any) -> EmulatedRun:
        """Run a DAG file compiled with ``operator="local"`` through Airflow's ``dag.test()``
        (:func:`mlopsdsl_airflow.testing.run_airflow`)."""
        from mlopsdsl_airflow.testing import run_airflow

        return run_airflow(text, params, workdir=workdir)

    def submit(self, document: ir.Document, options: RemoteOptions) -> SubmitResult:
        """Trigger a run of the published DAG through Airflow's REST API; with ``options.wait``, follow it.

        Raises:
            RemoteError: The server refused the request or could not be reached.
        """
        from mlopsdsl_airflow._remote import submit

        return submit(self, document, options)

    def publish(self, document: ir.Document, options: RemoteOptions) -> PublishResult:
        """Write the DAG file into the DAGs folder ``options.host`` (a path or an fsspec URL), only when its
        content changed.

        Raises:
            RemoteError: The folder cannot be written.
        """
        from mlopsdsl_airflow._remote import publish

        return publish(self, document, options)
