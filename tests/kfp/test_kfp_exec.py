"""The compiled containers really run: placeholders filled as KFP would, commands run with the real runtime.

Each command runs under ``python -I -S`` (no site-packages), so the step finds only what the package ships:
the runtime bundle written by the ``mlopsdsl-runtime`` task and the by-value payload in its call spec.
"""

from __future__ import annotations

from pathlib import Path

import kfp_pipelines as pipelines
import pytest
from kfp_emulator import Emulator, StepFailed

import mlopsdsl as ml


def test_quickstart_like_chain_runs_from_its_compiled_commands(tmp_path: Path) -> None:
    text = ml.compile(pipelines.chain_of(3), backend="kfp")
    emulator = Emulator(text, tmp_path)
    assert emulator.run({"x": 10}) == {"output": 13.0}
    runtime, *steps = emulator.commands
    assert runtime[5].endswith("artifacts/bundle")  # the runtime task wrote the bundle here
    assert all(step[5] == runtime[5] for step in steps)  # ... and every step ran from it


def test_everything_gives_what_the_local_runner_gives(tmp_path: Path) -> None:
    text = ml.compile(pipelines.everything, backend="kfp")
    outputs = Emulator(text, tmp_path).run()
    local = ml.run(pipelines.everything, home=tmp_path / "local", progress=False).outputs
    assert outputs["output_0"] == local["output_0"] == 9
    assert outputs["output_2"] == local["output_2"]
    # KFP renders 5.0 as "5" (numbers are float64 there): a float input may arrive as an int.
    assert outputs["output_1"].replace("/5/", "/5.0/") == local["output_1"]


def test_tricky_strings_reach_the_step_unchanged(tmp_path: Path) -> None:
    @ml.step
    def measure(text: str, extra: str | None = None) -> str:
        return f"{len(text)}:{text}|{extra}"

    @ml.pipeline(name="tricky")
    def tricky(text: str = "plain") -> str:
        return measure(text=text, extra=pipelines.TRICKY)

    value = pipelines.TRICKY + " {{$.outputs.parameters['output'].output_file}}"
    text = ml.compile(tricky, backend="kfp", functions=tricky.step_functions())
    outputs = Emulator(text, tmp_path).run({"text": value})
    assert outputs["output"] == f"{len(value)}:{value}|{pipelines.TRICKY}"


def test_a_failing_step_fails_its_container(tmp_path: Path) -> None:
    @ml.step
    def boom(x: int) -> int:
        raise ValueError(f"bad {x}")

    @ml.pipeline(name="fails")
    def fails() -> int:
        return boom(x=1)

    with pytest.raises(StepFailed, match="ValueError: bad 1"):
        Emulator(ml.compile(fails, backend="kfp", functions=fails.step_functions()), tmp_path).run()
