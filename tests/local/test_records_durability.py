"""Step records reach the disk behind the run (a group commit), and ``run.json`` only after them.

The kill -9 tests (``tests/reliability/test_kill.py``) cover what a killed runner leaves; these cover the
order the flushes keep, with the syncing itself replaced by a recorder (a real power cut cannot be had
in a test).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import mlopsdsl as ml
from mlopsdsl.local import _records
from mlopsdsl.local._records import RunFolder, Syncer
from mlopsdsl.runtime._io import IntegrityError
from mlopsdsl.runtime._seal import check, seal, sealed_json


@pytest.mark.parametrize("key", [None, b"a store key of 32 characters...."])
@pytest.mark.parametrize(
    "record",
    [{}, {"task": "a", "outputs": {"output": {"kind": "json", "value": [1, "é", None, 2.5]}}}, {"seal": 1}],
)
def test_sealed_json_is_the_sealed_record_and_passes_the_check(
    record: dict[str, object], key: bytes | None
) -> None:
    text = sealed_json(record, key)
    assert json.loads(text) == seal(record, key)
    body = {k: v for k, v in record.items() if k != "seal"}
    assert check(json.loads(text), key, "record") == body


def test_sealed_json_edited_is_refused() -> None:
    text = sealed_json({"task": "a", "value": 1}, None).replace('"value":1', '"value":2')
    with pytest.raises(IntegrityError, match="does not match its recorded sha256"):
        check(json.loads(text), None, "record")


def test_the_barrier_waits_for_every_record_written_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[list[str]] = []
    release = threading.Event()

    def slow_sync(folder: Path, paths: list[str]) -> None:
        release.wait(10)
        synced.append(paths)

    monkeypatch.setattr(_records, "_sync", slow_sync)
    syncer = Syncer(tmp_path)
    syncer.written(str(tmp_path / "a.json"))
    syncer.written(str(tmp_path / "b.json"))
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (syncer.barrier(), done.set()))
    waiter.start()
    assert not done.wait(0.2)  # the sync has not happened: the barrier holds
    release.set()
    waiter.join(10)
    assert done.is_set()
    assert sorted(p for batch in synced for p in batch) == [
        str(tmp_path / "a.json"),
        str(tmp_path / "b.json"),
    ]


def test_a_failed_sync_is_raised_by_the_next_barrier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(folder: Path, paths: list[str]) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_records, "_sync", failing)
    syncer = Syncer(tmp_path)
    syncer.written(str(tmp_path / "a.json"))
    with pytest.raises(OSError, match="Input/output error"):
        syncer.barrier()
    syncer.barrier()  # reported once


def test_the_real_sync_puts_records_on_disk_without_error(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, "run-1")
    folder.create({"run_id": "run-1", "status": "running"})
    folder.write_step("a", {"task": "a", "status": "succeeded"})
    folder.write_step("b/c", {"task": "b/c", "status": "running"})
    folder.write_run({"run_id": "run-1", "status": "succeeded"})  # the barrier, with the real sync
    assert set(folder.read_steps()) == {"a", "b/c"}
    assert folder.read_run()["status"] == "succeeded"


@ml.step
def inc(x: int) -> int:
    return x + 1


@ml.pipeline
def two(x: int = 0) -> int:
    return inc(x=inc(x=x))


def test_run_json_is_written_after_the_step_records_are_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_sync = _records._sync

    def sync(folder: Path, paths: list[str]) -> None:
        real_sync(folder, paths)
        events.extend(f"synced {Path(p).name}" for p in paths)

    real_write_json = _records.write_json

    def write_json(path: Path, value: object, make_parent: bool = True) -> None:
        if path.name == "run.json" and isinstance(value, dict):
            events.append(f"run.json {value['status']}")
        real_write_json(path, value, make_parent)

    monkeypatch.setattr(_records, "_sync", sync)
    monkeypatch.setattr(_records, "write_json", write_json)
    ml.run(two, home=tmp_path, progress=False, in_process=True, cache=False)
    assert events[0] == "run.json running"
    assert events[-1] == "run.json succeeded"
    # The run's document is put on disk behind the run too, like the step records (not flushed on the
    # way to the first step).
    assert sorted(events[1:-1]) == ["synced document.json", "synced inc-2.json", "synced inc.json"]


@pytest.mark.parametrize(
    "clock", [0.0, 1_796_230_099.822975, 1_796_230_099.9994, 951_782_400.5, 4_102_444_799.0]
)
def test_record_timestamps_read_as_datetime_writes_them(clock: float) -> None:
    """``now`` writes what ``datetime.now(UTC).isoformat(timespec="milliseconds")`` wrote before it."""
    from datetime import UTC, datetime

    assert _records.now(clock) == datetime.fromtimestamp(clock, UTC).isoformat(timespec="milliseconds")
    assert datetime.fromisoformat(_records.now()).tzinfo is not None
