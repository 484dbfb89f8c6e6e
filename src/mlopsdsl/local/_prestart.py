"""Starting the ``fork`` executor's server (:mod:`mlopsdsl._zygote`), early and cheaply.

The server's own start (an interpreter, the step runtime, cloudpickle: ~70 ms) is on the way to a run's
first step unless it overlaps the runner's. So ``mlopsdsl run`` starts it first thing, before it even reads
its command line in full (:func:`mlopsdsl.cli.main`), and the first :class:`~mlopsdsl.local._fork.
ForkExecutor` of the process adopts it. This module is what that needs and no more: the standard library's
``os``, ``socket`` and ``subprocess``, none of the runner, the IR or the step runtime.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from typing import TypeAlias

import mlopsdsl

__all__ = [
    "KEPT",
    "KEPT_PREFIXES",
    "clean_environment",
    "fork_available",
    "prestart",
    "runtime_root",
    "spawn",
    "step_pythonpath",
    "take_prestarted",
]

KEPT = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SYSTEMROOT",
    "VIRTUAL_ENV",
)
"""Variables a clean step environment keeps: what an interpreter needs to start as it does in a shell."""
KEPT_PREFIXES = ("LC_", "PYTHON", "MLOPSDSL_", "AWS_", "FSSPEC_")
"""Prefixes a clean step environment keeps: locale, Python's own settings, mlopsdsl's, and the artifact
store's credentials, which the step runtime itself needs (as a pod has the store's credentials)."""


def clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a step's process starts from when it must not see the rest."""
    return {k: v for k, v in environ.items() if k in KEPT or k.startswith(KEPT_PREFIXES)}


def fork_available() -> bool:
    """Whether this platform can run the ``fork`` executor (``os.fork`` and descriptor passing)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(socket, "send_fds")


def runtime_root() -> str:
    """The folder that holds the ``mlopsdsl`` package, so a step's interpreter imports this very copy."""
    return os.path.dirname(os.path.dirname(os.path.abspath(mlopsdsl.__file__)))


def step_pythonpath() -> str:
    """The ``PYTHONPATH`` a step's interpreter (and a fork server) gets: :func:`runtime_root`, then the
    runner's own."""
    root = runtime_root()
    path = os.environ.get("PYTHONPATH", "")
    return root if not path else f"{root}{os.pathsep}{path}"


Server: TypeAlias = "tuple[socket.socket, subprocess.Popen[bytes]]"
"""Our end of a server's socket pair, and its process."""


def spawn(python: str, pythonpath: str) -> Server:
    """A new server, run by ``python`` with ``pythonpath``; it says it is ready once its imports are done."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        server = subprocess.Popen(
            [python, "-m", "mlopsdsl._zygote", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            # Only what a clean step starts from: a child's /proc/self/environ shows the server's.
            env={**clean_environment(os.environ), "PYTHONPATH": pythonpath},
            start_new_session=True,  # Ctrl-C reaches the runner, which stops the children itself
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return ours, server


_early: tuple[Server, tuple[str, str]] | None = None
"""A server started by :func:`prestart`, and the interpreter and path it runs with, until one is adopted."""


def prestart(python: str | None = None) -> None:
    """Start a server now, for the next ``ForkExecutor`` of this process to adopt (:func:`take_prestarted`).

    Does nothing where the ``fork`` executor cannot run, or when one is already waiting. An unused server
    leaves when this process ends: its socket closes.
    """
    global _early
    if _early is None and fork_available():
        python = python or sys.executable
        pythonpath = step_pythonpath()
        _early = (spawn(python, pythonpath), (python, pythonpath))
        atexit.register(_drop_early)


def take_prestarted(python: str, pythonpath: str) -> Server | None:
    """The waiting server, if it runs with ``python`` and ``pythonpath`` and is alive; any other waiting
    server is ended. Either way none waits afterwards."""
    global _early
    early, _early = _early, None
    if early is None:
        return None
    (sock, server), settings = early
    if settings == (python, pythonpath) and server.poll() is None:
        return sock, server
    sock.close()
    server.wait()
    return None


def _drop_early() -> None:
    """At exit: end a server that no executor took (closing its socket ends it)."""
    global _early
    early, _early = _early, None
    if early is not None:
        (sock, server), _settings = early
        sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=5)
