"""Run records: what happened in a run, on disk, for people, for ``--resume`` and for the cache.

Layout under the home folder (``.mlopsdsl/`` in the working directory, or ``$MLOPSDSL_HOME``)::

    runs/<run id>/run.json             the run: pipeline, parameters, status, times, outputs
    runs/<run id>/document.json        the IR that ran
    runs/<run id>/steps/<task>.json    per step: status, attempts, times, cache hit, outputs, error
    runs/<run id>/attempts/<task>/<n>/ the call spec, result, log and outputs of one attempt
    runs/<run id>/code/                by-value code payloads
    blobs/, cache/                     stored outputs and cache entries, shared by all runs

Every record is replaced whole in one rename, so a reader (or a resume after SIGKILL) sees either the
previous version or the new one. A step counts as done only when its record says ``succeeded`` or
``cached``; that record is written after its outputs are in the blob store, never before. ``run.json`` is
written before anything else of the run, so every run folder can be resumed. Step records reach the disk
in batches behind the run (:class:`Syncer`), and ``run.json`` only after every step record written
before it.

Records are sealed (``runtime/_seal.py``): a digest, and with a store key a signature. A record whose seal
does not hold is not trusted: a step record is left out (its step runs again), a ``run.json`` is refused.
With a key, a record without a signature is refused too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mlopsdsl._files import write_atomic
from mlopsdsl.errors import RunError

DONE = ("succeeded", "cached")


def home(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds runs, blobs and the cache."""
    if path is not None:
        return Path(path)
    env = os.environ.get("MLOPSDSL_HOME")
    return Path(env) if env else Path.cwd() / ".mlopsdsl"


def now(clock: float | None = None) -> str:
    """A UTC timestamp for records, to the millisecond: ``datetime.now(UTC).isoformat(timespec=
    "milliseconds")``, without importing :mod:`datetime` on the way to a run's first step."""
    micros = int((time.time() if clock is None else clock) * 1_000_000)
    seconds, fraction = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction // 1000:03d}+00:00"


def new_run_id(pipeline: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{pipeline}-{stamp}-{os.urandom(3).hex()}"


def safe_name(node_id: str) -> str:
    """A task id as a file name (sub-pipeline tasks contain ``/``)."""
    return node_id.replace("/", "__")


def write_json(path: Path, value: Any, make_parent: bool = True) -> None:
    if make_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def write_fast(path: str | Path, data: str | bytes) -> None:
    """Atomic like :func:`write_json` but not flushed to disk here: the rename is atomic in the kernel, so
    the file survives the runner being killed at any instant (the page cache outlives the process);
    surviving a power cut is left to the caller (:class:`Syncer`), or not needed (``running`` states)."""
    tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.{os.getpid()}.{threading.get_ident()}.tmp"
    view = memoryview(data.encode() if isinstance(data, str) else data)
    try:
        # Plain descriptors: a text-mode open() adds stat and seek calls, each one slow on a busy VM.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Syncer:
    """Step records put on disk behind the run, in batches (a group commit), instead of one ``fsync``
    per record on the step's path.

    An ``fsync`` costs 3-7 ms on a virtual disk, several times what the runner spends on an in-process
    step. Nothing a resume decides depends on it: a kill -9 loses nothing once the record is renamed into
    place (the kernel has it), and after a power cut a record that did not reach the disk is missing, torn
    or empty, which :meth:`RunFolder.read_steps` leaves out (its seal or its JSON fails), so that step
    runs again, as it would had the cut come a moment earlier. The outputs such a record names are not
    ``fsync``ed either, and are checked by digest before reuse. What the flush still guarantees is the
    order people rely on: :meth:`RunFolder.write_run` waits for every step record written before it, so
    a run whose ``run.json`` says it ended has all its step records on disk.

    A thread syncs whatever was written since its last sync: the file system's ``syncfs`` on Linux (one
    call however many records, ~0.3 ms of CPU), else an ``fsync`` of each record and of its folder. It
    syncs at most every :attr:`INTERVAL` seconds unless a barrier waits: back-to-back syncs slowed every
    rename the steps made meanwhile (the journal is busy), by up to 2x.
    """

    INTERVAL = 0.05

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cond = threading.Condition()
        self._written = 0
        self._synced = 0
        self._paths: list[str] = []
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None
        self._idle = False
        self._waiting = 0
        """Barriers waiting: the next sync starts at once."""

    def written(self, path: str, start: bool = True) -> None:
        """``path`` was renamed into place: put it on disk soon. With ``start=False`` it waits for the next
        record or barrier to start the syncing thread: the files a run writes before its first step (its
        document, its steps' code) do not start a thread that competes with that step's start."""
        with self._cond:
            self._written += 1
            self._paths.append(path)
            if self._thread is None:
                if start:
                    self._start()
            elif self._idle:  # only then: waking the thread for every record cost a hand-off each
                self._cond.notify_all()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mlopsdsl-sync", daemon=True)
        self._thread.start()

    def barrier(self) -> None:
        """Return once every record written before this call is on disk.

        Raises:
            OSError: Syncing failed (the records may not be on disk).
        """
        with self._cond:
            target = self._written
            if self._thread is None and self._synced < target:
                self._start()
            self._waiting += 1
            self._cond.notify_all()
            try:
                while self._synced < target and self._error is None:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            if self._error is not None:
                error, self._error = self._error, None
                raise error

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._synced == self._written:
                    self._idle = True
                    self._cond.wait()
                self._idle = False
                target, paths, self._paths = self._written, self._paths, []
            try:
                _sync(self.folder, paths)
            except OSError as exc:
                with self._cond:
                    self._error = self._error or exc
            with self._cond:
                self._synced = target
                self._cond.notify_all()
                self._cond.wait_for(lambda: self._waiting > 0, self.INTERVAL)


_syncfs: Any = None


def _sync(folder: Path, paths: list[str]) -> None:
    """Put ``paths`` (renamed into place under ``folder``) on disk, with their folders' entries."""
    global _syncfs
    if _syncfs is None and sys.platform.startswith("linux"):
        import ctypes

        _syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", False)
    if _syncfs:
        fd = os.open(folder, os.O_RDONLY)
        try:
            if _syncfs(fd) != 0:
                import ctypes

                number = ctypes.get_errno()
                raise OSError(number, os.strerror(number), str(folder))
        finally:
            os.close(fd)
        return
    for path in [*paths, *sorted({os.path.dirname(p) for p in paths})]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # replaced since, by a record that is in a later batch
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


_TEMPORARY = re.compile(r"\.(\d+)(?:[-.][^/]*)?\.(tmp|part)$")
STALE_SECONDS = 24 * 3600
"""A temporary file whose writer cannot be told alive is removed once it is this old."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(root: Path, clock: float | None = None) -> int:
    """Remove the temporary files and folders that writers killed mid-write left in the shared folders
    (``cache/``, ``blobs/``, ``downloads/``) and in each run's records; the number removed.

    A temporary name carries its writer's pid (``name.<pid>-<random>.tmp``, ``name.<pid>.part``): one
    whose process is gone is removed at once; one whose pid is in use (perhaps reused) only once it is a
    day old, so a concurrent run's writes in progress are never touched.
    """
    from mlopsdsl.runtime._io import remove

    clock = time.time() if clock is None else clock
    folders: list[Path] = []
    for shared in ("cache", "blobs/sha256", "downloads/sha256", INCOMING):
        base = root / shared
        if base.is_dir():
            folders.append(base)
            folders.extend(p for p in base.iterdir() if p.is_dir() and len(p.name) == 2)
    runs = root / "runs"
    if runs.is_dir():
        for run in runs.iterdir():
            folders.extend(p for p in (run, run / "steps", run / "code") if p.is_dir())
    removed = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMPORARY.search(entry.name)
            if match is None:
                continue
            try:
                age = clock - entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            if _alive(int(match.group(1))) and age < STALE_SECONDS:
                continue
            remove(entry.path)
            removed += 1
    return removed


INCOMING = "incoming"
"""Under the home folder: where a new run's folder is built before it is renamed into ``runs/``."""


def _sealed(record: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    from mlopsdsl.runtime._seal import seal

    return seal(record, key)


class RunFolder:
    """The records of one run."""

    def __init__(self, root: Path, run_id: str, key: bytes | None = None) -> None:
        self.run_id = run_id
        self.path = root / "runs" / run_id
        self.key = key
        self._syncer = Syncer(self.path)
        self._steps = str(self.path / "steps")

    @classmethod
    def existing(cls, root: Path, run_id: str, key: bytes | None = None) -> RunFolder:
        folder = cls(root, run_id, key)
        if not (folder.path / "run.json").is_file():
            runs = sorted(p.name for p in (root / "runs").glob("*")) if (root / "runs").is_dir() else []
            hint = f" (recent: {', '.join(runs[-3:])})" if runs else ""
            raise RunError(f"no run {run_id!r} in {root / 'runs'}{hint}")
        return folder

    def create(self, record: dict[str, Any]) -> None:
        """Make the run's folders (step records then never need a ``mkdir``) with ``record`` in them.

        A new run's folder is built under ``<home>/incoming`` and renamed into place with its ``run.json``
        already written: a runner killed at any instant leaves either no run folder or one that
        ``--resume`` finds, never a folder without its record (a half-built one is swept as temporary).
        """
        if self.path.is_dir():  # a resumed run
            (self.path / "steps").mkdir(exist_ok=True)
            self.write_run(record)
            return
        incoming = self.path.parent.parent / INCOMING / f"{self.run_id}.{os.getpid()}.tmp"
        (incoming / "steps").mkdir(parents=True)
        self.path.parent.mkdir(exist_ok=True)
        try:
            write_json(incoming / "run.json", _sealed(record, self.key))
            os.rename(incoming, self.path)
        except BaseException:
            from mlopsdsl.runtime._io import remove

            remove(str(incoming))
            raise

    def write_file(self, path: Path, data: str | bytes) -> None:
        """Write a file of the run (its document, its steps' code) as step records are written: renamed
        into place at once, on disk before ``run.json`` says the run ended (:class:`Syncer`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_fast(path, data)
        self._syncer.written(str(path), start=False)

    def step_path(self, node_id: str) -> Path:
        return self.path / "steps" / f"{safe_name(node_id)}.json"

    def _step_file(self, node_id: str) -> str:
        return f"{self._steps}/{safe_name(node_id)}.json"

    def attempt_dir(self, node_id: str, attempt: int) -> Path:
        """A fresh folder for one attempt (a resumed run never reuses an earlier attempt's folder)."""
        base = self.path / "attempts" / safe_name(node_id)
        path = base / str(attempt)
        n = 1
        while path.exists():
            n += 1
            path = base / f"{attempt}.{n}"
        path.mkdir(parents=True)
        return path

    def write_run(self, record: dict[str, Any]) -> None:
        """Write ``run.json`` (flushed), after every step record written so far is on disk."""
        self._syncer.barrier()
        write_json(self.path / "run.json", _sealed(record, self.key))

    def read_run(self) -> dict[str, Any]:
        """The run record, once its seal holds.

        Raises:
            mlopsdsl.errors.IntegrityError: It cannot be read, or its seal does not hold.
        """
        from mlopsdsl.errors import IntegrityError
        from mlopsdsl.runtime._io import IntegrityError as Damaged
        from mlopsdsl.runtime._seal import check

        path = self.path / "run.json"
        try:
            return check(read_json(path), self.key, str(path), required=False)
        except (Damaged, ValueError) as exc:
            raise IntegrityError(f"{path}: {exc}" if isinstance(exc, ValueError) else str(exc)) from None

    def write_step(self, node_id: str, record: dict[str, Any]) -> None:
        from mlopsdsl.runtime._seal import sealed_json

        path = self._step_file(node_id)
        write_fast(path, sealed_json(record, self.key) + "\n")
        if record.get("status") != "running":  # a transient state: nothing trusts it, no need to keep it
            self._syncer.written(path)

    def read_steps(self) -> dict[str, dict[str, Any]]:
        """Every step record that can be read and whose seal holds; a damaged one is left out (its step
        runs again)."""
        from mlopsdsl.runtime._io import IntegrityError as Damaged
        from mlopsdsl.runtime._seal import check

        out: dict[str, dict[str, Any]] = {}
        folder = self.path / "steps"
        if not folder.is_dir():
            return out
        for path in folder.glob("*.json"):
            try:
                record = check(read_json(path), self.key, str(path), required=False)
            except (OSError, ValueError, Damaged):
                continue
            if isinstance(record, dict) and isinstance(record.get("task"), str):
                out[record["task"]] = record
        return out
