"""The compiled containers really run: each command, with Argo's substitution and Kubernetes' expansion
done as they would do them, runs the real step runtime as a subprocess, and hostile strings come out
exactly as plain Python gives them."""

from __future__ import annotations

import json
from pathlib import Path

import argo_pipelines as pipes
import pytest
import yaml
from argo_emulator import Emulator, kube_expand, substitute
from mlopsdsl_argo import ArgoBackend
from mlopsdsl_argo._launch import LAUNCHER
from mlopsdsl_argo._values import armor

import mlopsdsl as ml


def expected(text: str) -> dict[str, object]:
    """What ``hostile`` returns, computed by calling the step functions as plain Python."""
    first = pipes.echo(text=text)
    constant = pipes.echo(text=pipes.HOSTILE, suffix=" {{tasks.x.outputs.result}}")
    metrics = pipes.measure(text=constant)
    again = pipes.echo(text=first, suffix=metrics.label)
    return {
        "again": again,
        "last": pipes.echo(text=pipes.echo(text=first, suffix="?")),
        "label": metrics.label,
    }


def run(tmp_path: Path, text: str | None = None) -> tuple[dict[str, object], Emulator]:
    manifest = yaml.safe_load(ml.compile(pipes.hostile, backend=ArgoBackend()))
    if text is not None:  # a value given at submission, as `mlopsdsl submit -p text=...` sends it
        manifest["spec"]["arguments"]["parameters"][0]["value"] = armor(text)
    emulator = Emulator(manifest, tmp_path)
    outputs = emulator.run()
    return {k: json.loads(v) for k, v in outputs["parameters"].items()}, emulator


def test_hostile_default_reaches_the_steps_unchanged(tmp_path: Path) -> None:
    outputs, emulator = run(tmp_path)
    want = expected(pipes.HOSTILE)
    assert outputs["output_0"] == want["again"]  # the label, selected from a dataclass, is part of it
    assert outputs["output_1"] == want["last"]
    assert outputs["output_2"] == 5.0  # an object passed as an artifact, read back by the next step
    assert "output_3" not in outputs  # a field of a value: Argo cannot select it, so it is not declared
    assert emulator.pods == 9


@pytest.mark.parametrize(
    "text", ["plain", "{{inputs.parameters.text}} $(MLOPSDSL_RUNTIME) $$ '\" ünï\n日本\t\\ 😀"]
)
def test_submitted_values_reach_the_steps_unchanged(tmp_path: Path, text: str) -> None:
    outputs, _ = run(tmp_path, text)
    assert outputs["output_0"] == expected(text)["again"]


def test_the_launcher_holds_nothing_argo_or_kubernetes_would_expand() -> None:
    assert "{{" not in LAUNCHER and "$(" not in LAUNCHER and "$$" not in LAUNCHER
    assert substitute(LAUNCHER, {}) == LAUNCHER and kube_expand(LAUNCHER, {"X": "y"}) == LAUNCHER


def test_a_failing_step_fails_its_pod(tmp_path: Path) -> None:
    manifest = yaml.safe_load(ml.compile(pipes.options, backend=ArgoBackend()))
    heavy = next(t for t in manifest["spec"]["templates"] if t["name"] == "heavy")
    env = heavy["container"]["env"]
    env[:] = [e for e in env if e["name"] != "MLOPSDSL_PACKAGES"]  # no network here: skip the pip install
    manifest["spec"]["arguments"]["parameters"][0]["value"] = "null"
    with pytest.raises(AssertionError, match="TypeError"):
        Emulator(manifest, tmp_path).run()
