"""``mlopsdsl run``: outputs on standard output, progress on standard error, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLI = [sys.executable, "-c", "from mlopsdsl.cli import main; main()"]

FAILING = """
import mlopsdsl as ml

@ml.step
def boom(x: int) -> int:
    return 1 // x

@ml.pipeline
def p(x: int = 0) -> int:
    return boom(x=x)
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLOPSDSL_HOME": str(cwd / "home")}
    return subprocess.run([*CLI, "run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_run_prints_outputs_and_exits_0(tmp_path: Path) -> None:
    done = _run(str(EXAMPLES / "quickstart.py"), "-p", "n=10", "--max-parallel", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'output: "y = 3.03x + 0.86"\n'
    assert "fit: succeeded" in done.stderr  # plain progress lines: stderr is not a terminal
    again = _run(str(EXAMPLES / "quickstart.py"), "-p", "n=10", "--in-process", cwd=tmp_path)
    assert again.stdout == done.stdout and "fit: cached" in again.stderr


def test_a_failed_run_exits_1_with_the_call_site_and_traceback(tmp_path: Path) -> None:
    (tmp_path / "failing.py").write_text(FAILING)
    done = _run("failing.py", cwd=tmp_path)
    assert done.returncode == 1
    assert (
        "error: failing.py:10: step 'boom' failed: ZeroDivisionError: integer division or modulo by zero"
        in done.stderr
    )
    assert 'failing.py", line 6, in boom' in done.stderr
    assert done.stdout == ""


def test_a_bad_parameter_exits_2(tmp_path: Path) -> None:
    (tmp_path / "failing.py").write_text(FAILING)
    done = _run("failing.py", "-p", "x=abc", cwd=tmp_path)
    assert done.returncode == 2
    assert "parameter 'x'" in done.stderr


SLOW = """
import time
from pathlib import Path
import mlopsdsl as ml

@ml.step(cache=False)
def slow(folder: str) -> int:
    import os
    (Path(folder) / "pid").write_text(str(os.getpid()))
    time.sleep(60)
    return 1

@ml.pipeline
def p(folder: str) -> int:
    return slow(folder=folder)
"""


def test_ctrl_c_stops_the_steps_and_records_the_run_interrupted(tmp_path: Path) -> None:
    import json
    import signal
    import time

    (tmp_path / "slow.py").write_text(SLOW)
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {**os.environ, "MLOPSDSL_HOME": str(tmp_path / "home")}
    # Started as a shell starts a foreground command: SIGINT handled by default and not blocked. A child
    # inherits an ignored or blocked SIGINT from this test process, and Python then never raises
    # KeyboardInterrupt (as it must not, under nohup): in a pytest worker, what other tests' libraries left
    # behind made the runner ignore the Ctrl-C and finish the step.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler: the child gets SIG_DFL
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        runner = subprocess.Popen(
            [*CLI, "run", "slow.py", "-p", f"folder={marks}"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 60
    # The step writes its pid in place: wait for the digits, not only for the file, which exists (empty)
    # for a moment first.
    while not _read(marks / "pid").isdigit() and time.monotonic() < deadline:
        time.sleep(0.05)
    step_pid = int(_read(marks / "pid"))
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    assert "interrupted" in err
    (run_dir,) = (tmp_path / "home" / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    for _ in range(100):  # the step's whole process group was killed, not left running
        try:
            os.kill(step_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"step process {step_pid} is still running after Ctrl-C")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
