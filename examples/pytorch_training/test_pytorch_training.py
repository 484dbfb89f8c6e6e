"""The PyTorch example trains for real: locally and through every backend's emulator, it beats a trivial
baseline, and it registers a model only when it is better than the registered one."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import assert_picture_is_current, run_on

import mlopsdsl as ml
from pytorch_training.pipeline import current_accuracy, digits_training, register

FAST = {"epochs": 40}
"""Fewer epochs than the default keep the tests quick; the net still reaches ~0.95 on the digits."""


def versions(registry: Path) -> list[str]:
    return sorted(p.name for p in registry.glob("v*"))


def test_local_run_beats_the_baseline_and_registers_once(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    result = ml.run(digits_training, registry=str(registry), **FAST, home=tmp_path / "home", progress=False)
    accuracy, baseline = result.outputs["accuracy"], result.outputs["baseline"]
    assert baseline < 0.15 < 0.9 < accuracy  # ten balanced classes: a constant guess is right ~1 time in 10
    assert versions(registry) == ["v1"]
    record = json.loads((registry / "current.json").read_text())
    assert record["accuracy"] == accuracy and record["version"] == "v1"
    assert (registry / "v1" / "weights.pt").is_file()

    again = ml.run(digits_training, registry=str(registry), **FAST, home=tmp_path / "home", progress=False)
    assert again.outputs["accuracy"] == accuracy  # seeded: the same model, so not better than itself
    assert again.step("register").status == "not-run"
    assert versions(registry) == ["v1"]


def test_a_better_model_replaces_the_registered_one(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "current.json").write_text(json.dumps({"version": "v0", "accuracy": 0.5}))
    ml.run(digits_training, registry=str(registry), **FAST, home=tmp_path / "home", progress=False)
    assert versions(registry) == ["v1"]
    assert json.loads((registry / "current.json").read_text())["accuracy"] > 0.9


def test_runs_through_every_backend(backend: str, tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    params = {"registry": str(registry), **FAST}
    run = run_on(backend, digits_training, params, tmp_path / "first")
    assert run.outputs["baseline"] < 0.15 < 0.9 < run.outputs["accuracy"]
    assert versions(registry) == ["v1"]
    assert any("register" in task and state == "Succeeded" for task, state in run.tasks.items())
    again = run_on(backend, digits_training, params, tmp_path / "second")
    # the condition did not hold: the engine skipped the block (KFP names it by its condition group)
    assert "Skipped" in again.tasks.values()
    assert not any("register" in task and state == "Succeeded" for task, state in again.tasks.items())
    assert versions(registry) == ["v1"]


def test_registry_steps_as_plain_python(tmp_path: Path) -> None:
    """Outside a pipeline a step is its function: the registry logic is tested without running anything."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "weights.pt").write_bytes(b"w")
    registry = tmp_path / "registry"
    assert current_accuracy(str(registry)) == 0.0
    registry.mkdir()
    assert register(ml.Model(path=str(model_dir)), 0.8, str(registry)) == "v1"
    assert register(ml.Model(path=str(model_dir)), 0.9, str(registry)) == "v2"
    assert current_accuracy(str(registry)) == 0.9


def test_steps_name_their_packages() -> None:
    """What an image must have reaches the IR (the emulators run with this machine's packages instead)."""
    document = digits_training.build()
    assert document.step("train").options.packages == ["torch==2.13.0", "numpy"]
    assert document.step("prepare").options.packages == ["scikit-learn", "numpy"]
    assert document.step("register").options.packages == []


def test_picture_is_current() -> None:
    assert_picture_is_current("pytorch_training")
