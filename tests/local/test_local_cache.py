"""The local runner's cache rule for identical calls in one run: computed once, whatever the timing.

Each step here appends a line to a file when it really runs, so the tests count executions, not records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlopsdsl as ml

SOURCE = """
import time
from pathlib import Path
import mlopsdsl as ml

@ml.step
def slow(folder: str, x: int) -> int:
    with open(Path(folder) / "slow.log", "a") as log:
        log.write(f"{x}\\n")
    time.sleep(0.3)
    return x * 10

@ml.step(cache=False)
def uncached(folder: str, x: int) -> int:
    with open(Path(folder) / "uncached.log", "a") as log:
        log.write(f"{x}\\n")
    return x

@ml.step
def first_call_fails(folder: str) -> int:
    mark = Path(folder) / "failed-once"
    if not mark.exists():
        mark.write_text("")
        time.sleep(0.3)
        raise RuntimeError("the first call fails")
    return 1

@ml.step
def total(values: list[int]) -> int:
    return sum(values)

@ml.pipeline
def twins(folder: str) -> tuple[int, int]:
    return slow(folder=folder, x=1), slow(folder=folder, x=1)

@ml.pipeline
def twins_uncached(folder: str) -> tuple[int, int]:
    return uncached(folder=folder, x=1), uncached(folder=folder, x=1)

@ml.pipeline
def mapped(folder: str) -> int:
    return total(values=slow.map(x=[2, 2, 3, 2], folder=folder))

@ml.pipeline
def twins_failing(folder: str) -> tuple[int, int]:
    return first_call_fails(folder=folder), first_call_fails(folder=folder)
"""


def _runs(folder: Path, name: str) -> list[str]:
    log = folder / f"{name}.log"
    return log.read_text().split() if log.exists() else []


def _record(result: ml.RunResult, task: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((result.run_dir / "steps" / f"{task}.json").read_text())
    return data


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_identical_calls_in_one_run_are_computed_once(tmp_path: Path, user_module, in_process: bool) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(SOURCE, name=f"twins{int(in_process)}")
    folder = tmp_path / "marks"
    folder.mkdir()
    result = ml.run(
        mod.twins, folder=str(folder), home=tmp_path / "home", progress=False, in_process=in_process
    )
    assert result.outputs == {"output_0": 10, "output_1": 10}
    assert _runs(folder, "slow") == ["1"]  # one process ran, although both were ready at once
    assert {s.task: s.status for s in result.steps} == {"slow": "succeeded", "slow-2": "cached"}
    assert _record(result, "slow-2")["reused_from"] == f"run {result.run_id} task slow"


def test_without_the_cache_identical_calls_run_each(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(SOURCE, name="twins_off")
    folder = tmp_path / "marks"
    folder.mkdir()
    home = tmp_path / "home"
    result = ml.run(mod.twins, folder=str(folder), home=home, progress=False, in_process=True, cache=False)
    assert _runs(folder, "slow") == ["1", "1"]
    assert {s.status for s in result.steps} == {"succeeded"}
    result = ml.run(mod.twins_uncached, folder=str(folder), home=home, progress=False, in_process=True)
    assert _runs(folder, "uncached") == ["1", "1"]  # a step with cache=False always runs
    assert {s.status for s in result.steps} == {"succeeded"}


def test_identical_elements_of_a_map_are_computed_once(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(SOURCE, name="mapped")
    folder = tmp_path / "marks"
    folder.mkdir()
    result = ml.run(mod.mapped, folder=str(folder), home=tmp_path / "home", progress=False, max_parallel=4)
    assert result.output == 90
    assert sorted(_runs(folder, "slow")) == ["2", "3"]
    statuses = {s.task: s.status for s in result.steps if s.task.startswith("slow[")}
    assert statuses == {
        "slow[0]": "succeeded",
        "slow[1]": "cached",
        "slow[2]": "succeeded",
        "slow[3]": "cached",
    }


def test_when_the_first_of_identical_calls_fails_the_next_one_runs(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(SOURCE, name="twins_fail")
    folder = tmp_path / "marks"
    folder.mkdir()
    result = ml.run(
        mod.twins_failing, folder=str(folder), home=tmp_path / "home", progress=False, check=False
    )
    assert not result.ok
    statuses = {s.task: s.status for s in result.steps}
    assert statuses == {"first_call_fails": "failed", "first_call_fails-2": "succeeded"}
