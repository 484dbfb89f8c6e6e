"""The Kubeflow Pipelines backend of mlopsdsl: IR to a KFP v2 pipeline package, checked, submitted, published.

Installed as the distribution ``mlopsdsl-kfp``, registered under the ``mlopsdsl.backends`` entry point
``kfp``; core never imports it. The work is split by job: :mod:`._lower` turns the IR into kfp-pipeline-spec
protobuf messages (control flow included: loops, conditions, ``OneOf``, exit handlers), :mod:`._wiring`
moves values between nested DAGs, :mod:`._cel` writes trigger conditions, :mod:`._executors` builds each
step's container command, :mod:`._platform` its Kubernetes settings, :mod:`._yaml` writes the package
deterministically, :mod:`._validate` checks a compiled package, and :mod:`._client` talks to a KFP API
server through the official ``kfp.Client``. See ``docs/kfp.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlopsdsl.errors import CompileError

if TYPE_CHECKING:
    from pathlib import Path

    from mlopsdsl import ir
    from mlopsdsl.backends import PublishResult, RemoteOptions, RunView, SubmitResult
    from mlopsdsl.errors import Problem
    from mlopsdsl.testing import EmulatedRun
    from mlopsdsl.testing._site import Sites

from mlopsdsl.lowering import ARGUMENT_BYTES, RUNTIMES, Capabilities

from ._platform import RUN_ONLY, STEP_POD_SETTINGS

__all__ = ["KfpBackend"]

_CHOICES = {"code": ("value", "import"), "runtime": RUNTIMES}
"""Each option that takes one of a few values (``runtime``'s are every Kubernetes backend's,
:func:`mlopsdsl.lowering.runtime_problem`, which words the error as this does)."""


def default_image() -> str:
    """``python:<major.minor>-slim`` of this interpreter: by-value code loads on the same minor version."""
    return f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"


class KfpBackend:
    """Compiles to Kubeflow Pipelines v2, validates the result, submits runs and publishes pipelines.

    Compile options (``ml.compile(p, backend="kfp", code="import")``):

    * ``code``: ``"value"`` (default) ships each step function pickled in its executor; ``"import"`` imports
      it by ``module:qualname`` from the image.
    * ``runtime``: ``"bundle"`` (default) ships the step runtime once per document through the
      ``mlopsdsl-runtime`` task; ``"image"`` expects mlopsdsl installed in every image.
    * ``image``: the image of steps that set none (default ``python:<this major.minor>-slim``).
    * ``functions``: step name to function (``pipeline.step_functions()``), for by-value steps that cannot
      be found by their import path (functions defined inside other functions).
    * ``store``: where the step runtime keeps never-retry markers (an fsspec URL, or a folder every pod
      mounts), needed by steps whose ``Retry`` has ``stop_on``: KFP retries whatever the error, so their
      later attempts must find word that an earlier one failed for good (``docs/kfp.md``, "Retries").
    * ``cache``: ``False`` compiles a run that reuses nothing (``submit --no-cache``): every task's
      ``enableCache`` is off and the pods' own cache only records.
    * ``cache_root``: where the step runtime in each pod keeps its cache (entries and blobs): an absolute
      folder in the pod (a volume mounted in every step) or an fsspec URL (``s3://bucket/prefix``; the
      image needs fsspec and s3fs, the pod its credentials); it may be the same as ``store``. Without
      it, only KFP's own cache applies.
    * ``pushgateway``: a Prometheus Pushgateway URL every step's runtime pushes its metrics to
      (``MLOPSDSL_PUSHGATEWAY`` in each container; ``docs/observability.md``).
    * ``tracking_uri``: an MLflow tracking server every step's runtime records its run in
      (``MLFLOW_TRACKING_URI`` in each container; the image needs ``mlflow``).
    * ``non_root``: ``True`` (default) runs every executor as user and group 1000 with ``runAsNonRoot``,
      unless a step's ``ml.Pod`` chooses its user; ``False`` leaves the user to the image.

    Args:
        poll_interval: Longest wait, in seconds, between two looks at a run followed with ``wait``.
    """

    name = "kfp"
    file_suffix = ".yaml"
    capabilities = Capabilities(
        map_over_stored=False,
        gather_artifacts=False,
        argument_bytes=ARGUMENT_BYTES,
        pod_settings=STEP_POD_SETTINGS,
        run_pod_settings=RUN_ONLY,
        tolerant_stored_outputs=False,
    )
    """What KFP cannot run even after lowering. A map over another map's stored results runs (in that
    map's loop, or over a pack of them); a map over any other stored list does not, since KFP's driver
    implements no ``artifactIterator``; and a written list of artifacts has no form (an artifact list comes
    only from a loop). kfp-kubernetes' PlatformSpec has no per-executor service account, priority class or
    pod patch; a pipeline's service account is the run's. A tolerant map runs as lowering desugars it
    (elements in tolerant mode, then a ``settle`` task), so only of a step whose outputs are values
    (docs/kfp.md)."""

    def __init__(self, poll_interval: float = 10.0) -> None:
        self.poll_interval = poll_interval

    def compile(self, document: ir.Document, **options: Any) -> str:
        """The KFP pipeline package (YAML) for ``document``; byte-identical for the same IR.

        Raises:
            CompileError: An unknown option, or something in the IR that KFP cannot express.
        """
        from ._lower import lower
        from ._yaml import dump

        settings = self._settings(options, document.pipeline.location)
        return dump(lower(document, settings), document.digest)

    def _settings(self, options: dict[str, Any], where: ir.SourceLocation | None) -> Any:
        """The checked options; ``where`` (the root pipeline's definition) locates a bad one."""
        from ._lower import Settings

        known = {"code", "runtime", "image", "functions", "store", "cache", "cache_root", "non_root"}
        known |= {"pushgateway", "tracking_uri"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise CompileError(
                f"unknown compile option(s) {', '.join(unknown)}; "
                "the KFP backend takes code, runtime, image, functions, store, cache, cache_root, non_root, "
                "pushgateway, tracking_uri",
                "kfp",
                location=where,
            )
        for key, allowed in _CHOICES.items():
            if key in options and options[key] not in allowed:
                raise CompileError(
                    f"{key}={options[key]!r}: choose one of {', '.join(map(repr, allowed))}",
                    "kfp",
                    location=where,
                )
        image = options.get("image") or default_image()
        if not isinstance(image, str):
            raise CompileError(f"image={image!r}: give an image name", "kfp", location=where)
        functions = options.get("functions") or {}
        if not isinstance(functions, Mapping):
            raise CompileError("functions= takes a mapping of step name to function", "kfp", location=where)
        store = options.get("store")
        if store is not None and (
            not isinstance(store, str) or not (store.startswith("/") or "://" in store) or '"' in store
        ):
            raise CompileError(
                f"store={store!r}: give an fsspec URL ('s3://bucket/prefix') or an absolute folder",
                "kfp",
                location=where,
            )
        from mlopsdsl.runtime._cache import root_problem

        cache = options.get("cache", True)
        if not isinstance(cache, bool):
            raise CompileError(f"cache={cache!r}: give True or False", "kfp", location=where)
        non_root = options.get("non_root", True)
        if not isinstance(non_root, bool):
            raise CompileError(f"non_root={non_root!r}: give True or False", "kfp", location=where)
        cache_root = options.get("cache_root")
        if cache_root is not None and root_problem(cache_root):
            raise CompileError(str(root_problem(cache_root)), "kfp", location=where)
        from mlopsdsl.runtime.push import url_problem

        pushgateway = options.get("pushgateway")
        if pushgateway is not None and url_problem(pushgateway):
            raise CompileError(str(url_problem(pushgateway)), "kfp", location=where)
        tracking_uri = options.get("tracking_uri")
        if tracking_uri is not None and url_problem(tracking_uri, "tracking_uri"):
            raise CompileError(str(url_problem(tracking_uri, "tracking_uri")), "kfp", location=where)
        return Settings(
            pushgateway=pushgateway,
            tracking_uri=tracking_uri,
            code=options.get("code", "value"),
            runtime=options.get("runtime", "bundle"),
            image=image,
            functions=dict(functions),
            store=store,
            cache=cache,
            cache_root=cache_root,
            non_root=non_root,
        )

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
        """Run a compiled package on this machine with :func:`mlopsdsl_kfp.testing.run_kfp`."""
        from .testing import run_kfp

        return run_kfp(
            text,
            params,
            workdir=workdir,
            isolated=isolated,
            site_packages=site_packages,
            packages_cache=packages_cache,
        )

    def validate_compiled(self, text: str) -> list[Problem]:
        """Every problem in a compiled package: strict schema, references, types and cycles."""
        from ._validate import validate

        return validate(text)

    def submit(self, document: ir.Document, options: RemoteOptions) -> SubmitResult:
        """Create a run through ``kfp.Client``; with ``options.wait``, follow it to its end.

        Raises:
            RemoteError: The server refused the request or could not be reached.
        """
        from ._client import submit

        text = self.compile(document, **options.compile_options)
        return submit(document, text, options, self.poll_interval)

    def inspect(self, run_id: str, options: RemoteOptions) -> RunView:
        """The run's state and task tree, through kfp's client (``mlopsdsl runs show --backend kfp``)."""
        from ._client import inspect

        return inspect(run_id, options)

    def logs(self, run_id: str, task: str, options: RemoteOptions) -> list[str]:
        """KFP's API has no task logs: raises :class:`~mlopsdsl.errors.RemoteError` saying where they are."""
        from ._client import logs

        return logs(run_id, task, options)

    def publish(self, document: ir.Document, options: RemoteOptions) -> PublishResult:
        """Create the pipeline, or upload a new version; unchanged content uploads nothing. With a schedule
        (``@ml.pipeline(schedule=...)``, or the compile option ``schedule``: ``publish --schedule``), also
        create or update the pipeline's recurring run.

        Raises:
            CompileError: The schedule sets something KFP cannot honour (before the server is contacted).
            RemoteError: The server refused the request or could not be reached.
        """
        from mlopsdsl.lowering import schedule_of

        from ._client import publish
        from ._schedule import check

        compile_options = dict(options.compile_options)
        schedule = schedule_of(document, "kfp", compile_options.pop("schedule", None))
        if schedule is not None:
            check(document, schedule)
        text = self.compile(document, **compile_options)
        return publish(document, text, options, schedule)
