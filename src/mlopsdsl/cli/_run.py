"""``mlopsdsl run``: run a pipeline on this machine and print its outputs.

Progress goes to standard error (a live table on a terminal, log lines otherwise); standard output gets
one ``name: value`` line per pipeline output (JSON for JSON values), so that scripts can read it. A failed
run exits 1 with the failing step's call site and traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

from mlopsdsl.cli._commands import Params, Target, load_document
from mlopsdsl.cli._decl import Option, command
from mlopsdsl.cli._errors import EXIT_USER, Exit, report_errors


@command("run")
@report_errors
def run_command(
    target: Target,
    param: Params = None,
    max_parallel: Annotated[
        int | None,
        Option("--max-parallel", "-j", min=1, help="Most steps at once (default: CPU count)."),
    ] = None,
    no_cache: Annotated[bool, Option("--no-cache", help="Run every step; reuse nothing.")] = False,
    in_process: Annotated[
        bool, Option("--in-process", help="Run steps in this process (a debugger's breakpoints work).")
    ] = False,
    code: Annotated[
        str, Option("--code", help="Ship step code by 'value' (cloudpickle) or by 'import'.")
    ] = "value",
    executor: Annotated[
        str | None,
        Option(
            "--executor",
            help="How each step gets its own process: 'fork' (from a warm server; the default on Linux) "
            "or 'subprocess' (a new interpreter per step).",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        Option("--resume", metavar="RUN_ID", help="Rerun only what did not succeed in that run."),
    ] = None,
    artifact_root: Annotated[
        str | None,
        Option(
            "--artifact-root",
            metavar="URL",
            help="Where stored objects and artifacts go: a folder or an fsspec URL (s3://bucket/prefix). "
            "Default: $MLOPSDSL_ARTIFACT_ROOT, the config files, then .mlopsdsl/blobs.",
        ),
    ] = None,
    pushgateway: Annotated[
        str | None,
        Option(
            "--pushgateway",
            metavar="URL",
            help="Push step and run metrics to this Prometheus Pushgateway (default: $MLOPSDSL_PUSHGATEWAY).",
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        Option(
            "--secret",
            metavar="NAME.KEY=VALUE",
            help="The value of a secret key a step declares (ml.Secret(name, key)); repeatable. Others come "
            "from --env-file (default ./.env), then the environment.",
        ),
    ] = None,
    env_file: Annotated[
        str | None, Option("--env-file", metavar="PATH", help="A .env file to read secrets from.")
    ] = None,
    inherit_env: Annotated[
        bool,
        Option("--inherit-env", help="Give steps this shell's whole environment, not a clean one."),
    ] = False,
) -> None:
    """Run a pipeline locally and print its outputs."""
    if executor in (None, "fork") and not in_process:
        from mlopsdsl.local._prestart import prestart

        prestart()  # its start overlaps the pipeline's import and build below (main() may have done it)
    from mlopsdsl._compile import parse_params
    from mlopsdsl._target import load_pipeline
    from mlopsdsl.errors import RunError
    from mlopsdsl.local import run_document
    from mlopsdsl.local._records import RunFolder, home

    if resume is not None:  # a run id that names no run is the user's mistake: exit 2, like a bad -p
        try:
            RunFolder.existing(home(), resume)
        except RunError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise Exit(EXIT_USER) from None
    document = load_document(target, None)
    pipeline = load_pipeline(target)
    # Values stay separate from the document so that, on --resume, they override the recorded ones.
    values = parse_params(document, param or [], pipeline.locate)
    result = run_document(
        document,
        values,
        functions=pipeline.step_functions(),
        locate=pipeline.locate,
        max_parallel=max_parallel,
        cache=not no_cache,
        in_process=in_process,
        executor=executor,
        code=code,
        resume=resume,
        artifact_root=artifact_root,
        pushgateway=pushgateway,
        secrets=_secret_values(secret or []),
        env_file=env_file,
        clean_env=not inherit_env,
    )
    for name, value in result.outputs.items():
        print(f"{name}: {_shown(value)}")


def _secret_values(pairs: list[str]) -> dict[str, str]:
    """``NAME.KEY=VALUE`` pairs; a malformed one is named by its reference only, never its value."""
    from mlopsdsl.errors import ParameterError

    values: dict[str, str] = {}
    for pair in pairs:
        reference, sep, value = pair.partition("=")
        if not sep or "." not in reference or reference.startswith(".") or reference.endswith("."):
            raise ParameterError(f"--secret {reference.split('=')[0]!r}: write NAME.KEY=VALUE")
        values[reference] = value
    return values


def _shown(value: Any) -> str:
    from mlopsdsl.runtime._values import OutputError, to_json

    try:
        return json.dumps(to_json(value, "output"), ensure_ascii=False)
    except OutputError:
        return repr(value)
