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
written before anything else of the run, so every run folder can be resumed.

Records are sealed (``runtime/_seal.py``): a digest, and with a store key a signature. A record whose seal
does not hold is not trusted: a step record is left out (its step runs again), a ``run.json`` is refused.
With a key, a record without a signature is refused too.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from datetime import UTC, datetime
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


def now() -> str:
    """A UTC timestamp for records, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id(pipeline: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{pipeline}-{stamp}-{secrets.token_hex(3)}"


def safe_name(node_id: str) -> str:
    """A task id as a file name (sub-pipeline tasks contain ``/``)."""
    return node_id.replace("/", "__")


def write_json(path: Path, value: Any, make_parent: bool = True) -> None:
    if make_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def write_json_fast(path: Path, value: Any) -> None:
    """Atomic like :func:`write_json` but not flushed to disk: for transient states (``running``) that
    nothing trusts. Survives the runner being killed (the kernel has the data), not a power cut."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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

    def step_path(self, node_id: str) -> Path:
        return self.path / "steps" / f"{safe_name(node_id)}.json"

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
        from mlopsdsl.runtime._seal import seal

        sealed = seal(record, self.key)
        if record.get("status") == "running":
            write_json_fast(self.step_path(node_id), sealed)
        else:
            write_json(self.step_path(node_id), sealed, make_parent=False)

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
