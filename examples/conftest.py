"""Helpers shared by the examples' own tests (run by the ``examples`` nox session, which installs the ML
libraries they need; the core suite only compiles the examples, against their golden files).

Every example is checked the same three ways: run by the local runner, compiled by every installed backend
and run through that backend's emulator, and its committed DAG picture compared with a fresh one.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import mlopsdsl as ml
from mlopsdsl import backends
from mlopsdsl.testing import EmulatedRun, emulate

ROOT = Path(__file__).parent.parent


def emulating_backends() -> list[str]:
    """Every installed backend that compiles and has an emulator: a new backend is covered unasked."""
    names = []
    for info in backends.available():
        backend = backends.load(info.name)
        if isinstance(backend, backends.Backend) and isinstance(backend, backends.Emulates):
            names.append(info.name)
    return names


BACKENDS = emulating_backends()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def compile_for_this_machine(pipeline: ml.Pipeline, backend: str) -> str:
    """The document ``backend`` compiles for ``pipeline``, as if its image already had every package.

    The steps' ``packages=`` are dropped from the IR and the steps run on a named image
    (``PREBUILT_IMAGE``), as they would when the image is built with them: a pod then installs nothing,
    which the emulators would otherwise do with pip, on every task. The libraries come from this
    interpreter instead (the nox session installs them here).
    """
    document = pipeline.build()
    steps = [
        dataclasses.replace(step, options=dataclasses.replace(step.options, packages=[]))
        for step in document.steps
    ]
    prebuilt = dataclasses.replace(document, steps=steps)
    chosen = backends.load(backend)
    # Named, not stock: the image check then trusts it to have what the steps import, as this venv does.
    return backends.compile_document(
        chosen, prebuilt, pipeline.locate, functions=pipeline.step_functions(), image=PREBUILT_IMAGE
    )


PREBUILT_IMAGE = "registry.example/mlopsdsl-examples:1"
"""The image the examples' emulated runs stand for: one built with every step's ``packages=``."""


def run_on(backend: str, pipeline: ml.Pipeline, params: dict[str, Any], workdir: Path) -> EmulatedRun:
    """Compile ``pipeline`` for ``backend`` and run the document through its emulator.

    The steps see this interpreter's site-packages (``isolated=False``), which stand for the image.
    """
    text = compile_for_this_machine(pipeline, backend)
    run = emulate(backend, text, params, workdir=workdir, isolated=False)
    assert run.succeeded, f"{backend}: failed tasks {run.failed}\n" + "\n".join(run.logs.values())
    return run


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``mlopsdsl ARGS`` in a process of its own, as a reader types it; it must succeed."""
    main = "from mlopsdsl.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", main, *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert result.returncode == 0, f"mlopsdsl {' '.join(args)}\n{result.stdout}{result.stderr}"
    return result


def assert_picture_is_current(example: str) -> None:
    """The committed ``pipeline.svg`` is what ``mlopsdsl graph`` draws now (regenerate it with the command
    in the message when the pipeline changes)."""
    target = f"examples/{example}/pipeline.py"
    picture = ROOT / "examples" / example / "pipeline.svg"
    drawn = cli("graph", target, "--format", "svg").stdout
    again = f"mlopsdsl graph {target} --format svg -o {picture.relative_to(ROOT)}"
    assert picture.is_file() and picture.read_text() == drawn, f"{picture.name} is stale: run `{again}`"
