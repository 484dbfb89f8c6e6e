"""The ``fork`` executor: each attempt in its own process, forked from a warm server.

What must hold is what the subprocess executor gives: an own process, session and process group per
attempt; the step's environment and the runner's working folder; a timeout that kills the attempt's
whole group; a crash that ends only that attempt; retries; and a run that goes on when the server dies.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

import mlopsdsl as ml
from mlopsdsl.local._fork import ForkExecutor, fork_available

pytestmark = pytest.mark.skipif(not fork_available(), reason="the fork executor needs os.fork (Linux)")

PROBE = """
import os
import mlopsdsl as ml

@ml.step(env={"PROBE_STEP": "set by the step"}, cache=False)
def probe(n: int) -> dict[str, object]:
    os.environ["PROBE_LEAK"] = "only in this process"
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "sid": os.getsid(0),
        "cwd": os.getcwd(),
        "step_env": os.environ.get("PROBE_STEP"),
        "runner_env": os.environ.get("PROBE_RUNNER"),
        "kept_env": os.environ.get("MLOPSDSL_PROBE"),
        "proc_environ": "PROBE_RUNNER" in open("/proc/self/environ", "rb").read().decode(errors="replace"),
        "n": n,
    }

@ml.step(cache=False)
def after(seen: dict[str, object]) -> dict[str, object]:
    return {"pid": os.getpid(), "leak": os.environ.get("PROBE_LEAK"), "step_env": os.environ.get("PROBE_STEP")}

@ml.pipeline
def p(n: int = 1) -> tuple[dict[str, object], dict[str, object]]:
    first = probe(n=n)
    return first, after(seen=first)
"""


def test_each_attempt_is_its_own_process_with_its_own_environment(
    tmp_path: Path, user_module, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(PROBE, name="forkprobe")
    monkeypatch.setenv("PROBE_RUNNER", "from the runner")
    monkeypatch.setenv("MLOPSDSL_PROBE", "kept")
    monkeypatch.chdir(tmp_path)
    result = ml.run(mod.p, home=tmp_path / "home", progress=False, executor="fork")
    first, second = result.outputs.values()
    assert json.loads((result.run_dir / "run.json").read_text())["executor"] == "fork"
    assert first["pid"] not in (os.getpid(), second["pid"])
    assert first["ppid"] != os.getpid()  # forked by the server, not started by the runner
    assert first["pgid"] == first["pid"] == first["sid"]  # its own session and process group
    assert first["cwd"] == str(tmp_path)
    assert first["step_env"] == "set by the step" and first["kept_env"] == "kept"
    # A clean environment, as the subprocess executor gives: nothing else of the runner's, not even in
    # the environment block the process started with (the server's, for a fork).
    assert first["runner_env"] is None and first["proc_environ"] is False
    inherited = ml.run(mod.p, home=tmp_path / "home", progress=False, executor="fork", clean_env=False)
    assert next(iter(inherited.outputs.values()))["runner_env"] == "from the runner"
    assert second["leak"] is None and second["step_env"] is None  # nothing carries over to the next step
    assert "PROBE_LEAK" not in os.environ and "PROBE_STEP" not in os.environ


def test_default_executor_is_fork_here_and_subprocess_stays_selectable(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(PROBE, name="forkdefault")
    default = ml.run(mod.p, home=tmp_path, progress=False)
    plain = ml.run(mod.p, home=tmp_path, progress=False, executor="subprocess")
    executors = [json.loads((r.run_dir / "run.json").read_text())["executor"] for r in (default, plain)]
    assert executors == ["fork", "subprocess"]
    started_by = next(iter(plain.outputs.values()))["ppid"]
    assert started_by == os.getpid()  # a new interpreter, started by the runner itself
    with pytest.raises(ml.RunError, match="executor must be one of"):
        ml.run(mod.p, home=tmp_path, progress=False, executor="threads")
    with pytest.raises(ml.RunError, match="disagree"):
        ml.run(mod.p, home=tmp_path, progress=False, executor="fork", in_process=True)


HANGING = """
import subprocess, sys, time
from pathlib import Path
import mlopsdsl as ml

@ml.step(timeout=0.5, cache=False)
def hang(folder: str) -> int:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    Path(folder, "grandchild").write_text(str(child.pid))
    time.sleep(60)
    return 1

@ml.pipeline
def p(folder: str) -> int:
    return hang(folder=folder)
"""


def _gone(pid: int) -> bool:
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie of ours still answers kill(0): reap it if it is our child, else wait for its parent
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        if Path(f"/proc/{pid}/stat").exists() and ") Z " in Path(f"/proc/{pid}/stat").read_text():
            return True
        time.sleep(0.05)
    return False


def test_a_timeout_kills_the_attempts_whole_process_group(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(HANGING, name="forkhang")
    with pytest.raises(ml.RunError, match=r"Timeout: .*timeout of 0.5s"):
        ml.run(mod.p, folder=str(tmp_path), home=tmp_path / "home", progress=False, executor="fork")
    grandchild = int((tmp_path / "grandchild").read_text())
    assert _gone(grandchild), f"the step's own child {grandchild} outlived the timeout"


CRASHING = """
import os, signal
from pathlib import Path
import mlopsdsl as ml

@ml.step(cache=False)
def crash(how: str) -> int:
    print("about to go", flush=True)
    if how == "exit":
        os._exit(7)
    os.kill(os.getpid(), signal.SIGKILL)
    return 0

@ml.step(cache=False)
def fine(x: int) -> int:
    return x + 1

@ml.pipeline
def p(how: str) -> tuple[int, int]:
    return crash(how=how), fine(x=1)
"""


@pytest.mark.parametrize(("how", "status"), [("exit", "7"), ("kill", "-9")])
def test_a_crashing_child_fails_only_its_step(tmp_path: Path, user_module, how: str, status: str) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(CRASHING, name=f"forkcrash{how}")
    result = ml.run(mod.p, how=how, home=tmp_path, progress=False, executor="fork", check=False)
    assert result.step("fine").status == "succeeded"
    crashed = result.step("crash")
    assert crashed.status == "failed"
    record = json.loads((result.run_dir / "steps" / "crash.json").read_text())
    error = record["attempts"][-1]["error"]
    assert error["type"] == "Crash" and f"exit status {status} " in error["message"]
    assert "about to go" in error["traceback"]  # the log's tail, streamed from the child's pipe


FLAKY = """
import os
from pathlib import Path
import mlopsdsl as ml

@ml.step(retry=ml.Retry(attempts=3, backoff=0), cache=False)
def flaky(state: str) -> int:
    path = Path(state)
    tries = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(tries))
    if tries == 1:
        raise RuntimeError("try 1 fails")
    if tries == 2:
        os._exit(3)  # a crash is retried too
    return tries

@ml.pipeline
def p(state: str) -> int:
    return flaky(state=state)
"""


def test_retries_run_each_attempt_in_a_new_child(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(FLAKY, name="forkflaky")
    result = ml.run(mod.p, state=str(tmp_path / "state"), home=tmp_path, progress=False, executor="fork")
    assert result.output == 3 and result.step("flaky").attempts == 3
    record = json.loads((result.run_dir / "steps" / "flaky.json").read_text())
    assert [a.get("error", {}).get("type") for a in record["attempts"]] == ["RuntimeError", "Crash", None]


KILLER = """
import os, signal
import mlopsdsl as ml

@ml.step(cache=False)
def kill_server(runner: int) -> int:
    if os.getppid() != runner:  # never the test's own process, whatever executor ran this
        os.kill(os.getppid(), signal.SIGKILL)  # the fork server, mid-run
    return os.getppid()

@ml.step(cache=False)
def next_step(server: int) -> list[int]:
    return [server, os.getppid()]

@ml.pipeline
def p(runner: int) -> list[int]:
    return next_step(server=kill_server(runner=runner))
"""


def test_the_run_goes_on_when_the_server_dies(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(KILLER, name="forkkiller")
    result = ml.run(mod.p, runner=os.getpid(), home=tmp_path, progress=False, executor="fork")
    old_server, new_server = result.output
    assert result.step("kill_server").status == "succeeded"  # its result was written before it ended
    assert old_server != new_server and new_server != os.getpid()  # a new server forked the next step


def test_a_server_that_cannot_start_leaves_attempts_to_the_subprocess_executor(
    tmp_path: Path, user_module
) -> None:  # type: ignore[no-untyped-def]
    python = tmp_path / "python"
    python.write_text(
        f'#!/bin/sh\ncase "$*" in *mlopsdsl._zygote*) exit 1;; esac\nexec {sys.executable} "$@"\n'
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    from mlopsdsl.local._executors import Attempt

    executor = ForkExecutor(python=str(python))
    try:
        folder = tmp_path / "attempt"
        folder.mkdir()
        spec = {
            "version": 1,
            "step": "dumps",
            "code": {"mode": "import", "module": "json", "qualname": "dumps"},
            "inputs": [{"name": "obj", "kind": "json", "value": [2, 3]}],
            "outputs": [{"name": "output", "kind": "json"}],
            "returns": "single",
            "result": str(folder / "result.json"),
        }
        outcome = executor.run(Attempt(spec=spec, folder=folder))
    finally:
        executor.close()
    assert outcome.result is not None and outcome.result["ok"], outcome
    assert outcome.result["outputs"]["output"]["value"] == "[2, 3]"


def test_a_prestarted_server_is_adopted_by_the_next_executor() -> None:
    from mlopsdsl.local import _prestart

    _prestart.prestart()
    assert _prestart._early is not None
    early_server = _prestart._early[0][1]
    executor = ForkExecutor()
    try:
        assert executor._server is early_server and _prestart._early is None
    finally:
        executor.close()
    assert early_server.poll() is not None  # closing the executor ended the server


def test_stop_kills_the_running_children(tmp_path: Path) -> None:
    """What an interrupted run does (Ctrl-C): the server stops forking and every child's group dies."""
    import threading

    from mlopsdsl.local._executors import Attempt

    (tmp_path / "sleeper.py").write_text(
        "import os, time\nfrom pathlib import Path\n\n"
        "def nap(folder: str) -> int:\n"
        "    Path(folder, 'pid').write_text(str(os.getpid()))\n"
        "    time.sleep(60)\n"
        "    return 1\n"
    )
    folder = tmp_path / "attempt"
    folder.mkdir()
    spec = {
        "version": 1,
        "step": "nap",
        "code": {"mode": "import", "module": "sleeper", "qualname": "nap"},
        "sys_path": [str(tmp_path)],
        "inputs": [{"name": "folder", "kind": "json", "value": str(tmp_path)}],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
        "result": str(folder / "result.json"),
    }
    executor = ForkExecutor()
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(executor.run(Attempt(spec=spec, folder=folder))))
    worker.start()
    deadline = time.monotonic() + 60
    while not (tmp_path / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    executor.stop()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert outcomes and outcomes[0].result is None
    assert _gone(int((tmp_path / "pid").read_text()))


EXITING = """
import atexit, threading, time
from pathlib import Path
import mlopsdsl as ml

@ml.step(cache=False)
def leave(folder: str) -> int:
    atexit.register(lambda: Path(folder, "atexit").write_text("ran"))
    def late() -> None:
        time.sleep(0.2)
        Path(folder, "thread").write_text("ran")
    threading.Thread(target=late).start()
    return 1

@ml.pipeline
def p(folder: str) -> int:
    return leave(folder=folder)
"""


def test_a_child_ends_as_an_interpreter_would(tmp_path: Path, user_module) -> None:  # type: ignore[no-untyped-def]
    """Its non-daemon threads are waited for and its atexit functions run, as at a normal exit."""
    mod = user_module(EXITING, name="forkexiting")
    assert ml.run(mod.p, folder=str(tmp_path), home=tmp_path / "home", progress=False, executor="fork").output
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "ran"


def _zygotes() -> set[int]:
    """This process's fork servers still running (their command line names the server module)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat_line = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
        if (
            ppid == os.getpid()
            and b"mlopsdsl._zygote" in cmdline
            and stat_line.rsplit(")", 1)[1].split()[0] != "Z"
        ):
            found.add(int(entry))
    return found


def test_bad_storage_is_refused_before_a_fork_server_starts(
    tmp_path: Path, user_module, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    mod = user_module(PROBE, name="forkstorage")
    monkeypatch.setenv("MLOPSDSL_STORAGE_OPTIONS", "not json")
    before = _zygotes()
    with pytest.raises(ml.RunError, match="MLOPSDSL_STORAGE_OPTIONS is not JSON"):
        ml.run(mod.p, home=tmp_path, progress=False, executor="fork")
    assert _zygotes() == before
