"""Integrity on every read: each way the store can be damaged or forged, and what the runner does about it.

Every test here is one *corruption case* of docs/reliability.md: the damaged bytes or record are never
returned, never unpickled and never reused; where the producer can be run again it is (with the damage
reported), otherwise the run stops with an ``IntegrityError`` naming the URI.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlopsdsl as ml
from mlopsdsl.errors import IntegrityError, RunError
from mlopsdsl.local._records import sweep
from mlopsdsl.local._store import BlobStore, RemoteStore

KEY = "k" * 32


@ml.step
def count(n: int) -> int:
    return n * 100


@ml.step
def numbers(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


@ml.step
def total(a: np.ndarray, c: int) -> float:
    return float(a.sum()) + c


class Opaque:
    """Stored with cloudpickle (no other serialiser holds it)."""

    def __init__(self, size: int) -> None:
        self.size = size


@ml.step
def opaque(n: int) -> Opaque:
    return Opaque(n)


@ml.pipeline
def numeric(n: int = 3) -> tuple[np.ndarray, int, float]:
    a = numbers(n=n)
    c = count(n=n)
    return a, c, total(a=a, c=c)


@ml.pipeline
def pickled(n: int = 2) -> Opaque:
    return opaque(n=n)


def _run(home: Path, pipeline: Any = numeric, **kwargs: Any) -> ml.local.RunResult:
    return ml.run(pipeline, home=home, progress=False, in_process=True, **kwargs)


def _blob(home: Path, record: dict[str, Any]) -> Path:
    digest = record["sha256"]
    return home / "blobs" / "sha256" / digest[:2] / digest


def _entries(home: Path) -> list[Path]:
    return sorted((home / "cache").rglob("*.json"))


def _entry_of(home: Path, task_value: int) -> Path:
    for path in _entries(home):
        outputs = json.loads(path.read_text())["outputs"]
        if outputs.get("output", {}).get("value") == task_value:
            return path
    raise AssertionError("no entry")


def test_an_edited_json_value_in_a_cache_entry_is_never_used(tmp_path: Path) -> None:
    assert _run(tmp_path).outputs["output_1"] == 300
    path = _entry_of(tmp_path, 300)
    entry = json.loads(path.read_text())
    entry["outputs"]["output"]["value"] = 999  # 300 -> 999, the digest left as it was
    path.write_text(json.dumps(entry))
    again = _run(tmp_path)
    assert again.outputs["output_1"] == 300 and again.outputs["output_2"] == 303.0
    assert again.step("count").status == "succeeded"
    record = json.loads((again.run_dir / "steps" / "count.json").read_text())
    assert "does not match its recorded sha256" in record["cache_damaged"]
    assert _run(tmp_path).step("count").status == "cached"  # the fresh entry replaced it


def test_a_flipped_byte_in_a_cached_output_is_recomputed_even_with_verify_always(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(tmp_path)
    blob = _blob(tmp_path, first.step("numbers").outputs["output"])
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("MLOPSDSL_VERIFY", "always")
    again = _run(tmp_path)
    assert list(again.outputs["output_0"]) == [0.0, 1.0, 2.0]
    assert again.step("numbers").status == "succeeded"


def test_a_pipeline_output_damaged_after_its_check_is_not_returned(tmp_path: Path) -> None:
    first = _run(tmp_path)
    record = first.step("numbers").outputs["output"]
    blob = _blob(tmp_path, record)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    with pytest.raises(IntegrityError) as caught:
        BlobStore(tmp_path / "blobs").checked_path(record)
    assert blob.as_uri() in str(caught.value)


def test_a_crafted_pickle_in_place_of_a_stored_object_never_runs(tmp_path: Path) -> None:
    first = _run(tmp_path, pickled)
    record = first.step("opaque").outputs["output"]
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {marker}",))

    _blob(tmp_path, record).write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(IntegrityError):
        BlobStore(tmp_path / "blobs").checked_path(record)
    again = _run(tmp_path, pickled)  # the damaged entry is a miss; the value is made again
    assert again.output.size == 2 and again.step("opaque").status == "succeeded"
    assert not marker.exists()


def test_an_edited_step_record_is_not_trusted_by_resume(tmp_path: Path) -> None:
    first = _run(tmp_path, cache=False)
    path = first.run_dir / "steps" / "count.json"
    record = json.loads(path.read_text())
    record["outputs"]["output"]["value"] = 999
    path.write_text(json.dumps(record))
    again = _run(tmp_path, cache=False, resume=first.run_id)
    assert again.outputs["output_1"] == 300 and again.step("count").status == "succeeded"
    assert again.step("numbers").status == "cached"


def test_an_edited_run_record_refuses_resume(tmp_path: Path) -> None:
    first = _run(tmp_path)
    path = first.run_dir / "run.json"
    record = json.loads(path.read_text())
    record["params"] = {"n": 5}
    path.write_text(json.dumps(record))
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        _run(tmp_path, resume=first.run_id)


def test_with_a_store_key_unsigned_and_forged_entries_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlopsdsl.runtime._seal import seal

    _run(tmp_path)  # entries written without a key: sealed, not signed
    monkeypatch.setenv("MLOPSDSL_STORE_KEY", KEY)
    signed = _run(tmp_path)
    assert {s.status for s in signed.steps} == {"succeeded"}  # unsigned entries were refused
    record = json.loads((signed.run_dir / "steps" / "count.json").read_text())
    assert "is not signed, and a store key is set" in record["cache_damaged"]
    assert {s.status for s in _run(tmp_path).steps} == {"cached"}
    # Someone who can write the store but has no key: a forged value with a fresh digest.
    path = _entry_of(tmp_path, 300)
    entry = json.loads(path.read_text())
    entry["outputs"]["output"]["value"] = 999
    path.write_text(json.dumps(seal(entry, b"another key of 32 characters...")))
    forged = _run(tmp_path)
    assert forged.outputs["output_1"] == 300
    record = json.loads((forged.run_dir / "steps" / "count.json").read_text())
    assert "signature that does not match the store key" in record["cache_damaged"]


def test_with_a_store_key_an_unsigned_run_record_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(tmp_path)
    monkeypatch.setenv("MLOPSDSL_STORE_KEY", KEY)
    with pytest.raises(IntegrityError, match="not signed"):
        _run(tmp_path, resume=first.run_id)


def test_the_store_key_can_come_from_the_config_file_but_never_from_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlopsdsl.local._config import trust

    monkeypatch.delenv("MLOPSDSL_STORE_KEY", raising=False)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text(f'store_key = "{KEY}"\npickle = false\n')
    settings = trust(tmp_path / "home", tmp_path)
    assert settings.key == KEY.encode() and settings.pickle is False
    (tmp_path / "pyproject.toml").write_text(f'[tool.mlopsdsl]\nstore_key = "{KEY}"\n')
    with pytest.raises(RunError, match=r"must not be in pyproject\.toml"):
        trust(tmp_path / "home", tmp_path)


def test_pickle_false_refuses_pickled_values_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(tmp_path / "a", pickled)  # stored pickled while pickling was allowed
    assert first.step("opaque").outputs["output"]["format"] == "cloudpickle"
    monkeypatch.setenv("MLOPSDSL_PICKLE", "false")
    with pytest.raises(RunError, match="pickle is switched off"):
        _run(tmp_path / "a", pickled)  # cached: the runner refuses to unpickle it
    with pytest.raises(RunError, match="can only be stored pickled"):
        _run(tmp_path / "b", pickled)  # fresh: the step refuses to pickle it
    assert list(_run(tmp_path / "b").outputs["output_0"]) == [0.0, 1.0, 2.0]  # npy is fine


def test_stale_temporary_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)
    (tmp_path / "cache" / "ab").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "steps").mkdir(parents=True)
    stale = [
        tmp_path / "cache" / "ab" / f"ab12.json.{pid}-00ff00ff.tmp",
        tmp_path / "runs" / "r1" / "steps" / f".s.json.{pid}.140.tmp",
        tmp_path / "runs" / "r1" / f".run.json.{pid}-x1y2.tmp",
    ]
    live = tmp_path / "cache" / "ab" / f"ab34.json.{os.getpid()}-00ff00ff.tmp"
    kept = tmp_path / "cache" / "ab" / "ab56.json"
    for path in [*stale, live, kept]:
        path.write_text("x")
    # a run folder whose runner died before renaming it into runs/ (its record written, not yet in place)
    half_built = tmp_path / "incoming" / f"p-20260101-000000-abcdef.{pid}.tmp"
    (half_built / "steps").mkdir(parents=True)
    (half_built / "run.json").write_text("{}")
    stale.append(half_built)
    assert sweep(tmp_path) == 4
    assert not any(p.exists() for p in stale) and live.exists() and kept.exists()
    assert sweep(tmp_path, clock=os.path.getmtime(live) + 2 * 86400) == 1  # a day old: gone too


def test_a_damaged_remote_blob_of_the_right_size_is_recomputed_and_replaced(
    tmp_path: Path, s3_root: str, s3fs_client: Any
) -> None:
    first = ml.run(numeric, home=tmp_path, artifact_root=s3_root, progress=False)
    record = first.step("numbers").outputs["output"]
    uri = record["uri"]
    good = s3fs_client.cat_file(uri)
    s3fs_client.pipe_file(uri, good[:-1] + bytes([good[-1] ^ 1]))  # same size: only the digest tells
    again = ml.run(numeric, home=tmp_path, artifact_root=s3_root, progress=False)
    assert again.step("numbers").status == "succeeded" and list(again.outputs["output_0"]) == [0, 1, 2]
    assert s3fs_client.cat_file(uri) == good  # the damaged blob was deleted, so the upload replaced it
    assert ml.run(numeric, home=tmp_path, artifact_root=s3_root, progress=False).step("numbers").status == (
        "cached"
    )


def test_a_damaged_download_is_fetched_again(tmp_path: Path, s3_root: str) -> None:
    first = ml.run(numeric, home=tmp_path, artifact_root=s3_root, progress=False)
    record = first.step("numbers").outputs["output"]
    store = RemoteStore(s3_root, {}, tmp_path / "downloads")
    copy = store.local_path(record)
    good = copy.read_bytes()
    copy.write_bytes(good[:-1] + b"\x00")
    assert store.checked_path(record).read_bytes() == good


def test_an_edited_run_record_is_marked_by_runs_list(tmp_path: Path) -> None:
    """``runs list`` and ``ml.runs.list`` read records as ``runs show`` does: an edited one is marked as
    damaged, with the reason, never listed as what it now says."""
    from typer.testing import CliRunner

    from mlopsdsl.cli import app

    kept, edited = _run(tmp_path), _run(tmp_path)
    path = edited.run_dir / "run.json"
    record = json.loads(path.read_text())
    record["status"] = "succeeded-and-checked"
    path.write_text(json.dumps(record))
    listed = {r["run_id"]: r for r in ml.runs.list(tmp_path)}
    assert listed[kept.run_id]["status"] == "succeeded"
    assert listed[edited.run_id]["status"] == "damaged"
    assert "does not match its recorded sha256" in listed[edited.run_id]["damaged"]
    shown = CliRunner().invoke(app, ["runs", "list", "--home", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.stdout.splitlines() if line.startswith(edited.run_id))
    assert " damaged " in line and "succeeded-and-checked" not in shown.stdout
    assert f"warning: {path}" in shown.stderr and "does not match its recorded sha256" in shown.stderr
    as_json = CliRunner().invoke(app, ["runs", "list", "--json", "--home", str(tmp_path)])
    assert {r["run_id"]: r["status"] for r in json.loads(as_json.stdout)}[edited.run_id] == "damaged"
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        ml.runs.get(edited.run_id, home=tmp_path)
