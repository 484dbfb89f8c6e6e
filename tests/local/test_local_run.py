"""The local runner: values through every shape of pipeline, on both executors, and the run records."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import local_pipelines as lp
import pytest

import mlopsdsl as ml


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_values_flow_through_every_shape(tmp_path: Path, in_process: bool) -> None:
    result = ml.run(lp.everything, n=6, home=tmp_path, progress=False, in_process=in_process)
    # source 6 -> inner: add 7 -> split 3/4 -> left = 3 + 6 = 9, right = 4 + 1 = 5 -> 14
    assert result.ok
    assert result.outputs["output_0"] == 14
    assert result.outputs["output_1"] == "1.40/5.0/3/blue"  # scaled(15) / 100 via the module helper
    assert result.outputs["output_2"] == pytest.approx(1 / 15)
    tasks = [s.task for s in result.steps]
    assert "inner/add" in tasks and "inner/split" in tasks  # the sub-pipeline ran, expanded inline
    # add(a=left, b=right) is called twice: identical calls in one run are computed once.
    assert {s.task: s.status for s in result.steps if s.status != "succeeded"} == {"add-4": "cached"}
    assert _reused_from(result, "add-4") == f"run {result.run_id} task add-3"


def _reused_from(result: ml.RunResult, task: str) -> str:
    return str(json.loads((result.run_dir / "steps" / f"{task}.json").read_text())["reused_from"])


def test_object_outputs_come_back_as_the_users_class(tmp_path: Path) -> None:
    @ml.pipeline
    def points() -> lp.Point:
        return lp.make_point(x=1.0, y=2.0)

    result = ml.run(points, home=tmp_path, progress=False)
    assert isinstance(result.output, lp.Point)
    assert (result.output.x, result.output.y) == (1.0, 2.0)


def test_dataclass_outputs_are_rebuilt_and_artifacts_are_files(tmp_path: Path) -> None:
    @ml.pipeline
    def shapes() -> tuple[lp.Metrics, ml.Dataset]:
        return lp.evaluate(x=3), lp.write_data(rows=3)

    result = ml.run(shapes, home=tmp_path, progress=False, in_process=True)
    metrics, data = result.outputs["output_0"], result.outputs["output_1"]
    assert metrics == lp.Metrics(accuracy=0.3, loss=0.25)
    assert isinstance(data, ml.Dataset) and data.metadata == {"rows": 3}
    assert Path(data.path).read_text().startswith("0,0\n1,1\n")
    step = result.step("write_data")
    assert len(step.outputs["output"]["sha256"]) == 64


def test_cache_hits_skip_steps_and_no_cache_bypasses(tmp_path: Path) -> None:
    first = ml.run(lp.everything, home=tmp_path, progress=False, in_process=True)
    # Only the second of the two identical calls add(a=left, b=right) reuses: the first one's result.
    assert [s.task for s in first.steps if s.cache_hit] == ["add-4"]
    assert _reused_from(first, "add-4") == f"run {first.run_id} task add-3"
    second = ml.run(lp.everything, home=tmp_path, progress=False, in_process=True)
    assert all(s.cache_hit and s.status == "cached" for s in second.steps)
    assert second.outputs == first.outputs
    third = ml.run(lp.everything, home=tmp_path, progress=False, in_process=True, cache=False)
    assert not any(s.cache_hit for s in third.steps)  # without the cache, identical calls run each
    other = ml.run(lp.everything, n=5, home=tmp_path, progress=False, in_process=True)
    assert other.step("source").cache_hit is False  # a new input value is a new key
    assert other.step("make_point").cache_hit is True  # inputs unchanged


HELPER_V1 = """
import mlopsdsl as ml

def helper(x):
    return x + 1

@ml.step
def work(x: int) -> int:
    return helper(x)

@ml.step(cache=False)
def never_cached(x: int) -> int:
    return x

@ml.pipeline
def p(x: int = 1) -> int:
    return never_cached(x=work(x=x))
"""


def test_changing_a_helper_changes_the_cache_key(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    mod = user_module(HELPER_V1, name="cachemod")
    first = ml.run(mod.p, home=home, progress=False, in_process=True)
    assert first.output == 2
    again = ml.run(mod.p, home=home, progress=False, in_process=True)
    assert again.step("work").cache_hit
    assert not again.step("never_cached").cache_hit  # cache=False on the step
    mod = user_module(HELPER_V1.replace("return x + 1", "return x + 100"), name="cachemod")
    changed = ml.run(mod.p, home=home, progress=False, in_process=True)
    assert not changed.step("work").cache_hit
    assert changed.output == 101


def test_run_records(tmp_path: Path) -> None:
    result = ml.run(lp.everything, home=tmp_path, progress=False, in_process=True)
    run_dir = tmp_path / "runs" / result.run_id
    assert run_dir == result.run_dir
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "succeeded" and run["params"] == {"n": 4, "colour": "blue"}
    assert run["outputs"]["output_0"] == {"kind": "json", "value": 10}
    assert {"started", "ended", "executor", "document_digest"} <= set(run)
    step = json.loads((run_dir / "steps" / "inner__split.json").read_text())
    assert step["status"] == "succeeded" and step["cache_hit"] is False
    assert step["location"].endswith("local_pipelines.py:101")
    assert len(step["attempts"]) == 1 and {"started", "ended"} <= set(step["attempts"][0])
    assert step["outputs"] == {"left": {"kind": "json", "value": 2}, "right": {"kind": "json", "value": 3}}
    assert (run_dir / "document.json").is_file()


def test_repr_and_html(tmp_path: Path) -> None:
    result = ml.run(lp.everything, home=tmp_path, progress=False, in_process=True)
    text = repr(result)
    assert result.run_id in text and "inner/split" in text and "output_0 = 10" in text
    assert "<table>" in result._repr_html_() and "inner/split" in result._repr_html_()


def test_a_step_defined_in_main_runs_by_value(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import collections
            import mlopsdsl as ml

            OFFSET = 5

            class Box:
                def __init__(self, v):
                    self.v = v

            def helper(x):
                return collections.Counter([x, x])[x] + OFFSET

            @ml.step
            def boxed(x: int) -> Box:
                return Box(helper(x))

            @ml.step
            def unbox(b: Box) -> int:
                return b.v

            @ml.pipeline
            def p(x: int = 1) -> int:
                return unbox(b=boxed(x=x))

            if __name__ == "__main__":
                print("result", ml.run(p, progress=False).output)
            """
        )
    )
    env = {"MLOPSDSL_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "result 7"


PARALLEL = """
import time
from pathlib import Path
import mlopsdsl as ml

@ml.step(cache=False)
def hold(folder: str, name: str) -> str:
    # Each step marks itself running, counts how many are, and stays a moment.
    running = Path(folder) / "running"
    running.mkdir(exist_ok=True)
    mine = running / name
    mine.touch()
    seen = len(list(running.iterdir()))
    time.sleep(0.3)
    seen = max(seen, len(list(running.iterdir())))
    (Path(folder) / f"{name}.seen").write_text(str(seen))
    mine.unlink()
    return name

@ml.pipeline
def p(folder: str) -> str:
    for name in ("b", "c", "d"):
        hold(folder=folder, name=name)
    return hold(folder=folder, name="a")
"""


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
@pytest.mark.parametrize("limit", [1, 2])
def test_independent_steps_run_together_up_to_max_parallel(
    tmp_path: Path, user_module, in_process: bool, limit: int
) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(PARALLEL, name=f"parallel{limit}{int(in_process)}")
    folder = tmp_path / "marks"
    folder.mkdir()
    result = ml.run(
        mod.p,
        folder=str(folder),
        home=tmp_path / "home",
        progress=False,
        in_process=in_process,
        max_parallel=limit,
    )
    assert result.outputs == {"output": "a"}
    seen = [int((folder / f"{name}.seen").read_text()) for name in "abcd"]
    assert max(seen) == limit
