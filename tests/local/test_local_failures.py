"""Failures: retries, timeouts, isolation of failing branches, messages, resume, and crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mlopsdsl as ml

FLAKY = """
from pathlib import Path
import mlopsdsl as ml

@ml.step(retry=ml.Retry(attempts=3, backoff=0))
def flaky(state: str) -> int:
    path = Path(state)
    tries = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(tries))
    if tries < 3:
        raise RuntimeError(f"try {tries} fails")
    return tries

@ml.pipeline
def p(state: str) -> int:
    return flaky(state=state)
"""


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_retries_until_success(tmp_path: Path, user_module, in_process: bool) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(FLAKY, name="flakymod")
    state = tmp_path / "state"
    result = ml.run(mod.p, state=str(state), home=tmp_path, progress=False, in_process=in_process)
    assert result.output == 3
    step = result.step("flaky")
    assert step.status == "succeeded" and step.attempts == 3
    record = json.loads((result.run_dir / "steps" / "flaky.json").read_text())
    assert [a.get("error", {}).get("message") for a in record["attempts"]] == [
        "try 1 fails",
        "try 2 fails",
        None,
    ]


SLOW = """
import time
import mlopsdsl as ml

@ml.step(timeout=0.3)
def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

@ml.pipeline
def p(seconds: float = 5.0) -> float:
    return slow(seconds=seconds)
"""


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_timeout_stops_the_attempt(tmp_path: Path, user_module, in_process: bool) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(SLOW, name="slowmod")
    seconds = 1.0 if in_process else 30.0  # an abandoned thread runs on; a process is killed
    with pytest.raises(ml.RunError, match=r"step 'slow' failed: Timeout: .*timeout of 0.3s") as info:
        ml.run(mod.p, seconds=seconds, home=tmp_path, progress=False, in_process=in_process)
    assert "slowmod.py:" in str(info.value)


BRANCHES = """
import mlopsdsl as ml

def explode(x):
    raise ValueError(f"bad value {x}")

@ml.step
def start(x: int) -> int:
    return x

@ml.step
def broken(x: int) -> int:
    return explode(x)

@ml.step
def fine(x: int) -> int:
    return x + 1

@ml.step
def after_broken(x: int) -> int:
    return x

@ml.pipeline
def p(x: int = 1) -> tuple[int, int]:
    s = start(x=x)
    bad = after_broken(x=broken(x=s))
    good = fine(x=fine(x=s))
    return bad, good
"""


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "subprocess"])
def test_failure_stops_dependents_and_names_the_call_site(
    tmp_path: Path, user_module, in_process: bool
) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(BRANCHES, name="branchmod")
    with pytest.raises(ml.RunError) as info:
        ml.run(mod.p, home=tmp_path, progress=False, in_process=in_process, max_parallel=2)
    message = str(info.value)
    assert message.startswith(f"{info.value.location}: step 'broken' failed: ValueError: bad value 1")
    assert str(info.value.location).endswith("branchmod.py:26")  # the call site in the pipeline
    assert 'branchmod.py", line 5, in explode' in message  # the step's own traceback, helper frame too
    assert "mlopsdsl/runtime" not in message
    assert "not run (after_broken)" in message and "--resume" in message
    result = ml.run(mod.p, home=tmp_path, progress=False, in_process=True, check=False)
    statuses = {s.task: s.status for s in result.steps}
    assert statuses == {
        "start": "cached",
        "broken": "failed",
        "after_broken": "skipped",
        "fine": "cached",
        "fine-2": "cached",
    }
    assert not result.ok and result.outputs == {}


RESUMABLE = """
from pathlib import Path
import mlopsdsl as ml

def bump(folder, name):
    path = Path(folder) / name
    path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))

@ml.step(cache=False)
def first(folder: str) -> int:
    bump(folder, "first")
    return 1

@ml.step(cache=False)
def second(folder: str, x: int) -> int:
    bump(folder, "second")
    if (Path(folder) / "fail").exists():
        raise RuntimeError("asked to fail")
    return x + 1

@ml.pipeline
def p(folder: str) -> int:
    return second(folder=folder, x=first(folder=folder))
"""


def test_resume_reruns_only_what_did_not_succeed(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(RESUMABLE, name="resumemod")
    (tmp_path / "fail").touch()
    failed = ml.run(mod.p, folder=str(tmp_path), home=tmp_path, progress=False, check=False, in_process=True)
    assert not failed.ok
    (tmp_path / "fail").unlink()
    resumed = ml.run(mod.p, home=tmp_path, progress=False, resume=failed.run_id, in_process=True)
    assert resumed.run_id == failed.run_id and resumed.output == 2
    assert resumed.step("first").status == "cached"  # reused although the step has cache=False
    assert (tmp_path / "first").read_text() == "1" and (tmp_path / "second").read_text() == "2"
    with pytest.raises(ml.RunError, match="no run 'nope'"):
        ml.run(mod.p, home=tmp_path, progress=False, resume="nope")


CLI = [sys.executable, "-c", "from mlopsdsl.cli import main; main()"]

KILLABLE = """
import time
from pathlib import Path
import mlopsdsl as ml

@ml.step
def quick(folder: str) -> int:
    path = Path(folder) / "quick-runs"
    path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))
    return 20

@ml.step
def sleepy(folder: str, x: int) -> int:
    (Path(folder) / "sleepy-started").touch()
    if not (Path(folder) / "fast").exists():
        time.sleep(3)
    return x + 1

@ml.step
def last(x: int) -> int:
    return x * 2

@ml.pipeline
def p(folder: str) -> int:
    return last(x=sleepy(folder=folder, x=quick(folder=folder)))
"""


def test_resume_after_sigkill_trusts_only_finished_steps(tmp_path: Path) -> None:
    (tmp_path / "killmod.py").write_text(KILLABLE)
    env = {**os.environ, "MLOPSDSL_HOME": str(tmp_path / "home")}
    command = [*CLI, "run", "killmod.py", "-p", f"folder={tmp_path}"]
    runner = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "sleepy-started").exists():
        assert time.monotonic() < deadline and runner.poll() is None, runner.communicate()
        time.sleep(0.02)
    runner.send_signal(signal.SIGKILL)
    runner.communicate()
    (run_id,) = os.listdir(tmp_path / "home" / "runs")
    run_dir = tmp_path / "home" / "runs" / run_id
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    assert json.loads((run_dir / "steps" / "sleepy.json").read_text())["status"] == "running"
    (tmp_path / "fast").touch()
    done = subprocess.run(
        [*command[:-2], "--resume", run_id], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "output: 42\n"
    assert (tmp_path / "quick-runs").read_text() == "1"  # the finished step was reused, not rerun
    assert "quick: cached" in done.stderr and "sleepy: succeeded" in done.stderr
