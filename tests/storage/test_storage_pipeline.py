"""Pipelines end to end with stored values: locally, and with ``artifact_root="s3://..."`` through the
subprocess executor against the test S3 server; the cache keys on digests; ``mlopsdsl runs``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import storage_pipelines as sp

import mlopsdsl as ml


def _check_mixed(result: Any) -> None:
    out = result.outputs
    assert out["output_0"] == 15.0 and out["output_1"] == 6 and out["output_2"] == 2026
    assert out["output_3"] == 3 and out["output_4"] == "6/6/2/1024"
    assert np.array_equal(out["output_5"], np.arange(6, dtype=np.float64).reshape(-1, 2))
    assert out["output_6"] == sp.Vocabulary(["a", "b", "c"])
    table = out["output_7"]
    assert isinstance(table, ml.Dataset) and table.metadata == {"rows": 6}
    assert Path(table.path).read_text().splitlines()[-1] == "5,25"


def _formats(result: Any) -> dict[str, str]:
    return {s.task: s.outputs["output"].get("format") for s in result.steps if s.outputs}


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_every_stored_kind_passes_between_local_steps(tmp_path: Path, in_process: bool) -> None:
    result = ml.run(sp.mixed, home=tmp_path, progress=False, in_process=in_process)
    _check_mixed(result)
    formats = _formats(result)
    assert formats["make_array"] == "npy" and formats["make_frame"] == "parquet"
    assert formats["make_event"] == "json" and formats["make_vocabulary"] == "vocabulary-v1"
    # Dataset.new paths are moved into the store: no staging folder is left behind.
    assert not list((tmp_path / "runs").rglob(".staging-*"))


def test_a_pipeline_runs_on_s3_through_the_subprocess_executor(
    tmp_path: Path, s3_root: str, s3fs_client: Any
) -> None:
    result = ml.run(sp.mixed, home=tmp_path, artifact_root=s3_root, progress=False)
    _check_mixed(result)
    stored = [s.outputs["output"] for s in result.steps if s.outputs["output"].get("sha256")]
    assert stored and all(o["uri"].startswith(s3_root + "/sha256/") for o in stored)
    for record in stored:
        assert s3fs_client.exists(record["uri"])
    assert not (tmp_path / "blobs").exists()  # nothing went to the local store
    assert not list((tmp_path / "runs").rglob("outputs"))  # steps uploaded; no local copies kept
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["artifact_root"] == s3_root
    assert "testing" not in (result.run_dir / "attempts").joinpath("make_array", "1", "spec.json").read_text()
    # A second run hits the cache: its keys are the digests, and the blobs are still on S3.
    again = ml.run(sp.mixed, home=tmp_path, artifact_root=s3_root, progress=False)
    assert all(s.cache_hit for s in again.steps)
    _check_mixed(again)


def test_the_cache_keys_on_input_digests_not_on_where_they_are(tmp_path: Path, s3_root: str) -> None:
    @ml.pipeline
    def total(n: int = 4) -> float:
        return sp.array_sum(a=sp.make_array(n=n))

    local = ml.run(total, home=tmp_path, progress=False, in_process=True)
    keys = {s.task: s.outputs for s in local.steps}
    remote = ml.run(total, home=tmp_path, artifact_root=s3_root, progress=False, in_process=True)
    hits = {s.task: s.cache_hit for s in remote.steps}
    # The array's blob is not on S3, so its step runs again; it makes the same bytes, so the consumer's
    # key (made of the digest) is the same as in the local run, and the consumer is a cache hit.
    assert hits == {"make_array": False, "array_sum": True}
    assert remote.output == local.output == 6.0
    digests = {s.task: s.outputs["output"].get("sha256") for s in remote.steps}
    assert digests["make_array"] == keys["make_array"]["output"]["sha256"]
    again = ml.run(total, home=tmp_path, artifact_root=s3_root, progress=False, in_process=True)
    assert all(s.cache_hit for s in again.steps)
    changed = ml.run(total, home=tmp_path, artifact_root=s3_root, progress=False, in_process=True, n=6)
    assert [s.cache_hit for s in changed.steps] == [False, False] and changed.output == 15.0


def test_artifact_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlopsdsl.local._config import resolve

    home = tmp_path / ".mlopsdsl"
    monkeypatch.delenv("MLOPSDSL_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("MLOPSDSL_STORAGE_OPTIONS", raising=False)
    assert resolve(None, home, tmp_path).root == str((home / "blobs").resolve())
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlopsdsl]\nartifact_root = "s3://project/a"\n'
        '[tool.mlopsdsl.storage_options]\nendpoint_url = "http://127.0.0.1:9"\n'
    )
    (tmp_path / "sub").mkdir()
    config = resolve(None, home, tmp_path / "sub")  # the nearest pyproject.toml upwards
    assert (config.root, config.options) == ("s3://project/a", {"endpoint_url": "http://127.0.0.1:9"})
    home.mkdir()
    (home / "config.toml").write_text('artifact_root = "store"\n[storage_options]\nregion = "eu"\n')
    config = resolve(None, home, tmp_path)
    assert config.root == str((home / "store").resolve())  # relative to the config file
    assert config.options == {"endpoint_url": "http://127.0.0.1:9", "region": "eu"}
    monkeypatch.setenv("MLOPSDSL_ARTIFACT_ROOT", "s3://env/b")
    monkeypatch.setenv("MLOPSDSL_STORAGE_OPTIONS", '{"region": "us"}')
    config = resolve(None, home, tmp_path)
    assert (config.root, config.source, config.options["region"]) == (
        "s3://env/b",
        "$MLOPSDSL_ARTIFACT_ROOT",
        "us",
    )
    assert resolve("gs://arg/c/", home, tmp_path).root == "gs://arg/c"


def test_runs_list_and_show_print_lineage(tmp_path: Path) -> None:
    result = ml.run(sp.mixed, home=tmp_path, progress=False, in_process=True)
    cli = [sys.executable, "-c", "from mlopsdsl.cli import main; main()", "runs"]
    listed = subprocess.run(
        [*cli, "list", "--home", str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert result.run_id in listed.stdout and "succeeded" in listed.stdout
    shown = subprocess.run(
        [*cli, "show", result.run_id, "--home", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    table = result.step("write_table").outputs["output"]
    assert "step write_table: succeeded" in shown
    assert f"out output: artifact Dataset  sha256:{table['sha256']}" in shown
    assert table["uri"] in shown and table["uri"].startswith("file://")
    # The consumer lists the same digest as its input, and where it came from.
    describe = shown.split("step describe:")[1].split("\nstep ")[0]
    assert f"in  table: artifact  sha256:{table['sha256']}" in describe
    assert "<- write_table.output" in describe
    assert "in  n = 6" in shown.split("step make_array:")[1]
    as_json = json.loads(
        subprocess.run(
            [*cli, "show", result.run_id, "--home", str(tmp_path), "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert {s["task"] for s in as_json["steps"]} == {s.task for s in result.steps}
    missing = subprocess.run([*cli, "show", "nope", "--home", str(tmp_path)], capture_output=True, text=True)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr
