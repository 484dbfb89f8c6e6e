"""``submit`` and ``publish``: hand a compiled pipeline to a cluster, for people and for CI jobs.

Both commands collect one :class:`~mlopsdsl.backends.RemoteOptions` and leave the rest to the backend, so
every remote backend is driven the same way. The token comes from ``--token`` or ``MLOPSDSL_TOKEN`` and is
never printed. Exit codes: 0 done (or, for ``--wait``, the run succeeded), 1 the run failed, 2 a user
error, 4 the server refused or could not be reached.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

from mlopsdsl.cli._commands import BackendName, Kind, Options, Params, Schedule, Target, compile_options
from mlopsdsl.cli._decl import Option, command
from mlopsdsl.cli._errors import EXIT_FAILED, Exit, report_errors

Host = Annotated[
    str,
    Option("--host", "--server", help="The API endpoint: the KFP host, or the Argo Server URL."),
]
Token = Annotated[
    str | None,
    Option("--token", envvar="MLOPSDSL_TOKEN", show_envvar=True, help="Bearer token (never printed)."),
]
Namespace = Annotated[str | None, Option("--namespace", "-n", help="Kubernetes namespace.")]
Insecure = Annotated[bool, Option("--insecure", help="Do not verify the server's TLS certificate.")]


def _remote(
    target: str, backend: str, host: str, token: str | None, param: list[str] | None, **extra: Any
) -> tuple[Any, Any, Any, Any]:
    """The pipeline, the backend, the document, and the options, checked before anything is sent."""
    from mlopsdsl import backends
    from mlopsdsl._compile import parse_params
    from mlopsdsl._target import build, load_pipeline

    pipeline = load_pipeline(target)
    document = build(pipeline)
    values = parse_params(document, param or [], pipeline.locate)
    chosen = backends.load(backend)
    backends.check_capabilities(chosen, document, pipeline.locate)
    extra["compile_options"] = {"functions": pipeline.step_functions(), **extra.get("compile_options", {})}
    if getattr(chosen, "images", True):  # as every compile does (docs/images.md); -O image_repo=... too
        document = backends.check_images(document, extra["compile_options"], pipeline.locate)
    options = backends.RemoteOptions(host=host, token=token, params=values, **extra)
    return pipeline, chosen, document, options


@command("submit")
@report_errors
def submit_command(
    target: Target,
    host: Host,
    backend: BackendName = "kfp",
    param: Params = None,
    token: Token = None,
    namespace: Namespace = None,
    experiment: Annotated[str | None, Option("--experiment", help="KFP experiment name.")] = None,
    run_name: Annotated[str | None, Option("--run-name", help="Name of the run.")] = None,
    wait: Annotated[bool, Option("--wait", help="Follow the run; exit 1 if it fails.")] = False,
    timeout: Annotated[
        float | None, Option("--timeout", help="Seconds --wait may take before giving up.")
    ] = None,
    no_cache: Annotated[
        bool, Option("--no-cache", help="Run every step; reuse nothing (results are still kept).")
    ] = False,
    option: Options = None,
    insecure: Insecure = False,
) -> None:
    """Start a run of a pipeline on a cluster."""
    from mlopsdsl import backends
    from mlopsdsl._compile import located
    from mlopsdsl.errors import PluginError

    chosen_options = compile_options(None, None, option)
    if no_cache:
        chosen_options["cache"] = False  # the compile option every backend's caching reads
    pipeline, chosen, document, options = _remote(
        target,
        backend,
        host,
        token,
        param,
        namespace=namespace,
        experiment=experiment,
        run_name=run_name,
        wait=wait,
        timeout=timeout,
        compile_options=chosen_options,
        verify_tls=not insecure,
    )
    if not isinstance(chosen, backends.Submits):
        raise PluginError(f"backend {chosen.name!r} cannot submit runs")
    with located(pipeline):  # the backend compiles before it sends anything
        result = chosen.submit(document, options)
    where = f" ({result.url})" if result.url else ""
    print(f"run {result.run_id}{where}: {result.status or 'submitted'}")
    if result.succeeded is False:
        print(f"error: run {result.run_id} ended {result.status}", file=sys.stderr)
        raise Exit(EXIT_FAILED)


@command("publish")
@report_errors
def publish_command(
    target: Target,
    host: Host,
    backend: BackendName = "kfp",
    token: Token = None,
    namespace: Namespace = None,
    version: Annotated[
        str | None, Option("--version", help="Version name (default: derived from the content).")
    ] = None,
    kind: Kind = None,
    schedule: Schedule = None,
    option: Options = None,
    insecure: Insecure = False,
) -> None:
    """Create or update a pipeline on a cluster; unchanged content publishes nothing."""
    from mlopsdsl import backends
    from mlopsdsl._compile import located
    from mlopsdsl.errors import PluginError

    pipeline, chosen, document, options = _remote(
        target,
        backend,
        host,
        token,
        None,
        namespace=namespace,
        version=version,
        compile_options=compile_options(kind, schedule, option),
        verify_tls=not insecure,
    )
    if not isinstance(chosen, backends.Publishes):
        raise PluginError(f"backend {chosen.name!r} cannot publish pipelines")
    with located(pipeline):
        result = chosen.publish(document, options)
    print(result.message)
