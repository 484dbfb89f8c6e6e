"""Past runs from Python (``ml.runs``) and ``runs show`` without a run id: outputs loaded lazily and checked by
digest, per-task outputs, lineage back to the parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl.cli import app
from mlopsdsl.errors import RunError


@ml.step
def make(n: int) -> ml.Dataset:
    data = ml.Dataset.new("rows.txt")
    Path(data.path).write_text("x" * n)
    return data


@ml.step
def count(data: ml.Dataset, extra: int) -> int:
    return len(Path(data.path).read_text()) + extra


@ml.step
def label(n: int) -> str:
    return f"n={n}"


@ml.pipeline
def measured(n: int = 3) -> tuple[int, ml.Dataset, str]:
    data = make(n=n)
    return count(data=data, extra=1), data, label(n=n)


def test_a_past_run_gives_its_outputs_tasks_and_lineage(tmp_path: Path) -> None:
    done = ml.run(measured, n=4, home=tmp_path, progress=False)
    past = ml.runs.get(done.run_id, home=tmp_path)
    assert (past.run_id, past.pipeline, past.status, past.params) == (
        done.run_id,
        "measured",
        "succeeded",
        {"n": 4},
    )
    assert past.outputs["output_0"] == 5 and past.outputs["output_2"] == "n=4"
    data = past.outputs["output_1"]
    assert isinstance(data, ml.Dataset) and Path(data.path).read_text() == "xxxx"
    assert set(past.tasks) == {"label", "make", "count"}  # in the order they started, which timing decides
    assert past.tasks["count"].outputs["output"] == 5
    assert past.tasks["count"].inputs["data"]["from"] == "make.output"
    assert [t.task for t in past.lineage("output_0")] == ["count", "make"]
    assert [t.task for t in past.lineage("output_1")] == ["make"]
    assert [t.task for t in past.lineage("output_2")] == ["label"]
    with pytest.raises(KeyError):
        past.lineage("nope")
    assert ml.runs.get("latest", home=tmp_path).run_id == done.run_id


def test_nothing_is_loaded_until_asked_and_a_changed_blob_is_refused(tmp_path: Path) -> None:
    done = ml.run(measured, n=2, home=tmp_path, progress=False)
    record = json.loads((done.run_dir / "run.json").read_text())["outputs"]["output_1"]
    blob = tmp_path / "blobs" / "sha256" / record["sha256"][:2] / record["sha256"]
    blob.write_text("tampered")
    past = ml.runs.get(done.run_id, home=tmp_path)  # reading the records loads no value
    assert past.outputs["output_0"] == 3  # a JSON value needs no blob
    with pytest.raises(
        RunError, match=rf"run {done.run_id}: output_1: .* but {record['sha256']} was recorded"
    ):
        past.outputs["output_1"]


def test_runs_are_listed_newest_first_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    first = ml.run(measured, n=1, home=tmp_path, progress=False)
    second = ml.run(measured, n=2, home=tmp_path, progress=False)
    assert [r["run_id"] for r in ml.runs.list(tmp_path)] == [second.run_id, first.run_id]
    with pytest.raises(RunError):
        ml.runs.get("measured-nope", home=tmp_path)
    shown = CliRunner().invoke(app, ["runs", "show", "--home", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.stdout.splitlines() if line.strip()]
    assert lines[0].startswith(second.run_id) and lines[1].startswith(first.run_id)
    as_json = CliRunner().invoke(app, ["runs", "list", "--json", "--home", str(tmp_path)])
    assert [r["run_id"] for r in json.loads(as_json.stdout)] == [first.run_id, second.run_id]
