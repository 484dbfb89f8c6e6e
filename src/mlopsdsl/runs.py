"""Past local runs from Python: ``ml.runs.list()`` and ``ml.runs.get(run_id)``.

A run's records (``<home>/runs/<run id>/``: ``run.json``, ``document.json``, ``steps/*.json``) say what ran,
on what, and what came out, each stored value by its sha256 digest. :class:`PastRun` reads them and gives the
pipeline's outputs, each task's outputs and metrics, and the lineage of an output: the tasks that made it
and everything they read, back to the parameters. Values are loaded only when asked for, and a stored one
only after its bytes were checked against the recorded digest: a blob changed or lost since the run is an
:class:`~mlopsdsl.errors.RunError` naming it, never another value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsdsl._dataclass import dataclass
from mlopsdsl.errors import RunError

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl.local._store import BlobStore, RemoteStore

__all__ = ["DAMAGED", "PastRun", "PastTask", "Values", "get", "list"]

_list = list

DAMAGED = "damaged"
"""The status :func:`list` gives a run whose record's seal does not hold."""


def list(home: str | os.PathLike[str] | None = None) -> _list[dict[str, Any]]:
    """The run records under ``home`` (``$MLOPSDSL_HOME`` or ``./.mlopsdsl``), newest first.

    Each record is read as ``runs show``, ``get`` and ``--resume`` read it, its seal checked (with the
    store key, when one is set). A record whose seal does not hold is not shown as it says: it is marked,
    ``{"run_id": FOLDER, "status": "damaged", "damaged": REASON}``, so that a changed record is seen, never
    believed.

    Raises:
        RunError: The store key is set in the wrong place or has the wrong type.
    """
    from mlopsdsl.errors import IntegrityError
    from mlopsdsl.local._config import trust
    from mlopsdsl.local._records import RunFolder
    from mlopsdsl.local._records import home as home_folder

    root = home_folder(home)
    key = trust(root).key
    records: _list[dict[str, Any]] = []
    for path in (root / "runs").glob("*"):
        if not (path / "run.json").is_file():
            continue
        try:
            records.append(RunFolder(root, path.name, key).read_run())
        except IntegrityError as exc:
            records.append({"run_id": path.name, "status": DAMAGED, "damaged": str(exc)})
        except OSError:
            continue  # removed while listing
    records.sort(key=lambda r: (str(r.get("started", "")), str(r.get("run_id", ""))), reverse=True)
    return records


def get(run_id: str, home: str | os.PathLike[str] | None = None) -> PastRun:
    """A past run by id (``latest`` for the newest).

    Raises:
        RunError: There is no such run, or its records cannot be read.
    """
    from mlopsdsl.local._config import trust
    from mlopsdsl.local._records import RunFolder
    from mlopsdsl.local._records import home as home_folder

    root = home_folder(home)
    if run_id == "latest":
        found = list(root)
        if not found:
            raise RunError(f"no runs in {root / 'runs'}")
        run_id = str(found[0].get("run_id"))
    folder = RunFolder.existing(root, run_id, trust(root).key)
    try:
        record = folder.read_run()
        steps = folder.read_steps()
        document = _document(folder.path / "document.json")
    except (OSError, ValueError) as exc:
        raise RunError(f"run {run_id}: its records cannot be read ({type(exc).__name__}: {exc})") from None
    return PastRun(record, steps, document, root, folder.path)


def _document(path: Path) -> ir.Document | None:
    from mlopsdsl import ir

    try:
        return ir.Document.from_json(path.read_bytes())
    except Exception:  # an older or damaged document: values come back as their JSON
        return None


class Values(Mapping[str, Any]):
    """Output values by name, each loaded (and checked by its digest) when first read."""

    def __init__(self, records: dict[str, dict[str, Any]], load: Any) -> None:
        self.records = records
        """The output records themselves: kind, value or sha256, size, URI."""
        self._load = load
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self.records:
                raise KeyError(name)
            self._loaded[name] = self._load(name, self.records[name])
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"<outputs {', '.join(self.records)}>"


@dataclass
class PastTask:
    """One task of a past run, as its record has it."""

    task: str
    step: str
    status: str
    record: dict[str, Any]
    outputs: Values
    metrics: dict[str, Any] = field(default_factory=dict)
    """What the step logged as metrics (``ml.log_metric``), by name; empty when it logged none."""

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        """The input records: JSON values, stored values by digest, and the task output each came from."""
        return dict(self.record.get("inputs") or {})


class PastRun:
    """A past local run: its outputs, its tasks, and the lineage of what it made."""

    def __init__(
        self,
        record: dict[str, Any],
        steps: dict[str, dict[str, Any]],
        document: ir.Document | None,
        home: Path,
        run_dir: Path,
    ) -> None:
        self.record = record
        self.run_id: str = str(record.get("run_id"))
        self.pipeline: str = str(record.get("pipeline"))
        self.status: str = str(record.get("status"))
        self.params: dict[str, Any] = dict(record.get("params") or {})
        self.started: str | None = record.get("started")
        self.seconds: float | None = record.get("seconds")
        self.run_dir = run_dir
        self.document = document
        self._home = home
        self._blobs: BlobStore | RemoteStore | None = None
        types = {o.name: o.type for o in document.pipeline.outputs} if document is not None else {}
        self.outputs = Values(dict(record.get("outputs") or {}), lambda n, r: self._value(r, types.get(n), n))
        """The pipeline's outputs (empty unless the run succeeded)."""
        self.tasks: dict[str, PastTask] = {
            task: self._task(task, data) for task, data in sorted(steps.items(), key=_started)
        }
        """Every task that has a record, in the order they started."""

    def __repr__(self) -> str:
        return f"<run {self.run_id} of {self.pipeline}: {self.status}>"

    def lineage(self, output: str) -> _list[PastTask]:
        """The tasks that made the pipeline output ``output``, then the tasks whose outputs they read, and so
        on back to the parameters: each once, the closest first.

        Raises:
            KeyError: The pipeline has no such output in this run.
        """
        if output not in self.outputs.records:
            raise KeyError(output)
        queue = self._producers(output)
        seen: _list[str] = []
        while queue:
            task = queue.pop(0)
            if task in seen or task not in self.tasks:
                continue
            seen.append(task)
            for item in self.tasks[task].inputs.values():
                for origin in _origins(item):
                    queue.append(origin)
        return [self.tasks[t] for t in seen]

    def _producers(self, output: str) -> _list[str]:
        """The tasks an output was taken from, by the pipeline's own binding, else by the digest."""
        if self.document is not None:
            from mlopsdsl import ir

            for out in self.document.pipeline.outputs:
                if out.name == output:
                    found = [b.task for b in ir.task_outputs_read(out.source)]
                    tasks = [t for t in self.tasks if any(t == f or t.startswith(f + "/") for f in found)]
                    if tasks:
                        return tasks
        digest = self.outputs.records[output].get("sha256")
        return [
            t
            for t, past in self.tasks.items()
            if digest is not None and any(r.get("sha256") == digest for r in past.outputs.records.values())
        ]

    def _task(self, task: str, data: dict[str, Any]) -> PastTask:
        types = self._step_types(str(data.get("step", "")))
        return PastTask(
            task=task,
            step=str(data.get("step", task)),
            status=str(data.get("status")),
            record=data,
            outputs=Values(
                dict(data.get("outputs") or {}),
                lambda n, r: self._value(r, types.get(n), f"{task}.{n}"),
            ),
            metrics=dict(data.get("metrics") or {}),
        )

    def _step_types(self, step: str) -> dict[str, ir.TypeSpec]:
        if self.document is None:
            return {}
        try:
            spec = self.document.step(step)
        except KeyError:
            return {}
        return {o.name: o.type for o in spec.outputs}

    def _store(self) -> BlobStore | RemoteStore:
        if self._blobs is None:
            from mlopsdsl.local._config import resolve as resolve_storage
            from mlopsdsl.local._store import open_store

            root = self.record.get("artifact_root")
            self._blobs = open_store(resolve_storage(root, self._home), self._home)
        return self._blobs

    def _value(self, record: dict[str, Any], type_: ir.TypeSpec | None, what: str) -> Any:
        """The Python value of a record; a stored one after its bytes were checked against its digest."""
        from mlopsdsl.local._result import python_value

        kind = record.get("kind")
        if kind == "collected":
            element = type_.items if type_ is not None and type_.kind == "list" else None
            return [self._value(item, element, what) for item in record.get("items") or []]
        if kind == "json":
            return python_value(record, type_, None)
        blobs = self._store()
        try:
            path = blobs.local_path(record)
        except Exception as exc:
            raise RunError(f"run {self.run_id}: {what}: cannot fetch {record.get('uri')}: {exc}") from None
        if not blobs.is_remote:  # a download is checked by its digest as it arrives
            from mlopsdsl.runtime._cache import check_local

            problem = check_local(str(path), record)
            if problem is not None:
                raise RunError(f"run {self.run_id}: {what}: {problem}; it was changed or lost since the run")
        return python_value(record, type_, path)


def _started(item: tuple[str, dict[str, Any]]) -> tuple[str, str]:
    return str(item[1].get("started") or "~"), item[0]


def _origins(item: dict[str, Any]) -> _list[str]:
    """The tasks an input record came from: ``make.output`` -> ``make``; a collected list's each."""
    found: _list[str] = []
    origin = item.get("from")
    if isinstance(origin, str) and "." in origin:
        found.append(origin.rsplit(".", 1)[0])
    for element in item.get("items") or []:
        if isinstance(element, dict):
            found.extend(_origins(element))
    return found
