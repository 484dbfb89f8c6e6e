"""``compile``, ``validate``, ``graph`` and ``backends``: the commands that need no cluster and no runner."""

from __future__ import annotations

import sys
from typing import Annotated, Any

from mlopsdsl.cli._decl import Argument, Option, command
from mlopsdsl.cli._errors import EXIT_USER, Exit, report_errors

Target = Annotated[
    str,
    Argument(
        help="The pipeline: path/to/file.py[:name] or package.module[:name]; the name may be "
        "left out when the file defines one pipeline."
    ),
]
Output = Annotated[
    str | None,
    Option(
        "--output",
        "-o",
        help="File to write ('-' or left out: standard output). Written whole or not at all.",
    ),
]
Params = Annotated[
    list[str] | None,
    Option(
        "--param", "-p", help="Parameter value as name=value, read by the parameter's type; repeat for more."
    ),
]
BackendName = Annotated[str, Option("--backend", "-b", help="Backend name (see `mlopsdsl backends`).")]
Kind = Annotated[
    str | None,
    Option(
        "--kind", help="What to compile, for backends that offer several (argo: workflow, template, cron)."
    ),
]
Schedule = Annotated[
    str | None,
    Option(
        "--schedule",
        help="Cron schedule, in place of the pipeline's own (publish: a KFP recurring run or an Argo "
        "CronWorkflow; compile: argo --kind cron).",
    ),
]
Options = Annotated[
    list[str] | None,
    Option(
        "--option",
        "-O",
        help="A backend option as name=value (value read as JSON when it parses, else as text); repeat for "
        "more. See the backend's docs for its options.",
    ),
]
ImageRepo = Annotated[
    str | None,
    Option(
        "--image-repo",
        help="REGISTRY/NAME of the images `mlopsdsl build` makes: steps that set no image run on them.",
    ),
]


def compile_options(kind: str | None, schedule: str | None, pairs: list[str] | None = None) -> dict[str, Any]:
    """The backend options that were given: ``--kind``, ``--schedule`` and ``-O name=value``."""
    import json

    from mlopsdsl.errors import ParameterError

    options: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-O takes name=value, got {pair!r}")
        try:
            pair.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes on the command line (found by fuzzing)
            raise ParameterError(f"-O {name.strip()}: the value is not valid UTF-8 text") from None
        try:
            options[name.strip()] = json.loads(text)
        except json.JSONDecodeError:
            options[name.strip()] = text
        except ValueError as exc:  # an integer beyond Python's 4,300 digits (found by fuzzing)
            raise ParameterError(f"-O {name.strip()}: {exc}") from None
    options.update({k: v for k, v in (("kind", kind), ("schedule", schedule)) if v is not None})
    return options


def load_document(target: str, params: list[str] | None) -> Any:
    """The validated IR of ``target``, with ``-p`` values applied as parameter defaults."""
    return load(target, params)[1]


def load(target: str, params: list[str] | None) -> tuple[Any, Any]:
    """The pipeline ``target`` names and its validated IR, with ``-p`` values applied as defaults."""
    from mlopsdsl._compile import parse_params, with_defaults
    from mlopsdsl._target import build, load_pipeline

    pipeline = load_pipeline(target)
    document = build(pipeline)
    if params:
        document = with_defaults(document, parse_params(document, params, pipeline.locate), pipeline.locate)
    return pipeline, document


def emit(text: str, output: str | None) -> None:
    from mlopsdsl._files import write_atomic

    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            write_atomic(output, text)
        except OSError as exc:  # a missing or read-only folder, a directory: the user's path, nothing written
            print(f"error: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
            raise Exit(EXIT_USER) from None
        print(f"wrote {output}", file=sys.stderr)


@command("compile")
@report_errors
def compile_command(
    target: Target,
    backend: BackendName = "ir",
    output: Output = None,
    param: Params = None,
    kind: Kind = None,
    schedule: Schedule = None,
    option: Options = None,
    image_repo: ImageRepo = None,
) -> None:
    """Compile a pipeline for a backend (ir, kfp, argo, ...)."""
    from mlopsdsl import backends
    from mlopsdsl._compile import located

    pipeline, document = load(target, param)
    chosen = backends.load(backend)
    options = compile_options(kind, schedule, option)
    if image_repo is not None:
        options["image_repo"] = image_repo
    notes: list[str] = []
    with located(pipeline):
        text = backends.compile_document(
            chosen, document, pipeline.locate, notes=notes, functions=pipeline.step_functions(), **options
        )
    for note in notes:  # what the image check could not verify, as `validate` prints it
        print(f"note: {note}", file=sys.stderr)
    emit(text, output)


@command("validate")
@report_errors
def validate_command(
    target: Target,
    backend: Annotated[
        str | None,
        Option("--backend", "-b", help="Also compile for this backend and check its output."),
    ] = None,
    param: Params = None,
    option: Options = None,
    image_repo: ImageRepo = None,
) -> None:
    """Check a pipeline and report every problem as file:line: message."""
    from mlopsdsl import backends
    from mlopsdsl._compile import located
    from mlopsdsl.errors import ValidationError

    pipeline, document = load(target, param)
    checked = "the IR"
    notes: list[str] = []
    if backend is not None:
        chosen = backends.load(backend)
        options = compile_options(None, None, option)  # what the output depends on (kfp: store=)
        if image_repo is not None:
            options["image_repo"] = image_repo
        with located(pipeline):
            text = backends.compile_document(
                chosen, document, pipeline.locate, notes=notes, functions=pipeline.step_functions(), **options
            )
        if isinstance(chosen, backends.Validates):
            problems = chosen.validate_compiled(text)
            if problems:
                raise ValidationError(problems)
            checked = f"the IR and the {chosen.name} output"
        else:
            checked = f"the IR (backend {chosen.name} has no checks of its own; it compiled)"
    root = document.pipeline
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"ok: pipeline {root.name!r}: {len(root.tasks)} tasks, {len(document.steps)} steps; checked {checked}"
    )


@command("graph")
@report_errors
def graph_command(
    target: Target,
    format: Annotated[str, Option("--format", "-f", help="mermaid, dot or svg.")] = "mermaid",
    output: Output = None,
) -> None:
    """Draw the pipeline's DAG as Mermaid, Graphviz DOT or SVG."""
    from mlopsdsl import graph

    if format not in graph.FORMATS:
        print(f"error: unknown format {format!r}; choose one of {', '.join(graph.FORMATS)}", file=sys.stderr)
        raise Exit(EXIT_USER)
    document = load_document(target, None)
    emit(graph.render(document, format), output)


@command("backends")
@report_errors
def backends_command() -> None:
    """List the installed backends."""
    from mlopsdsl import backends

    found = backends.available()
    if not found:
        print("no backends installed")
        return
    width = max(len(b.name) for b in found)
    for info in found:
        dist = f"{info.distribution} {info.version}" if info.distribution else "?"
        print(f"{info.name.ljust(width)}  {dist}  ({info.target})")
