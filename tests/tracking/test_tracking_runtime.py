"""The runtime's side of ``ml.log_metric``/``ml.current()``: checks, no-ops outside a run, what a failed
step keeps, the call spec's ``context`` and ``metrics`` sections, and ``mlopsdsl runs show``."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl.cli import app
from mlopsdsl.runtime import execute
from mlopsdsl.runtime.tracking import Current


def test_outside_a_run_nothing_is_recorded_and_a_debug_note_is_left(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="mlopsdsl"):
        ml.log_metric("loss", 0.5, step=1)
        ml.log_metrics({"a": 1, "b": 2.5})
    assert "outside a run" in caplog.text and "loss=0.5" in caplog.text
    here = ml.current()
    assert here == Current() and not here.in_run and here.run_id is None


@pytest.mark.parametrize(
    ("name", "value", "step", "error"),
    [
        ("", 1.0, None, ValueError),
        (3, 1.0, None, ValueError),
        ("x", math.nan, None, ValueError),
        ("x", math.inf, None, ValueError),
        ("x", True, None, TypeError),
        ("x", "1.5", None, TypeError),
        ("x", None, None, TypeError),
        ("x", 1.0, -1, ValueError),
        ("x", 1.0, 1.5, ValueError),
    ],
)
def test_bad_metrics_fail_inside_and_outside_a_run(name: Any, value: Any, step: Any, error: type) -> None:
    with pytest.raises(error):
        ml.log_metric(name, value, step=step)


def _spec(fn_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "step": fn_name,
        "code": {"mode": "import", "module": __name__, "qualname": fn_name},
        "inputs": [],
        "outputs": [],
        "returns": "none",
        **extra,
    }


def logs_then_fails() -> None:
    ml.log_metric("seen", 1)
    raise RuntimeError("boom")


def logs_context() -> None:
    here = ml.current()
    ml.log_metric("attempt", here.attempt or 0)
    ml.log_metric("index", -1 if here.map_index is None else here.map_index)


def test_a_failed_step_keeps_what_it_logged() -> None:
    record = execute(_spec("logs_then_fails"), function=logs_then_fails)
    assert not record["ok"]
    assert [(p["name"], p["value"]) for p in record["metrics"]] == [("seen", 1.0)]


def test_context_fields_come_from_the_spec_env_and_args(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RUN_NAME", "wf-1")
    context = {"backend": "argo", "run_id": {"env": "RUN_NAME"}, "retries": {"arg": "r"}, "map_index": 4}
    spec = _spec("logs_context", context=context, metrics={"file": str(tmp_path / "m.json")})
    seen: list[Current] = []

    def capture() -> None:
        seen.append(ml.current())
        logs_context()

    record = execute(spec, function=capture, args={"r": "2"})
    assert record["ok"], record
    assert seen[0] == Current("wf-1", None, None, "logs_context", 3, 4, "argo")
    written = json.loads((tmp_path / "m.json").read_text())
    assert [(p["name"], p["value"]) for p in written] == [("attempt", 3.0), ("index", 4.0)]


@pytest.mark.parametrize(
    "section",
    [
        {"context": {"colour": "red"}},
        {"context": {"run_id": {"file": "x"}}},
        {"context": {"attempt": 1.5}},
        {"metrics": {"file": 3}},
        {"metrics": {"where": "x"}},
    ],
)
def test_malformed_sections_fail_for_good(section: dict[str, Any]) -> None:
    record = execute(_spec("logs_context", **section), function=logs_context)
    assert not record["ok"] and record["error"]["phase"] == "spec" and record["error"]["retry"] is False


def test_steps_in_threads_never_see_each_others_metrics() -> None:
    barrier = threading.Barrier(2)

    def one(name: str) -> Any:
        def fn() -> None:
            ml.log_metric(name, 1)
            barrier.wait(timeout=10)
            ml.log_metric(name, 2)

        return fn

    records: dict[str, Any] = {}
    threads = [
        threading.Thread(target=lambda n=n: records.update({n: execute(_spec("x"), function=one(n))}))
        for n in ("a", "b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in ("a", "b"):
        assert {p["name"] for p in records[name]["metrics"]} == {name}


def test_runs_show_lists_metrics(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from tracking_pipelines import tracked

    result = ml.run(tracked, home=tmp_path, progress=False)
    shown = CliRunner().invoke(app, ["runs", "show", result.run_id, "--home", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "metric loss = 0.125  (3 points, last at step 2)" in shown.output
    assert "metric accuracy = 0.75" in shown.output
    as_json = CliRunner().invoke(app, ["runs", "show", result.run_id, "--home", str(tmp_path), "--json"])
    steps = {s["task"]: s for s in json.loads(as_json.output)["steps"]}
    assert len(steps["train"]["metrics"]) == 5


@ml.step
def element(x: int) -> int:
    ml.log_metric("index", ml.current().map_index or 0)
    return x


@ml.pipeline
def mapped(xs: list[int]) -> list[int]:
    return element.map(x=xs)


def test_each_map_element_knows_its_index(tmp_path: Path) -> None:
    result = ml.run(mapped, xs=[5, 6, 7], home=tmp_path, progress=False)
    assert result.output == [5, 6, 7]
    assert {t: m["index"] for t, m in result.metrics.items()} == {
        "element[0]": 0.0,
        "element[1]": 1.0,
        "element[2]": 2.0,
    }


def test_without_a_pushgateway_or_mlflow_the_runtime_imports_nothing_for_them(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    spec = {
        **_spec("logs_context"),
        "code": {"mode": "import", "module": "probe_steps", "qualname": "step"},
        "sys_path": [str(tmp_path)],
        "context": {"backend": "kfp", "run_id": "r"},
        "result": str(tmp_path / "result.json"),
    }
    (tmp_path / "probe_steps.py").write_text(
        "import mlopsdsl as ml\n\ndef step():\n    ml.log_metric('a', 1)\n"
    )
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    probe = textwrap.dedent(
        """
        import runpy, sys
        sys.argv = ["runtime", "spec.json"]
        try:
            runpy.run_module("mlopsdsl.runtime", run_name="__main__")
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        heavy = ("mlflow", "urllib.request", "http", "socket", "logging", "mlopsdsl.runtime.push")
        heavy += ("mlopsdsl.runtime._mlflow",)
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MLOPSDSL_PUSHGATEWAY", "MLFLOW_TRACKING_URI")}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert json.loads((tmp_path / "result.json").read_text())["metrics"][0]["name"] == "a"


def test_logs_of_a_local_task(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from tracking_pipelines import flaky

    folder = tmp_path / "state"
    folder.mkdir()
    result = ml.run(flaky, home=tmp_path / "home", progress=False, folder=str(folder))
    shown = CliRunner().invoke(app, ["logs", result.run_id, "wobbly", "--home", str(tmp_path / "home")])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("--- wobbly attempt") == 3
    assert "RuntimeError: try 1 fails" in shown.output and "RuntimeError: try 2 fails" in shown.output
    missing = CliRunner().invoke(app, ["logs", result.run_id, "nope", "--home", str(tmp_path / "home")])
    assert missing.exit_code == 2 and "kept no log for task 'nope'" in missing.output
