"""The ``fork`` executor: each attempt in a fresh process forked from a warm server (a zygote).

The subprocess executor starts a new interpreter per attempt, which then imports the step runtime and
cloudpickle: tens of milliseconds before the step's code runs. This executor starts one server process
(:mod:`mlopsdsl._zygote`) that imports them once, and asks it to fork a child per attempt. Isolation is
the subprocess executor's: the child has its own process, session and process group, its own environment
(the runner's, plus the step's ``env``), the runner's working folder, and its stdout and stderr on a pipe
that the runner streams to the attempt's log; a timeout kills the child's whole group; a crash ends only
the child; an interrupted run kills every child. What a fork cannot redo: interpreter options read at
start (``PYTHONHASHSEED``, ``-X`` flags, ``PYTHONPATH`` beyond adding entries to ``sys.path``) are the
server's. It is the default where ``os.fork`` exists (Linux); ``executor="subprocess"`` chooses the other.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from mlopsdsl.local._executors import Attempt, Outcome, SubprocessExecutor
from mlopsdsl.local._prestart import (
    clean_environment,
    fork_available,
    prestart,
    spawn,
    step_pythonpath,
    take_prestarted,
)

__all__ = ["ForkExecutor", "fork_available", "prestart"]


class _Pending:
    """One attempt in the server's hands: its child's pid, then its exit status."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.exit: int | None = None
        self.error: str | None = None
        self.started = threading.Event()
        self.ended = threading.Event()


class ForkExecutor:
    """Each attempt in a child forked from a server that has the step runtime imported."""

    name = "fork"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self._pythonpath = step_pythonpath()
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0
        self._sock: socket.socket | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._served = False
        """Whether a server said it was ready. Before that, no attempt can have reached a child, so an
        attempt whose server died may safely run elsewhere; after it, never (it may have run already)."""
        self._listener: threading.Thread | None = None
        self._fallback: SubprocessExecutor | None = None
        """Used if a server dies before forking anything (it cannot start here): slower, still correct."""
        self._start()  # now, so the server's imports overlap the runner's own work before the first step

    # ------------------------------------------------------------------ server

    def _start(self) -> None:
        server = take_prestarted(self.python, self._pythonpath) or spawn(self.python, self._pythonpath)
        ours, self._server = server
        self._sock = ours
        self._listener = threading.Thread(target=self._listen, args=(ours,), daemon=True)
        self._listener.start()

    def _listen(self, sock: socket.socket) -> None:
        """Route the server's messages to the attempts waiting for them, until it goes away."""
        while True:
            try:
                message = sock.recv(65536)
            except OSError:
                message = b""
            if not message:
                break
            try:
                data = json.loads(message)
                assert isinstance(data, dict)
            except (ValueError, AssertionError):  # not our server's protocol: treat it as gone
                break
            if data.get("ready"):
                self._served = True  # from now on, an attempt may have reached a child
                continue
            with self._lock:
                pending = self._pending.get(data.get("id", -1))
            if pending is None:
                continue
            if "pid" in data:
                pending.pid = data["pid"]
                pending.started.set()
            elif "exit" in data:
                pending.exit = data["exit"]
                pending.started.set()
                pending.ended.set()
            else:
                pending.error = str(data.get("error"))
                pending.started.set()
                pending.ended.set()
        # The server is gone (it crashed or was stopped): attempts still waiting learn it now. Their
        # children, if any, run on; each attempt still reads its output pipe to the end.
        with self._lock:
            if self._sock is sock:
                self._sock = None
            lost = list(self._pending.values())
        sock.close()
        for pending in lost:
            if not pending.ended.is_set():
                pending.error = pending.error or "the fork server stopped"
                pending.started.set()
                pending.ended.set()

    def _request(self, request: dict[str, Any], pipes: list[int]) -> _Pending:
        pending = _Pending()
        with self._lock:
            if self._sock is None and not self._stopped:
                self._reap_server()
                self._start()  # the last server died: a new one, for this and later attempts
            sock = self._sock
            self._next_id += 1
            request["id"] = self._next_id
            self._pending[self._next_id] = pending
        if sock is None:
            pending.error = "the run was stopped"
            pending.ended.set()
            return pending
        try:
            socket.send_fds(sock, [json.dumps(request).encode()], pipes)
        except OSError as exc:
            pending.error = f"the fork server could not be reached: {exc}"
            pending.ended.set()
        return pending

    def _reap_server(self) -> None:
        server = self._server
        if server is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                server.kill()
            server.wait()

    # ------------------------------------------------------------------ attempts

    def run(self, attempt: Attempt) -> Outcome:
        with self._lock:
            if self._sock is None and not self._served and not self._stopped and self._fallback is None:
                self._reap_server()
                self._fallback = SubprocessExecutor(self.python)
            fallback = self._fallback
        if fallback is not None:
            return fallback.run(attempt)
        assert attempt.folder is not None
        spec_path = attempt.folder / "spec.json"
        spec_path.write_text(json.dumps(attempt.spec, ensure_ascii=False))
        base = os.environ if attempt.inherit else clean_environment(os.environ)
        env = {**base, **attempt.env, "PYTHONPATH": self._pythonpath}
        read_end, write_end = os.pipe()
        env_read, env_write = os.pipe()
        _send_env(env_write, json.dumps(env).encode())
        try:
            pending = self._request({"spec": str(spec_path), "cwd": os.getcwd()}, [write_end, env_read])
        finally:
            os.close(write_end)  # the child holds the only write end now: EOF comes when it (and its own
            os.close(env_read)  # children) are done
        tail: list[str] = []
        reader = threading.Thread(
            target=_pump, args=(read_end, attempt.folder / "log.txt", tail, attempt), daemon=True
        )
        reader.start()
        timed_out = not pending.ended.wait(attempt.timeout)
        if timed_out:
            pending.started.wait()
            if pending.pid is not None:
                _kill(pending.pid)
            pending.ended.wait()
        try:
            return self._finish(attempt, pending, reader, tail, timed_out)
        finally:
            with self._lock:  # only now: stop() must find a child that is still being waited for
                self._pending = {k: v for k, v in self._pending.items() if v is not pending}

    def _finish(
        self, attempt: Attempt, pending: _Pending, reader: threading.Thread, tail: list[str], timed_out: bool
    ) -> Outcome:
        if pending.pid is None and pending.error is not None and not self._served and not self._stopped:
            reader.join()  # EOF at once: only the server, now gone, held the pipe
            with self._lock:  # the server could not start here: this attempt and later ones go without
                self._fallback = self._fallback or SubprocessExecutor(self.python)
            return self._fallback.run(attempt)
        if pending.exit is None and not timed_out:
            # The server went away: a child it forked runs on, and its end is the end of its output
            # (on stop(), which kills the children it knows of, only a short wait for the rest).
            reader.join(5 if self._stopped else attempt.timeout)
            if reader.is_alive() and pending.pid is not None:
                _kill(pending.pid)
        reader.join(timeout=5)
        result = None
        result_path = attempt.spec.get("result")
        if not timed_out and result_path and os.path.exists(result_path):
            try:
                result = json.loads(Path(result_path).read_text(encoding="utf-8"))
            except ValueError:
                result = None
        log_tail = "".join(tail[-20:])
        if pending.error is not None and result is None:
            log_tail = f"{log_tail}mlopsdsl: {pending.error}\n"
        return Outcome(result, timed_out, pending.exit, log_tail)

    def stop(self) -> None:
        """Kill the server (so that it forks nothing more), then every running child's process group."""
        with self._lock:
            self._stopped = True
            listener = self._listener
        if self._server is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self._server.kill()
            self._server.wait()
        if listener is not None:
            listener.join(timeout=5)  # it reads the server's last messages: pids of children just forked
        with self._lock:
            pids = [p.pid for p in self._pending.values() if p.pid is not None and p.exit is None]
        for pid in pids:
            _kill(pid)
        if self._fallback is not None:
            self._fallback.stop()
        self.close()

    def close(self) -> None:
        """End the server (the runner is done with it); children still running are not touched."""
        with self._lock:
            self._stopped = True
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        server = self._server
        if server is not None:
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _send_env(fd: int, payload: bytes) -> None:
    """Write a child's environment into its pipe and close it: at once when the pipe can hold it, else
    from a thread (which ends with an error if the child never reads it)."""

    def write() -> None:
        with contextlib.suppress(OSError), open(fd, "wb") as pipe:
            pipe.write(payload)

    if len(payload) < 60_000:  # a Linux pipe holds 64 KiB
        write()
    else:
        threading.Thread(target=write, daemon=True).start()


def _kill(pid: int) -> None:
    """Kill a child's process group (it leads one: it called ``setsid`` first thing), or the child alone
    if it has not got that far yet. A pid is never 0 or negative here (``killpg(0)`` would be our own)."""
    if pid <= 0:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    except PermissionError:
        pass


def _pump(fd: int, log_path: Path, tail: list[str], attempt: Attempt) -> None:
    with open(fd, "rb") as stream, open(log_path, "wb") as log:
        for raw in stream:
            log.write(raw)
            line = raw.decode(errors="replace")
            tail.append(line)
            if len(tail) > 40:
                del tail[:20]
            if attempt.on_line is not None:
                attempt.on_line(line.rstrip("\n"))
