"""kill -9 at any instant: the runner is killed at random points of a run with a file, a folder, a 4 MiB
object and a map; ``--resume`` (or, when the kill came before the run had a folder, a fresh run) must
finish it with outputs identical, byte for byte, to an uninterrupted run's, and leave no temporary file
behind once the next run has started.

Each trial is its own test (a seed chooses the instant), so pytest-xdist spreads them over the workers;
half use the subprocess executor, half run steps in the killed process itself. The figures are in
docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
CLI = [sys.executable, "-c", "from mlopsdsl.cli import main; main()"]
TRIALS = 24


def _run(
    folder: Path, *extra: str, kill_after: float | None = None
) -> subprocess.CompletedProcess[str] | None:
    env = {**os.environ, "MLOPSDSL_HOME": str(folder / "home"), "PYTHONHASHSEED": "0"}
    command = [*CLI, "run", "killable.py", *extra]
    if kill_after is None:
        return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    runner = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(kill_after)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    return None


def _outputs(folder: Path) -> dict[str, Any]:
    """The pipeline's outputs as recorded, each stored one checked against the bytes in the store."""
    (run,) = (folder / "home" / "runs").iterdir()
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "succeeded"
    found: dict[str, Any] = {}
    for name, output in record["outputs"].items():
        if output["kind"] == "json":
            found[name] = output["value"]
            continue
        blob = folder / "home" / "blobs" / "sha256" / output["sha256"][:2] / output["sha256"]
        files = sorted(p for p in blob.rglob("*") if p.is_file()) if blob.is_dir() else [blob]
        found[name] = {str(p.relative_to(blob)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
        found[name + ".sha256"] = output["sha256"]
    return found


@pytest.fixture(scope="module", params=["subprocess", "in-process"])
def reference(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp(f"reference-{request.param}")
    shutil.copy(HERE / "killable.py", folder)
    flags = ["--in-process"] if request.param == "in-process" else []
    started = time.monotonic()
    done = _run(folder, *flags)
    assert done is not None and done.returncode == 0, done.stderr if done else ""
    return {"flags": flags, "seconds": time.monotonic() - started, "outputs": _outputs(folder)}


@pytest.mark.parametrize("trial", range(TRIALS // 2))
def test_a_run_killed_at_a_random_instant_resumes_to_identical_outputs(
    trial: int, reference: dict[str, Any], tmp_path: Path
) -> None:
    shutil.copy(HERE / "killable.py", tmp_path)
    flags = reference["flags"]
    seed = trial * 2 + (1 if flags else 0)
    instant = random.Random(seed).uniform(0.3, reference["seconds"])
    _run(tmp_path, *flags, kill_after=instant)
    runs = tmp_path / "home" / "runs"
    started = sorted(runs.iterdir()) if runs.is_dir() else []
    assert len(started) <= 1
    if started:  # every run folder that exists can be resumed: its run.json was written first
        assert (started[0] / "run.json").is_file(), f"killed at {instant:.2f}s"
        done = _run(tmp_path, *flags, "--resume", started[0].name)
    else:
        done = _run(tmp_path, *flags)
    assert done is not None and done.returncode == 0, (
        f"killed at {instant:.2f}s: {done.stderr if done else ''}"
    )
    assert _outputs(tmp_path) == reference["outputs"], f"killed at {instant:.2f}s"
    leftovers = [p for p in (tmp_path / "home").rglob("*") if p.name.endswith((".tmp", ".part"))]
    shared = [p for p in leftovers if "attempts" not in p.parts]
    assert not shared, f"killed at {instant:.2f}s: {shared}"
