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
``cached``; that record is written after its outputs are in the blob store, never before.
"""

from __future__ import annotations

import json
import os
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


class RunFolder:
    """The records of one run."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.run_id = run_id
        self.path = root / "runs" / run_id

    @classmethod
    def existing(cls, root: Path, run_id: str) -> RunFolder:
        folder = cls(root, run_id)
        if not (folder.path / "run.json").is_file():
            runs = sorted(p.name for p in (root / "runs").glob("*")) if (root / "runs").is_dir() else []
            hint = f" (recent: {', '.join(runs[-3:])})" if runs else ""
            raise RunError(f"no run {run_id!r} in {root / 'runs'}{hint}")
        return folder

    def create(self) -> None:
        """Make the run's folders (step records then never need a ``mkdir``)."""
        (self.path / "steps").mkdir(parents=True, exist_ok=True)

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
        write_json(self.path / "run.json", record)

    def read_run(self) -> dict[str, Any]:
        data: dict[str, Any] = read_json(self.path / "run.json")
        return data

    def write_step(self, node_id: str, record: dict[str, Any]) -> None:
        if record.get("status") == "running":
            write_json_fast(self.step_path(node_id), record)
        else:
            write_json(self.step_path(node_id), record, make_parent=False)

    def read_steps(self) -> dict[str, dict[str, Any]]:
        """Every step record that can be read; a damaged one is left out (its step runs again)."""
        out: dict[str, dict[str, Any]] = {}
        folder = self.path / "steps"
        if not folder.is_dir():
            return out
        for path in folder.glob("*.json"):
            try:
                record = read_json(path)
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and isinstance(record.get("task"), str):
                out[record["task"]] = record
        return out
