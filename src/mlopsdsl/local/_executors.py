"""Executors: how one attempt of one step runs, given its call spec.

All run the same runtime code (:func:`mlopsdsl.runtime.execute`). The fork executor (the default on
Linux, :mod:`._fork`) forks each attempt from a server that has the runtime imported. The subprocess
executor runs ``python -m mlopsdsl.runtime SPEC`` in a fresh process per attempt, like a pod: the step cannot
disturb the runner or other steps, its output is streamed to its log, and a timeout kills its whole
process group. The in-process executor calls the runtime in the runner's process with the live function,
so a debugger's breakpoints in a step work; a thread cannot be killed, so a timed-out attempt is
abandoned (counted as failed while it runs on), and a step's ``env`` (its secrets included) is set
process-wide while it runs, beside the runner's environment, which a process shares.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, Protocol

from mlopsdsl._dataclass import dataclass
from mlopsdsl.local._prestart import clean_environment, step_pythonpath
from mlopsdsl.runtime import execute

LineSink = Callable[[str], None]


@dataclass
class Attempt:
    """One attempt of a step: its call spec, and how it must run."""

    spec: dict[str, Any]
    folder: Path | None
    """Where the attempt keeps its spec, log and outputs; ``None`` in process when it writes nothing."""
    function: Callable[..., Any] | None = None
    timeout: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    on_line: LineSink | None = None
    inherit: bool = True
    """Start from the runner's whole environment; ``False``: from a clean one (``local/_secrets.py``)."""


@dataclass
class Outcome:
    """What came of an attempt: the runtime's result record, or why there is none."""

    result: dict[str, Any] | None
    timed_out: bool = False
    exit_code: int | None = None
    log_tail: str = ""


class Executor(Protocol):
    name: str

    def run(self, attempt: Attempt) -> Outcome:
        """Run one attempt to its end (or its timeout)."""
        ...

    def stop(self) -> None:
        """Stop every attempt still running (the run was interrupted)."""
        ...

    def close(self) -> None:
        """Release what the executor holds (the run is over)."""
        ...


class SubprocessExecutor:
    """Each attempt in its own ``python -m mlopsdsl.runtime`` process."""

    name = "subprocess"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self._running: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._pythonpath = step_pythonpath()

    def run(self, attempt: Attempt) -> Outcome:
        assert attempt.folder is not None
        spec_path = attempt.folder / "spec.json"
        spec_path.write_text(json.dumps(attempt.spec, ensure_ascii=False))
        base = os.environ if attempt.inherit else clean_environment(os.environ)
        env = {**base, **attempt.env, "PYTHONPATH": self._pythonpath}
        log_path = attempt.folder / "log.txt"
        proc = subprocess.Popen(
            [self.python, "-m", "mlopsdsl.runtime", str(spec_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        with self._lock:
            self._running.add(proc)
        tail: list[str] = []
        reader = threading.Thread(
            target=self._pump, args=(proc, log_path, tail, attempt.on_line), daemon=True
        )
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=attempt.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            proc.wait()
        finally:
            with self._lock:
                self._running.discard(proc)
        reader.join(timeout=5)
        result = None
        result_path = attempt.spec.get("result")
        if not timed_out and result_path and os.path.exists(result_path):
            try:
                result = json.loads(Path(result_path).read_text(encoding="utf-8"))
            except ValueError:
                result = None
        return Outcome(result, timed_out, proc.returncode, "".join(tail[-20:]))

    @staticmethod
    def _pump(
        proc: subprocess.Popen[bytes], log_path: Path, tail: list[str], on_line: LineSink | None
    ) -> None:
        assert proc.stdout is not None
        with proc.stdout, open(log_path, "wb") as log:
            for raw in proc.stdout:
                log.write(raw)
                line = raw.decode(errors="replace")
                tail.append(line)
                if len(tail) > 40:
                    del tail[:20]
                if on_line is not None:
                    on_line(line.rstrip("\n"))

    def stop(self) -> None:
        with self._lock:
            running = list(self._running)
        for proc in running:
            _kill_group(proc)

    def close(self) -> None:
        """Nothing to release: each attempt's process is gone when its attempt ends."""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class InProcessExecutor:
    """Each attempt in the runner's own process, through the same runtime function."""

    name = "in-process"

    def __init__(self) -> None:
        self._env_lock = threading.Lock()

    def run(self, attempt: Attempt) -> Outcome:
        if attempt.timeout is None:
            return Outcome(self._call(attempt))
        box: list[dict[str, Any]] = []
        worker = threading.Thread(target=lambda: box.append(self._call(attempt)), daemon=True)
        worker.start()
        worker.join(attempt.timeout)
        if worker.is_alive():
            return Outcome(None, timed_out=True)
        return Outcome(box[0] if box else None)

    def _call(self, attempt: Attempt) -> dict[str, Any]:
        if not attempt.env:
            return execute(attempt.spec, function=attempt.function)
        with self._env_lock:
            saved = {k: os.environ.get(k) for k in attempt.env}
            os.environ.update(attempt.env)
        try:
            return execute(attempt.spec, function=attempt.function)
        finally:
            with self._env_lock:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def stop(self) -> None:
        """Threads cannot be stopped; the interrupt reaches the runner, and the run ends."""

    def close(self) -> None:
        """Nothing to release."""
