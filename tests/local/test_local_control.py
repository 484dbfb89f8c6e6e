"""Control flow in the local runner: maps expand as the run goes, conditions decide, exit handlers run last."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mlopsdsl as ml

CONTROL = """
from pathlib import Path
import mlopsdsl as ml

class Box:
    def __init__(self, size):
        self.size = size

@ml.step
def boxes(n: int) -> list[int]:
    return list(range(1, n + 1))

@ml.step
def pack(size: int) -> Box:
    return Box(size)

@ml.step
def grow(box: Box) -> Box:
    return Box(box.size * 10)

@ml.step
def weigh(items: list[Box]) -> int:
    return sum(b.size for b in items)

@ml.pipeline
def map_of_map(n: int = 3) -> int:
    packed = pack.map(size=boxes(n=n))
    return weigh(items=grow.map(box=packed))

@ml.step
def fails(x: int) -> int:
    raise ValueError("no")

@ml.step
def echo(x: int) -> int:
    return x

@ml.pipeline
def guarded_by_failure(x: int = 1) -> int:
    gate = fails(x=x)
    with ml.when(gate > 0):
        echo(x=x)
    return echo(x=x)

@ml.step
def note(folder: str, status: str) -> None:
    (Path(folder) / "status").write_text(status)
    raise RuntimeError("the exit handler fails too")

@ml.pipeline(on_exit=note)
def exit_fails(folder: str, x: int = 1) -> int:
    return echo(x=x)

@ml.step
def count(folder: str, x: int) -> int:
    marker = Path(folder) / f"ran-{x}"
    marker.write_text(str(int(marker.read_text()) + 1 if marker.exists() else 1))
    if (Path(folder) / "break").exists() and x == 2:
        raise RuntimeError("element 2 breaks")
    return x

@ml.pipeline
def resumable(folder: str, xs: list[int] = [1, 2, 3]) -> int:
    counts = count.map(x=xs, folder=folder)
    return weigh_ints(values=counts)

@ml.step
def weigh_ints(values: list[int]) -> int:
    return sum(values)
"""


def test_a_map_over_the_stored_outputs_of_a_map(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(CONTROL, name="controlmod")
    result = ml.run(mod.map_of_map, n=3, home=tmp_path, progress=False)
    assert result.output == 60
    tasks = {s.task: s.status for s in result.steps}
    assert {"pack[0]", "pack[2]", "grow[0]", "grow[2]"} <= set(tasks)
    assert tasks["pack"] == "succeeded" and tasks["grow"] == "succeeded"


def test_a_failed_condition_source_skips_its_block(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(CONTROL, name="controlmod2")
    result = ml.run(mod.guarded_by_failure, home=tmp_path, progress=False, check=False)
    assert {s.task: s.status for s in result.steps} == {
        "fails": "failed",
        "echo": "skipped",
        "echo-2": "succeeded",
    }


def test_a_failing_exit_handler_fails_the_run(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(CONTROL, name="controlmod3")
    folder = tmp_path / "f"
    folder.mkdir()
    with pytest.raises(ml.RunError, match="step 'note' failed: RuntimeError: the exit handler fails too"):
        ml.run(mod.exit_fails, folder=str(folder), home=tmp_path, progress=False)
    assert (folder / "status").read_text() == "Succeeded"


def test_resume_reruns_only_the_failed_element(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(CONTROL, name="controlmod4")
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "break").touch()
    first = ml.run(mod.resumable, folder=str(folder), home=tmp_path, progress=False, check=False, cache=False)
    assert {s.task: s.status for s in first.steps if s.task.startswith("count[")} == {
        "count[0]": "succeeded",
        "count[1]": "failed",
        "count[2]": "succeeded",
    }
    (folder / "break").unlink()
    again = ml.run(
        mod.resumable, folder=str(folder), home=tmp_path, progress=False, resume=first.run_id, cache=False
    )
    assert again.output == 6
    assert [(folder / f"ran-{x}").read_text() for x in (1, 2, 3)] == ["1", "2", "1"]


def test_not_run_steps_are_recorded(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    source = (
        CONTROL
        + """
@ml.pipeline
def gated(x: int = 1) -> int:
    value = echo(x=x)
    with ml.when(value > 5):
        big = echo(x=100)
    with ml.otherwise():
        small = echo(x=-1)
    return ml.one_of(big, small)
"""
    )
    mod = user_module(source, name="controlmod5")
    result = ml.run(mod.gated, home=tmp_path, progress=False)
    assert result.output == -1
    statuses = {s.task: s.status for s in result.steps}
    assert statuses == {"echo": "succeeded", "echo-2": "not-run", "echo-3": "succeeded"}
    record = json.loads(next((result.run_dir / "steps").glob("echo-2*.json")).read_text())
    assert record["status"] == "not-run" and "condition" in record["reason"]


DATASETS = """
from pathlib import Path
import mlopsdsl as ml

@ml.step
def write(n: int) -> ml.Dataset:
    data = ml.Dataset.new("rows.txt")
    Path(data.path).write_text("x" * n)
    return data

@ml.step
def sizes(parts: list[ml.Dataset]) -> list[int]:
    return [len(Path(p.path).read_text()) for p in parts]

@ml.pipeline
def fan_in(ns: list[int] = [1, 3, 0]) -> list[int]:
    return sizes(parts=write.map(n=ns))
"""


def test_fan_in_of_artifacts(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(DATASETS, name="datasetsmod")
    assert ml.run(mod.fan_in, home=tmp_path, progress=False).output == [1, 3, 0]
    assert ml.run(mod.fan_in, home=tmp_path, progress=False, in_process=True, cache=False).output == [1, 3, 0]


TOLERANT = """
import mlopsdsl as ml

class Box:
    def __init__(self, size):
        self.size = size

@ml.step
def pack(size: int) -> Box:
    if size % 2:
        raise ValueError(f"no box of size {size}")
    return Box(size)

@ml.step
def sizes(items: list[Box]) -> list[int]:
    return [b.size for b in items]

@ml.step
def note(folder: str, status: str) -> None:
    with open(folder + "/status", "w") as out:
        out.write(status)

@ml.pipeline(on_exit=note)
def tolerant(folder: str, ns: list[int]) -> list[int]:
    return sizes(items=pack.map(size=ns, allow_failures=True))

@ml.pipeline(on_exit=note)
def most(folder: str, ns: list[int]) -> list[int]:
    return sizes(items=pack.map(size=ns, min_success=0.75))

@ml.pipeline(on_exit=note)
def half(folder: str, ns: list[int]) -> list[int]:
    return sizes(items=pack.map(size=ns, min_success=0.5))

@ml.pipeline
def inner(size: int) -> Box:
    return pack(size=size)

@ml.pipeline
def tolerant_sub(ns: list[int]) -> list[Box]:
    return inner.map(size=ns, allow_failures=True)
"""


def test_a_tolerant_map_of_stored_values_reports_what_failed(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(TOLERANT, name="tolerantmod")
    folder = tmp_path / "f"
    folder.mkdir()
    result = ml.run(mod.tolerant, folder=str(folder), ns=[4, 1, 2, 3], home=tmp_path, progress=False)
    assert result.output == [4, 2]
    assert (folder / "status").read_text() == "Succeeded"  # tolerated failures do not fail the run
    pack = next(s for s in result.steps if s.task == "pack")
    assert pack.status == "succeeded"
    assert [(f["index"], f["task"], f["error"]["type"]) for f in pack.failed_elements] == [
        (1, "pack[1]", "ValueError"),
        (3, "pack[3]", "ValueError"),
    ]
    assert pack.failed_elements[0]["error"]["message"] == "no box of size 1"
    record = json.loads((result.run_dir / "steps" / "pack.json").read_text())
    assert record["failed_elements"] == pack.failed_elements and record["elements"] == 4


def test_a_tolerant_map_with_too_few_successes_fails_and_skips_its_consumers(
    tmp_path: Path, user_module
) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(TOLERANT, name="tolerantmod2")
    folder = tmp_path / "f"
    folder.mkdir()
    with pytest.raises(ml.RunError, match=r"map 'pack': 2 of 4 elements succeeded, but min_success=0.75 needs 3; "
                       r"failed elements: 1, 3"):  # fmt: skip
        ml.run(mod.most, folder=str(folder), ns=[4, 1, 2, 3], home=tmp_path, progress=False)
    assert (folder / "status").read_text() == "Failed"
    result = ml.run(mod.half, folder=str(folder), ns=[4, 1, 2, 3], home=tmp_path, progress=False)
    assert result.output == [4, 2]


def test_a_sub_pipeline_map_cannot_be_tolerant(user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(TOLERANT, name="tolerantmod3")
    problems = mod.tolerant_sub.problems()
    assert [p.code for p in problems] == ["bad-map-option"]
    assert "a sub-pipeline's map cannot be tolerant" in problems[0].message
    assert (
        problems[0].location is not None
        and problems[0].location.line
        == TOLERANT.splitlines().index("    return inner.map(size=ns, allow_failures=True)") + 1
    )
