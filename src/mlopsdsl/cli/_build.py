"""``mlopsdsl build``: write the build contexts of a pipeline's images, and build and push them on request."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

from mlopsdsl.cli._commands import ImageRepo, Params, Target
from mlopsdsl.cli._decl import Option, command
from mlopsdsl.cli._errors import report_errors


@command("build")
@report_errors
def build_command(
    target: Target,
    output: Annotated[
        str,
        Option("--output", "-o", help="Folder for the build contexts (one per image) and images.json."),
    ] = "build",
    image_repo: ImageRepo = None,
    code: Annotated[
        str, Option("--code", help="How the steps' code ships: 'value' (default) or 'import'.")
    ] = "value",
    push: Annotated[
        bool, Option("--push", help="Build and push each image with docker buildx, podman or buildah.")
    ] = False,
    hashes: Annotated[
        bool, Option("--hashes/--no-hashes", help="Pin each file's sha256 in the lock (pip download).")
    ] = True,
    param: Params = None,
) -> None:
    """Write a build context (Dockerfile, pinned lock, your code) for each image the pipeline's steps need."""
    from mlopsdsl import images
    from mlopsdsl.cli._commands import load
    from mlopsdsl.errors import ParameterError, ValidationError
    from mlopsdsl.images._build import push as push_images
    from mlopsdsl.images._build import write_contexts

    if code not in ("value", "import"):
        raise ParameterError(f"--code {code!r}: choose 'value' or 'import'")
    pipeline, document = load(target, param)
    repo = image_repo or f"mlopsdsl/{document.root}"
    functions = pipeline.step_functions()
    built = images.plan(document, functions, repo, code)
    problems, _ = images.check(document, functions, image=None, code=code, built=built)
    if problems:
        from mlopsdsl.errors import Problem

        raise ValidationError([Problem(pipeline.locate(p.location), p.code, p.message) for p in problems])
    if not built.images:
        print(f"pipeline {document.root!r}: no step needs more than the stock image; nothing to build")
        return
    written = write_contexts(built, Path(output), hashes=hashes)
    for item in written:
        lock = f"{len(item.image.pins)} pinned" + (", hashed" if item.hashed and item.image.pins else "")
        print(f"{item.image.tag}  {item.folder}  ({lock}; steps {', '.join(item.image.steps)})")
        if item.note:
            print(f"note: {item.image.tag}: no hashes in the lock: {item.note}", file=sys.stderr)
    if push:
        for command in push_images(written):
            print(f"ran: {command}", file=sys.stderr)
    elif image_repo is not None:
        print(f"build and push them (--push), then compile with --image-repo {image_repo}", file=sys.stderr)
