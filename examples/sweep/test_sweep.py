"""The sweep trains one model per setting (at most two at a time), and the fan-in step keeps the best:
locally and through every backend's emulator."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from conftest import assert_picture_is_current, run_on

import mlopsdsl as ml
from sweep.pipeline import Best, digits_sweep, pick

GRID = [0.001, 1.0, 0.1]


def check_best(c: float, accuracy: float, tried: int, model: ml.Model) -> None:
    assert (c, tried) == (1.0, 3)  # 0.001 regularises the digits into mush; 1.0 beats 0.1 on them
    assert accuracy > 0.9
    fitted = pickle.loads(Path(model.path).read_bytes())
    assert fitted.C == 1.0
    assert model.metadata == {"c": 1.0, "accuracy": accuracy}


def test_local_run_keeps_the_best_of_parallel_trials(tmp_path: Path) -> None:
    result = ml.run(digits_sweep, cs=GRID, home=tmp_path / "home", progress=False)
    out = result.outputs
    check_best(out["c"], out["accuracy"], out["tried"], out["model"])
    trials = [s for s in result.steps if s.task.startswith("trial[")]
    assert len(trials) == 3 and all(s.status == "succeeded" for s in trials)
    assert most_at_once(result.run_dir, [s.task for s in trials]) <= 2  # max_parallel=2


def most_at_once(run_dir: Path, tasks: list[str]) -> int:
    """The most of ``tasks`` that were running at one moment, from the runner's records."""
    spans = [json.loads((run_dir / "steps" / f"{task}.json").read_text()) for task in tasks]
    events = sorted([(s["started"], 1) for s in spans] + [(s["ended"], -1) for s in spans])
    running = most = 0
    for _, change in events:  # an end sorts before a start at the same instant
        running += change
        most = max(most, running)
    return most


def test_runs_through_every_backend(backend: str, tmp_path: Path) -> None:
    run = run_on(backend, digits_sweep, {"cs": GRID}, tmp_path)
    assert run.outputs["c"] == 1.0 and run.outputs["tried"] == 3 and run.outputs["accuracy"] > 0.9
    assert sum(1 for task in run.tasks if "trial" in task and "[" in task) == 3


def test_pick_breaks_ties_by_the_first() -> None:
    models = [ml.Model(path=f"/m{i}") for i in range(3)]
    assert pick(models, [0.5, 0.9, 0.9], [1.0, 2.0, 3.0]) == Best(models[1], 2.0, 0.9, 3)


@pytest.mark.parametrize("cs", [[0.5], [0.01, 0.02]])
def test_pick_takes_any_grid(cs: list[float]) -> None:
    models = [ml.Model(path=f"/m{i}") for i in range(len(cs))]
    assert pick(models, [0.1] * len(cs), cs).c == cs[0]


def test_picture_is_current() -> None:
    assert_picture_is_current("sweep")
