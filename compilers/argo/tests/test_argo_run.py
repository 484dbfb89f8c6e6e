"""The compiled containers really run: ``mlopsdsl.testing.run_argo`` substitutes ``{{...}}`` as Argo does
and expands ``$(...)`` as Kubernetes does, runs each container's command with the real step runtime as a
subprocess, and hostile strings come out exactly as plain Python gives them."""

from __future__ import annotations

from pathlib import Path

import argo_pipelines as pipes
import pytest
import yaml
from mlopsdsl_argo import ArgoBackend
from mlopsdsl_argo._launch import LAUNCHER, launcher
from mlopsdsl_argo.testing import kube_expand, substitute

import mlopsdsl as ml
from mlopsdsl.testing import EmulatedRun, EmulatorError, run_argo


def expected(text: str) -> dict[str, object]:
    """What ``hostile`` returns, computed by calling the step functions as plain Python."""
    first = pipes.echo(text=text)
    constant = pipes.echo(text=pipes.HOSTILE, suffix=" {{tasks.x.outputs.result}}")
    metrics = pipes.measure(text=constant)
    again = pipes.echo(text=first, suffix=metrics.label)
    return {
        "output_0": again,
        "output_1": pipes.echo(text=pipes.echo(text=first, suffix="?")),
        "output_2": 5.0,
        "output_3": metrics.label,
    }


def run(tmp_path: Path, params: dict[str, object]) -> EmulatedRun:
    return run_argo(ml.compile(pipes.hostile, backend=ArgoBackend()), params, workdir=tmp_path)


def test_hostile_default_reaches_the_steps_unchanged(tmp_path: Path) -> None:
    result = run(tmp_path, {})
    assert result.succeeded, result.logs
    # output_2 is an object passed as an artifact and read back by the next step; output_3 is a field of a
    # value, declared whole and selected by the reader (the outputs annotation says which field).
    assert result.outputs == expected(pipes.HOSTILE)
    assert len(result.attempts) == 9 and set(result.tasks.values()) == {"Succeeded"}


@pytest.mark.parametrize(
    "text", ["plain", "{{inputs.parameters.text}} $(MLOPSDSL_RUNTIME) $$ '\" ünï\n日本\t\\ 😀"]
)
def test_submitted_values_reach_the_steps_unchanged(tmp_path: Path, text: str) -> None:
    assert run(tmp_path, {"text": text}).outputs == expected(text)


def test_the_launcher_holds_nothing_argo_or_kubernetes_would_expand() -> None:
    for program in (LAUNCHER, launcher("image")):
        assert "{{" not in program and "$(" not in program and "$$" not in program
        assert substitute(program, {}) == program and kube_expand(program, {"X": "y"}) == program


def test_runtime_image_runs_on_the_images_mlopsdsl(tmp_path: Path) -> None:
    """``runtime="image"`` end to end: each pod runs the step runtime of the mlopsdsl its Python has, here
    this environment's (``isolated=False`` keeps its site-packages, as an image with mlopsdsl would), and
    gives what the bundled document gives."""
    text = ml.compile(pipes.hostile, backend=ArgoBackend(), runtime="image")
    result = run_argo(text, {}, workdir=tmp_path / "image", isolated=False)
    assert result.succeeded, result.logs
    assert result.outputs == expected(pipes.HOSTILE)
    assert set(result.tasks.values()) == {"Succeeded"}
    # Nothing is shipped: in a stock pod (no site-packages) the same document cannot find the runtime.
    stock = run_argo(text, {}, workdir=tmp_path / "stock")
    assert not stock.succeeded
    assert "No module named 'mlopsdsl'" in next(iter(stock.logs.values()))


def test_a_failing_step_fails_the_run_after_its_retries(tmp_path: Path) -> None:
    manifest = yaml.safe_load(ml.compile(pipes.options, backend=ArgoBackend()))
    heavy = next(t for t in manifest["spec"]["templates"] if t["name"] == "heavy")
    env = heavy["container"]["env"]
    env[:] = [e for e in env if e["name"] != "MLOPSDSL_PACKAGES"]  # no network here: skip the pip install
    result = run_argo(yaml.safe_dump(manifest), {"x": None}, workdir=tmp_path)
    assert result.status == "Failed" and result.failed == ["heavy"]
    assert result.attempts["heavy"] == 4  # Retry(attempts=4)
    assert result.waits["heavy"] == [10.0, 30.0, 90.0]  # Retry(backoff="10s", factor=3), not slept
    assert "TypeError" in result.logs["heavy"]
    assert result.tasks == {"heavy": "Failed", "heavy-2": "Omitted"}


def test_the_emulator_refuses_what_it_does_not_cover(tmp_path: Path) -> None:
    manifest = yaml.safe_load(ml.compile(pipes.chain, backend=ArgoBackend()))
    manifest["spec"]["templates"][0]["dag"]["tasks"][0]["when"] = "{{workflow.name}} =~ 'x'"
    with pytest.raises(EmulatorError, match="outside the subset"):
        run_argo(yaml.safe_dump(manifest), {}, workdir=tmp_path)
    manifest["spec"]["templates"][0]["dag"]["tasks"][0]["withSequence"] = {"count": "2"}
    with pytest.raises(EmulatorError, match="withSequence is not covered"):
        run_argo(yaml.safe_dump(manifest), {}, workdir=tmp_path)
    with pytest.raises(EmulatorError, match="no parameter 'nope'"):
        run_argo(ml.compile(pipes.chain, backend=ArgoBackend()), {"nope": 1}, workdir=tmp_path)


def test_the_emulator_module_imports_neither_hera_nor_the_argo_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mlopsdsl_argo.testing; "
        "assert not any(m.split('.')[0] in ('hera', 'argo_workflows') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_helper_program_holds_nothing_argo_or_kubernetes_would_expand() -> None:
    from mlopsdsl_argo._helpers import HELPER

    assert "{{" not in HELPER and "$(" not in HELPER and "$$" not in HELPER
    assert substitute(HELPER, {}) == HELPER and kube_expand(HELPER, {"X": "y"}) == HELPER
