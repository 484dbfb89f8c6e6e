"""The step runtime's own cache, as a KFP or Argo pod applies it (``"cache"`` in the call spec).

Each call here runs the real runtime in a fresh interpreter, as a pod does, with a local folder as the
cache store; the step writes a line to a log when it really runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlopsdsl import ir
from mlopsdsl.runtime._cache import DAMAGED, HIT, UNAVAILABLE, cache_key, root_problem

STEP = """
from pathlib import Path
import mlopsdsl as ml

def make(n: int, log: str) -> tuple:
    with open(log, "a") as handle:
        handle.write("ran\\n")
    data = ml.Dataset.new("data.txt", metadata={"n": n})
    Path(data.path).write_text("x" * n)
    return n * 2, data
"""


@pytest.fixture
def step(tmp_path: Path) -> Path:
    (tmp_path / "cachestep.py").write_text(STEP)
    return tmp_path


def _spec(root: Path, call: int, store: str, read: bool = True, n: int = 3) -> dict[str, Any]:
    out = root / f"call-{call}"
    return {
        "version": 1,
        "step": "make",
        "code": {"mode": "import", "module": "cachestep", "qualname": "make"},
        "sys_path": [str(root)],
        "inputs": [
            {"name": "n", "kind": "json", "arg": "n"},
            {"name": "log", "kind": "json", "value": str(root / "ran.log")},
        ],
        "outputs": [
            {"name": "double", "kind": "json", "file": str(out / "double")},
            {"name": "data", "kind": "artifact", "file": str(out / "data"), "meta_file": str(out / "meta")},
        ],
        "returns": "fields",
        "result": str(out / "result.json"),
        "cache": {"step": "d" * 64, "store": store, "read": read},
    }


def _call(root: Path, spec: dict[str, Any], n: int = 3) -> tuple[subprocess.CompletedProcess[str], Any]:
    path = root / "spec.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "mlopsdsl.runtime", str(path), "--arg", f"n={n}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    assert done.returncode == 0, done.stderr
    return done, json.loads(Path(spec["result"]).read_text())


def _runs(root: Path) -> int:
    log = root / "ran.log"
    return len(log.read_text().split()) if log.exists() else 0


def test_the_key_is_the_digest_the_local_cache_always_used() -> None:
    inputs = {"x": {"value": [1.5, "é"]}, "d": {"sha256": "a" * 64, "select": ["k", 0]}}
    assert cache_key("s" * 64, inputs) == ir.digest_of({"v": 1, "step": "s" * 64, "inputs": inputs})


def test_a_second_call_reuses_the_outputs_without_running(step: Path) -> None:
    store = step / "store"
    first, result = _call(step, _spec(step, 1, str(store)))
    assert _runs(step) == 1 and result["cache"]["hit"] is False and HIT not in first.stderr
    second, again = _call(step, _spec(step, 2, str(store)))
    assert _runs(step) == 1  # the function did not run
    assert second.stderr.startswith(HIT) and again["cache"] == {"key": result["cache"]["key"], "hit": True}
    # The outputs are written where the engine reads them, exactly as a run writes them.
    assert (step / "call-2" / "double").read_text() == "6"
    assert (step / "call-2" / "data").read_text() == "xxx"
    meta = json.loads((step / "call-2" / "meta").read_text())
    assert meta == json.loads((step / "call-1" / "meta").read_text())
    assert meta["sha256"] == again["outputs"]["data"]["sha256"] and meta["metadata"] == {"n": 3}
    _call(step, _spec(step, 3, str(store)), n=4)  # another input value is another key
    assert _runs(step) == 2


def test_a_damaged_blob_is_reported_recomputed_and_repaired(step: Path) -> None:
    store = step / "store"
    _, result = _call(step, _spec(step, 1, str(store)))
    digest = result["outputs"]["data"]["sha256"]
    blob = store / "sha256" / digest[:2] / digest
    blob.write_text("yyy")  # same size: only the digest can tell
    second, _ = _call(step, _spec(step, 2, str(store)))
    assert _runs(step) == 2
    assert second.stderr.startswith(DAMAGED) and str(blob) in second.stderr
    assert (step / "call-2" / "data").read_text() == "xxx"  # never the damaged bytes
    assert blob.read_text() == "xxx"  # repaired by the fresh output
    third, _ = _call(step, _spec(step, 3, str(store)))
    assert _runs(step) == 2 and third.stderr.startswith(HIT)


def test_a_damaged_entry_is_a_miss(step: Path) -> None:
    store = step / "store"
    _, result = _call(step, _spec(step, 1, str(store)))
    key = result["cache"]["key"]
    (store / "cache" / key[:2] / f"{key}.json").write_text('{"outputs": ')
    second, _ = _call(step, _spec(step, 2, str(store)))
    assert _runs(step) == 2 and second.stderr.startswith(DAMAGED)
    assert _call(step, _spec(step, 3, str(store)))[0].stderr.startswith(HIT)  # rewritten whole


def test_no_cache_runs_and_still_records(step: Path) -> None:
    store = step / "store"
    _call(step, _spec(step, 1, str(store), read=False))
    _call(step, _spec(step, 2, str(store), read=False))
    assert _runs(step) == 2
    assert _call(step, _spec(step, 3, str(store)))[0].stderr.startswith(HIT)


def test_a_store_that_cannot_be_used_never_fails_the_step(step: Path) -> None:
    blocked = step / "blocked"
    blocked.write_text("a file where the store's folder should be")
    first, result = _call(step, _spec(step, 1, str(blocked)))
    assert result["ok"] and _runs(step) == 1
    assert UNAVAILABLE in first.stderr


@pytest.mark.parametrize(
    ("root", "problem"),
    [
        ("/mnt/cache", None),
        ("s3://bucket/prefix", None),
        ("cache", "absolute folder"),
        ("file:///mnt/cache", "not a file: URL"),
        ("", "give a folder"),
    ],
)
def test_cache_roots(root: str, problem: str | None) -> None:
    found = root_problem(root)
    assert found is None if problem is None else problem in str(found)
