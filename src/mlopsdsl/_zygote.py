"""The fork server of the local runner's ``fork`` executor: imports the step runtime once, forks a step.

A fresh interpreter per step costs its start (~12 ms) plus the runtime's and cloudpickle's imports (tens of
ms) before the step's own code runs. This process pays that once, then forks one child per attempt: the
child is still a process of its own (own session and process group, own working folder, environment and
output pipe), so a step cannot disturb the runner or other steps, a timeout kills its whole group, and a
crash ends only the child. Started by :class:`mlopsdsl.local._fork.ForkExecutor` as
``python -m mlopsdsl._zygote FD``, where ``FD`` is its end of a ``SOCK_SEQPACKET`` socket pair.

The protocol, one JSON object per packet:

* runner → server: ``{"id", "spec", "cwd"}`` with two file descriptors attached: the write end of the
  pipe that becomes the child's stdout and stderr, and the read end of a pipe that carries the child's
  environment as JSON (read by the child alone);
* server → runner: ``{"ready": true}`` once, when its imports are done and it reads requests;
  ``{"id", "pid"}`` once the child exists, ``{"id", "exit"}`` when it ends (``exit`` as
  :attr:`subprocess.Popen.returncode` gives it: negative for a signal), ``{"id", "error"}`` if it could
  not be forked.

It stays single-threaded (forking a threaded process is unsafe) and imports only the standard library
and :mod:`mlopsdsl.runtime`; the runner, pydantic and the CLI never load here. The server leaves when the
runner closes its end.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
from typing import Any

_MAX_PACKET = 1 << 20
_WARM = (
    "mlopsdsl.runtime",
    "mlopsdsl.runtime.serializers",
    "mlopsdsl.runtime._cache",
    "mlopsdsl.runtime._remote",
    "mlopsdsl.artifacts",
    "cloudpickle",
    "pickle",
    "hashlib",
    "base64",
    "shutil",
    "threading",
    "traceback",
    "typing",
    "urllib.parse",
    "resource",
)


def serve(sock: socket.socket) -> None:
    """Answer requests on ``sock`` until the runner closes it."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that SIGCHLD writes to the wakeup fd
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "request")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    children: dict[int, int] = {}  # pid -> request id
    gc.freeze()  # what is imported now is shared by every child; the collector need not touch it there
    _send(sock, {"ready": True})
    while True:
        for key, _ in selector.select():
            if key.data == "child":
                os.read(wake_r, 4096)
                continue
            message, fds, _flags, _addr = socket.recv_fds(sock, _MAX_PACKET, 2)
            if not message:
                return
            request = json.loads(message)
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                _send(sock, {"id": request["id"], "error": "the request came without its two pipes"})
                continue
            try:
                pid = os.fork()
            except OSError as exc:
                for fd in fds:
                    os.close(fd)
                _send(sock, {"id": request["id"], "error": f"fork failed: {exc}"})
                continue
            if pid == 0:
                _child(request, fds[0], fds[1], [sock.fileno(), wake_r, wake_w])
            for fd in fds:
                os.close(fd)
            children[pid] = request["id"]
            _send(sock, {"id": request["id"], "pid": pid})
        _reap(sock, children)


def _reap(sock: socket.socket, children: dict[int, int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        request_id = children.pop(pid, None)
        if request_id is not None:
            _send(sock, {"id": request_id, "exit": _returncode(status)})


def _returncode(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the runner has gone; the next recv ends the loop
        sock.send(json.dumps(message).encode())


def _child(request: dict[str, Any], out: int, env_pipe: int, inherited: list[int]) -> None:
    """Become the step's process: what ``python -m mlopsdsl.runtime SPEC`` would be, minus the start.

    Its environment (secrets included) comes from the runner through ``env_pipe``, read here only: the
    server never holds it, so no later child can find one step's secrets in memory it inherits.
    """
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a new interpreter
        for fd in inherited:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]  # ``python -m`` starts with the working folder first
        env: dict[str, str] = json.loads(_read_all(env_pipe))
        os.environ.clear()
        os.environ.update(env)
        _extend_path(env.get("PYTHONPATH", ""))
        sys.argv = [sys.argv[0], request["spec"]]
        from mlopsdsl.runtime import main

        code = main([request["spec"]])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        _wind_down()
        os._exit(code)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _wind_down() -> None:
    """What an interpreter does at exit and ``os._exit`` skips: wait for the step's non-daemon threads,
    run its ``atexit`` functions, flush the streams (the server's own exit work is not the child's)."""
    import atexit
    import threading

    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            with contextlib.suppress(BaseException):
                thread.join()
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # the process ends next, whatever its streams do
            stream.flush()


def _extend_path(pythonpath: str) -> None:
    """Entries of the step's ``PYTHONPATH`` the server did not start with (a new interpreter would have
    put them on ``sys.path`` at start), ahead of the rest, in order."""
    new = [p for p in pythonpath.split(os.pathsep) if p and p not in sys.path]
    sys.path[1:1] = new


def main(argv: list[str]) -> int:
    """``python -m mlopsdsl._zygote FD``."""
    sock = socket.socket(fileno=int(argv[0]))
    # Everything a step needs before its own code, imported here once and shared by every fork, instead
    # of once per step: the runtime, and what it imports only when a step uses it (hashing outputs, by-value
    # code, stored objects, tracebacks).
    for name in _WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    # A runner that went away (it exited, perhaps on a user error before its first step, with our "ready"
    # unread) leaves nothing to serve, and its stderr is the user's terminal: no traceback.
    with contextlib.suppress(ConnectionError):
        serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
