"""The local run loop: start every step whose inputs are ready, up to ``max_parallel`` at once.

For each step: resolve its inputs from upstream outputs, compute its cache key, reuse a resumed or
cached result when one is trustworthy, else run attempts through the executor with retries, backoff and
timeouts, move its stored outputs into the blob store, and record it. A failed step marks its dependents
``skipped``; independent branches run to their end; then the run fails with every failure listed.

Identical calls in one run are computed once: a cached step whose key equals that of a step still running
waits for it (``waiting``) and then reuses its result like any cache hit, so which call runs and which is
``cached`` does not depend on timing (when both are ready together, the first in plan order runs). If the
first one fails, the next one runs itself. Steps with ``cache=False``, and runs without the cache, run
every call.

Control flow is decided here, in the loop's own thread, when a node's dependencies are done: a node whose
block's condition does not hold is ``not-run`` (which its block's other nodes follow, and which
``ml.one_of`` reads past); a map node expands into one node per element of its list, at most
``max_parallel`` of them running at once, and then collects their outputs into lists; the exit handler
runs last, told whether everything else succeeded.

A tolerant map (``min_success`` set) waits for every element whatever it ended as: a failed element does
not skip the map, whose collected lists then hold only the succeeded elements' results, and whose record
lists the failed ones (index, task, error). Whether enough succeeded is :func:`mlopsdsl.lowering.verdict`'s
decision; a failure the map tolerated does not fail the run (:meth:`Scheduler.settled`).
"""

from __future__ import annotations

import contextvars
import dataclasses
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import field
from typing import Any

from mlopsdsl import ir
from mlopsdsl._dataclass import dataclass
from mlopsdsl._types import check_value
from mlopsdsl.backends import find_function
from mlopsdsl.errors import Location
from mlopsdsl.local._cache import Cache, cache_key, damage
from mlopsdsl.local._executors import Attempt, Executor, Outcome
from mlopsdsl.local._plan import Plan, dependents, select_json
from mlopsdsl.local._progress import Progress
from mlopsdsl.local._records import DONE, RunFolder, now
from mlopsdsl.local._store import BlobStore, RemoteStore
from mlopsdsl.local._telemetry import Publisher
from mlopsdsl.lowering import (
    Guard,
    Node,
    flatten,
    is_builtin,
    stored_kind,
    sub_environment,
    tolerates,
    verdict,
)
from mlopsdsl.lowering._sources import Const, Gather, OneOf, Ref, Source, Status
from mlopsdsl.runtime._cache import collected_part, stored_part, value_part
from mlopsdsl.runtime._io import stamp
from mlopsdsl.runtime.builtins import compare

Locate = Callable[["ir.SourceLocation | None"], "Location | None"]

FINISHED = (*DONE, "not-run")
"""States after which dependents may go on (a node that did not run because of a condition counts)."""


@dataclass
class Settings:
    max_parallel: int
    cache: bool
    code_mode: str
    """``value`` (cloudpickle payloads) or ``import`` (``module:qualname``)."""
    step_env: dict[str, str] = field(default_factory=dict)
    """Environment for every step: the store's options (never written into a call spec or record)."""
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    """Step name -> the values of the secrets it declares, by variable (memory only, see ``_secrets.py``)."""
    clean_env: bool = True
    """Start each step's process from a clean environment (only its own secrets among the runner's)."""


@dataclass
class StepOutcome:
    status: str
    record: dict[str, Any]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


class _Statuses(dict[str, str]):
    """Node id -> status, remembering which nodes changed since :meth:`take_changed` last ran."""

    def __init__(self, initial: dict[str, str]) -> None:
        super().__init__(initial)
        self._changed = set(initial)

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value)
        self._changed.add(key)

    def take_changed(self) -> set[str]:
        changed, self._changed = self._changed, set()
        return changed


class Scheduler:
    """Runs a plan; one instance per run."""

    def __init__(
        self,
        plan: Plan,
        folder: RunFolder,
        blobs: BlobStore | RemoteStore,
        cache: Cache,
        executor: Executor,
        progress: Progress,
        settings: Settings,
        code: dict[str, dict[str, Any]],
        functions: dict[str, Callable[..., Any]],
        locate: Locate,
        previous: dict[str, dict[str, Any]],
        publisher: Publisher | None = None,
    ) -> None:
        self.plan = plan
        self.folder = folder
        self.blobs = blobs
        self.cache = cache
        self.executor = executor
        self.progress = progress
        self.settings = settings
        self.code = code
        self.functions = functions
        self.locate = locate
        self.previous = previous
        self.publisher = publisher
        self.status: dict[str, str] = _Statuses({n: "pending" for n in plan.nodes})
        self._blocked_on: dict[str, set[str]] = {}
        """Node -> pending nodes found waiting for it; looked at again when its status changes."""
        self._limited: set[str] = set()
        """Pending nodes held back by their map's ``max_parallel``; looked at again every time."""
        self._position: dict[str, int] = {}
        self.pipeline_status = "Succeeded"
        self.records: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, dict[str, Any]]] = {}
        self.tolerated: set[str] = set()
        """Failed elements of tolerant maps that succeeded: these failures do not fail the run."""
        self._stopping = threading.Event()
        self._computing: dict[str, str] = {}
        """Cache key -> the node computing it now (only the loop's thread touches it)."""
        self._waiting: dict[str, list[str]] = {}
        """Cache key -> nodes waiting for that node, to reuse its result."""
        self._damaged: dict[str, str] = {}
        """Node -> what was wrong with the cache entry it found (recorded as ``cache_damaged``)."""

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Run every node that can run; fills :attr:`status`, :attr:`records` and :attr:`outputs`."""
        running: dict[Future[StepOutcome], str] = {}
        inline = self.executor.name == "in-process"
        with ThreadPoolExecutor(self.settings.max_parallel, thread_name_prefix="mlopsdsl-step") as pool:
            try:
                while True:
                    ready = self._ready(running)
                    while ready:
                        starting = [n for n in ready if not (self._decided_here(n) or self._waits(n))]
                        if inline and len(starting) == 1 and not running:
                            # Alone, in process: nothing else could start before it ends, so it runs in
                            # this thread (a hand-off to the pool and back cost more than a small step).
                            # It gets a context of its own, as a pool thread would.
                            node = starting[0]
                            self.status[node.id] = "running"
                            self._finish(node.id, contextvars.Context().run(self._run_node, node))
                        else:
                            for node in starting:
                                self.status[node.id] = "running"
                                running[pool.submit(self._run_node, node)] = node.id
                        ready = self._ready(running)
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        node_id = running.pop(future)
                        self._finish(node_id, future.result())
            except BaseException:
                self._stopping.set()
                self.executor.stop()
                for future in running:
                    future.cancel()
                raise

    def _ready(self, running: dict[Future[StepOutcome], str]) -> list[Node]:
        """The pending nodes that may start now, in plan order.

        Only nodes that may have become ready are looked at: those whose own status changed, and those
        found waiting for a node whose status changed (a scan of every node per finished step made a
        10,000-step run quadratic).
        """
        assert isinstance(self.status, _Statuses)
        busy: dict[str, int] = {}
        for node_id in running.values():
            owner = self.plan.nodes[node_id].parent_map
            if owner is not None:
                busy[owner] = busy.get(owner, 0) + 1
        candidates = self.status.take_changed() | self._limited
        self._limited = set()
        for node_id in list(candidates):
            candidates |= self._blocked_on.pop(node_id, set())
        if any(n not in self._position for n in candidates):
            self._position = {n: i for i, n in enumerate(self.plan.nodes)}
        ready = []
        for node_id in sorted(candidates, key=lambda n: self._position.get(n, -1)):
            node = self.plan.nodes.get(node_id)
            if node is None or self.status.get(node_id) != "pending":
                continue
            ended = (*FINISHED, "failed", "skipped") if self._tolerant(node) else FINISHED
            blocker = next((d for d in node.deps if self.status[d] not in ended), None)
            if blocker is not None:
                self._blocked_on.setdefault(blocker, set()).add(node_id)
                continue
            parent = self.plan.nodes.get(node.parent_map or "")
            limit = parent.task.map.max_parallel if parent is not None and parent.task.map else None
            if limit is not None and parent is not None and node.step is not None:
                if busy.get(parent.id, 0) >= limit:
                    self._limited.add(node_id)
                    continue
                busy[parent.id] = busy.get(parent.id, 0) + 1
            ready.append(node)
        return ready

    def settled(self, node_id: str) -> bool:
        """Whether ``node_id`` ended in a way that lets the run succeed."""
        return self.status[node_id] in FINISHED or node_id in self.tolerated

    def _tolerant(self, node: Node) -> bool:
        """A tolerant map node waiting for its elements: their failures do not skip it."""
        return node.expanded is not None and tolerates(node.task.map)

    def _tolerated_by(self, node_id: str) -> bool:
        parent = self.plan.nodes.get(self.plan.nodes[node_id].parent_map or "")
        return parent is not None and tolerates(parent.task.map)

    # ------------------------------------------------------------------ control flow

    def _waits(self, node: Node) -> bool:
        """Hold back a node whose call is being computed by another node of this run (see the module)."""
        step = node.step
        if step is None or not (self.settings.cache and step.options.cache):
            return False
        try:
            key = cache_key(step.digest, self._inputs(node)[1], step.options.cache_ignore)
        except Exception:  # a field path that does not exist: the node reports it when it runs
            return False
        owner = self._computing.get(key)
        if owner is None:
            self._computing[key] = node.id
            return False
        self.status[node.id] = "waiting"
        self._waiting.setdefault(key, []).append(node.id)
        self.progress.update(node.id, "waiting", f"(the same call as {owner})")
        return True

    def _release(self, node_id: str) -> None:
        """``node_id`` finished: the nodes waiting for its call may run now (and reuse its result)."""
        for key, owner in list(self._computing.items()):
            if owner == node_id:
                del self._computing[key]
                for other in self._waiting.pop(key, []):
                    self.status[other] = "pending"

    def _decided_here(self, node: Node) -> bool:
        """Settle a node that needs no process: a condition that does not hold, or a map's own work."""
        if node.guards and not all(self._holds(g) for g in node.guards):
            self._not_run(node)
            return True
        if node.task.map is None:
            return False
        if node.expanded is None:
            self._expand(node)
        else:
            self._collect(node)
        return True

    def _not_run(self, node: Node) -> None:
        self.status[node.id] = "not-run"
        record = self._base_record(node)
        record.update(status="not-run", reason="the condition of its block did not hold")
        self.records[node.id] = record
        self.folder.write_step(node.id, record)
        self.progress.update(node.id, "not-run", "(condition not met)")

    def _holds(self, guard: Guard) -> bool:
        kind = guard[0]
        if kind == "not":
            return not self._holds(guard[1])
        if kind == "all":
            return all(self._holds(g) for g in guard[1])
        if kind == "any":
            return any(self._holds(g) for g in guard[1])
        return compare(guard[1], self._json(guard[2]), self._json(guard[3]))

    def _json(self, source: Source) -> Any:
        """The JSON value a source delivers (operands of conditions, lists to map over)."""
        source = self._chosen(source)
        if isinstance(source, Const):
            return source.value
        if isinstance(source, Gather):
            values = [self._json(item) for item in source.items]
            return values if source.keys is None else dict(zip(source.keys, values, strict=True))
        assert isinstance(source, Ref)
        record = self.outputs[source.node][source.output]
        if record["kind"] == "collected":
            return record["items"]
        return select_json(record["value"], source.path)

    def _chosen(self, source: Source) -> Source:
        """For ``ml.one_of``: the source whose task ran."""
        if isinstance(source, OneOf):
            for option in source.sources:
                if isinstance(option, Const) or self.status.get(option.node) in DONE:
                    return option
            raise RuntimeError("ml.one_of(): no branch ran")
        if isinstance(source, Status):
            return Const(self.pipeline_status)
        return source

    def _expand(self, node: Node) -> None:
        """Add one node per element of the map's list; the map node then waits for them all."""
        assert node.task.map is not None
        name = node.task.map.input
        base = self._chosen(node.inputs[name])
        elements = self._json(base)
        if not isinstance(elements, list):
            error = {"type": "TypeError", "message": f"{node.id} maps over {name!r}, which is not a list"}
            self._finish(node.id, StepOutcome("failed", {**self._base_record(node), "error": error}))
            return
        added: list[str] = []
        outputs: list[dict[str, Source]] = []
        for index in range(len(elements)):
            element: Source
            if isinstance(base, Const):
                element = Const(elements[index])
            elif isinstance(base, Gather):
                element = base.items[index]
            else:
                element = Ref(base.node, base.output, (*base.path, index))  # type: ignore[union-attr]
            inputs = {**node.inputs, name: element}
            child = f"{node.id}[{index}]"
            if node.step is not None:
                task = dataclasses.replace(node.task, map=None)
                self.plan.nodes[child] = Node(
                    child, node.step, task, node.pipeline, inputs, parent_map=node.id
                )
                added.append(child)
                outputs.append({o.name: Ref(child, o.name) for o in node.step.outputs})
            else:
                assert node.sub is not None
                before = set(self.plan.nodes)
                env = sub_environment(node.sub, inputs)
                outputs.append(
                    flatten(
                        self.plan.document, node.sub, child + "/", env, set(), [], self.plan.nodes, node.id
                    )
                )
                added.extend(n for n in self.plan.nodes if n not in before)
        for child in added:
            self.status[child] = "pending"
            self.progress.update(child, "pending")
        node.expanded = outputs
        node.deps = set(added)
        self.status[node.id] = "pending"
        self.progress.update(node.id, "running", f"({len(outputs)} elements)")

    def _collect(self, node: Node) -> None:
        """The map's outputs: a list per output, one element per run, in input order (for a tolerant map,
        of the elements that succeeded)."""
        assert node.expanded is not None
        declared = node.step.outputs if node.step is not None else (node.sub.outputs if node.sub else [])
        failed = self._failed_elements(node)
        kept = [e for i, e in enumerate(node.expanded) if i not in {f["index"] for f in failed}]
        record = self._base_record(node)
        total = len(node.expanded)
        if failed:
            assert node.task.map is not None and node.task.map.min_success is not None
            record["failed_elements"] = failed
            problem = verdict(node.id, node.task.map.min_success, total, [f["index"] for f in failed])
            if problem is not None:
                record.update(status="failed", error={"type": "MapFailed", "message": problem})
                self._finish(node.id, StepOutcome("failed", record))
                return
            self.tolerated.update(f["task"] for f in failed)
        collected: dict[str, dict[str, Any]] = {}
        for out in declared:
            records = [self._record(element[out.name]) for element in kept]
            if out.type.is_parameter:
                collected[out.name] = {"kind": "json", "value": [r["value"] for r in records]}
            else:
                collected[out.name] = {"kind": "collected", "items": records}
        record.update(status="succeeded", outputs=collected, elements=total)
        self.folder.write_step(node.id, record)
        note = f"({total} elements" + (f", {len(failed)} failed and left out)" if failed else ")")
        self.progress.update(node.id, "succeeded", note)
        self._finish(node.id, StepOutcome("succeeded", record, collected))

    def _failed_elements(self, node: Node) -> list[dict[str, Any]]:
        """The elements of a tolerant map that did not succeed: index, task and error."""
        if not tolerates(node.task.map):
            return []
        found = []
        for index in range(len(node.expanded or [])):
            child = f"{node.id}[{index}]"
            if self.status.get(child) in FINISHED:
                continue
            error = self.records.get(child, {}).get("error") or {}
            brief = {"type": error.get("type"), "message": error.get("message")}
            found.append({"index": index, "task": child, "error": brief})
        return found

    def _record(self, source: Source) -> dict[str, Any]:
        """The output record a source delivers (JSON values as records too)."""
        source = self._chosen(source)
        if isinstance(source, Const):
            return {"kind": "json", "value": source.value}
        if isinstance(source, Gather):
            return self._gathered(source)
        assert isinstance(source, Ref)
        record = self.outputs[source.node][source.output]
        if not source.path:
            return record
        if record["kind"] == "json":
            return {"kind": "json", "value": select_json(record["value"], source.path)}
        if record["kind"] == "collected" and isinstance(source.path[0], int):
            item = dict(record["items"][source.path[0]])
            if source.path[1:]:
                item["select"] = [*item.get("select", []), *source.path[1:]]
            return item
        if record["kind"] == "collected":  # a field of every element
            items = [{**i, "select": [*i.get("select", []), *source.path]} for i in record["items"]]
            return {**record, "items": items}
        return {**record, "select": [*record.get("select", []), *source.path]}

    def _gathered(self, source: Gather) -> dict[str, Any]:
        """A written list or dict of sources as one record: JSON values as one JSON value, stored values
        as a collected list (the same fan-in a map's results make)."""
        records = [self._record(item) for item in source.items]
        if all(r["kind"] == "json" for r in records):
            values = [r["value"] for r in records]
            value = values if source.keys is None else dict(zip(source.keys, values, strict=True))
            return {"kind": "json", "value": value}
        return {"kind": "collected", "items": records}

    def run_exit(self) -> None:
        """Run the exit handler, told how everything else ended."""
        node = self.plan.exit
        if node is None:
            return
        finished = all(self.settled(n) for n in self.status)
        self.pipeline_status = "Succeeded" if finished else "Failed"
        self.plan.nodes[node.id] = node
        self.status[node.id] = "running"
        self.progress.update(node.id, "running", f"(exit handler, pipeline {self.pipeline_status.lower()})")
        self._finish(node.id, self._run_node(node))

    def _finish(self, node_id: str, outcome: StepOutcome) -> None:
        self.status[node_id] = outcome.status
        self._release(node_id)
        self.records[node_id] = outcome.record
        if self.publisher is not None:
            self.publisher.task(node_id, outcome.record)
        if outcome.status == "failed":
            self.folder.write_step(node_id, outcome.record)
        if outcome.status in DONE:
            self.outputs[node_id] = outcome.outputs
            return
        if self._tolerated_by(node_id):
            return  # its map waits for every element and decides (see the module)
        for other in sorted(dependents(self.plan, node_id)):
            if self.status[other] == "pending":
                self.status[other] = "skipped"
                node = self.plan.nodes[other]
                record = self._base_record(node)
                record.update(status="skipped", reason=f"upstream step {node_id!r} failed")
                self.records[other] = record
                self.folder.write_step(other, record)
                self.progress.update(other, "skipped", f"(upstream {node_id} failed)")

    # ------------------------------------------------------------------ one step

    def _base_record(self, node: Node) -> dict[str, Any]:
        where = self.locate(node.task.location)
        return {
            "task": node.id,
            "step": node.label,
            "pipeline": node.pipeline,
            "location": str(where) if where else None,
            "status": "pending",
            "attempts": [],
            "cache_hit": False,
            "outputs": {},
        }

    def _inputs(self, node: Node) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        """The call spec's inputs, their part of the cache key, and their lineage record."""
        assert node.step is not None
        types = {p.name: p.type for p in node.step.inputs}
        spec_inputs: list[dict[str, Any]] = []
        key: dict[str, Any] = {}
        lineage: dict[str, Any] = {}
        for name, given in sorted(node.inputs.items()):
            type_ = types.get(name)
            source = self._chosen(given)
            record = self._record(source)
            origin = f"{source.node}.{source.output}" if isinstance(source, Ref) else None
            if record["kind"] == "json":
                value = record["value"]
                spec_inputs.append({"name": name, "kind": "json", "value": value})
                key[name] = value_part(value)
                lineage[name] = {"kind": "json", "value": value, **({"from": origin} if origin else {})}
                continue
            if record["kind"] == "collected":
                element = type_.items if type_ is not None and type_.kind == "list" else None
                items = [self._stored_entry(item, element)[0] for item in record["items"]]
                item_kind = items[0]["kind"] if items else "object"
                spec_inputs.append(
                    {"name": name, "kind": "collected", "item_kind": item_kind, "items": items}
                )
                key[name] = collected_part([stored_part(i["sha256"], i.get("select", [])) for i in items])
                lineage[name] = {"kind": "collected", "from": origin, "items": [i["sha256"] for i in items]}
                continue
            entry, uri = self._stored_entry(record, type_)
            spec_inputs.append({"name": name, **entry})
            key[name] = stored_part(entry["sha256"], entry.get("select", []))
            lineage[name] = {
                "kind": record["kind"],
                "from": origin,
                "sha256": entry["sha256"],
                "size": record.get("size"),
                "uri": uri,
            }
            if entry.get("select"):
                lineage[name]["select"] = entry["select"]
        return spec_inputs, key, lineage

    def _stored_entry(self, record: dict[str, Any], type_: ir.TypeSpec | None) -> tuple[dict[str, Any], str]:
        """The call spec's entry (without a name) for a stored value, and its URI."""
        digest = record["sha256"]
        uri = self.blobs.uri(digest)
        entry: dict[str, Any] = {"kind": record["kind"], "sha256": digest}
        if record.get("none"):
            entry["none"] = True  # "no artifact" (an optional artifact parameter left out)
        if self.blobs.is_remote:
            entry.update(uri=uri, dir=bool(record.get("dir")))
        else:
            entry["file"] = str(self.blobs.local_path(record))
            if record.get("stamp"):
                entry["verified"] = record["stamp"]
        if record["kind"] == "object":
            entry["select"] = list(record.get("select", []))
            entry["format"] = record.get("format", "pickle")
        else:
            entry.update(
                type=type_.name if type_ is not None and type_.name else record.get("type", "Artifact"),
                metadata=record.get("metadata") or {},
                uri=uri,
            )
        return entry, uri

    def _run_node(self, node: Node) -> StepOutcome:
        assert node.step is not None
        record = self._base_record(node)
        try:
            spec_inputs, key_inputs, record["inputs"] = self._inputs(node)
        except Exception as exc:  # a field path that does not exist in the value produced upstream
            return self._failed(
                node, record, {"type": type(exc).__name__, "message": str(exc), "traceback": ""}
            )
        key = cache_key(node.step.digest, key_inputs, node.step.options.cache_ignore)
        record["cache_key"] = key
        reused = self._reuse(node, key)
        if node.id in self._damaged:
            record["cache_damaged"] = self._damaged[node.id]
        if reused is not None:
            record.update(reused)
            self.folder.write_step(node.id, record)
            source = reused.get("reused_from") or "cache"
            self.progress.update(node.id, "cached", f"(from {source})")
            return StepOutcome("cached", record, reused["outputs"])
        record.update(status="running", started=now())
        self.folder.write_step(node.id, record)
        self.progress.update(node.id, "running")
        options = node.step.options
        retry = options.retry
        total = retry.attempts if retry is not None else 1
        started = time.monotonic()
        waited = 0.0
        for number in range(1, total + 1):
            attempt, error = self._attempt(node, spec_inputs, number)
            if number > 1:
                attempt["waited"] = waited  # the backoff before this attempt (Retry.delay)
            record["attempts"].append(attempt)
            record["metrics"] = attempt.get("metrics", [])  # the last attempt's
            if error is None:
                record.update(status="succeeded", ended=now(), seconds=round(time.monotonic() - started, 6))
                record["outputs"] = attempt.pop("outputs")
                self.folder.write_step(node.id, record)
                if self.settings.cache and options.cache:
                    self.cache.put(key, record["outputs"], self.folder.run_id, node.id)
                tries = f" after {number} attempts" if number > 1 else ""
                self.progress.update(node.id, "succeeded", f"in {record['seconds']:.2f}s{tries}")
                return StepOutcome("succeeded", record, record["outputs"])
            if number == total or not error.get("retry", True) or self._stopping.is_set():
                record["seconds"] = round(time.monotonic() - started, 6)
                return self._failed(node, record, error)
            delay = waited = retry.delay(number) if retry is not None else 0.0
            self.progress.update(
                node.id, "retrying", f"attempt {number}/{total} failed ({error['type']}); next in {delay:g}s"
            )
            self.folder.write_step(node.id, record)
            if self._stopping.wait(delay):
                return self._failed(node, record, error)
        raise AssertionError("unreachable")

    def _failed(self, node: Node, record: dict[str, Any], error: dict[str, Any]) -> StepOutcome:
        record.update(status="failed", ended=now(), error=error)
        self.folder.write_step(node.id, record)
        count = len(record["attempts"])
        self.progress.update(
            node.id,
            "failed",
            f"{error['type']}: {_first_line(error['message'])}"
            + (f" (after {count} attempts)" if count > 1 else ""),
        )
        return StepOutcome("failed", record)

    def _reuse(self, node: Node, key: str) -> dict[str, Any] | None:
        assert node.step is not None
        old = self.previous.get(node.id)
        if (
            old is not None
            and old.get("status") in DONE
            and old.get("cache_key") == key
            and damage(old.get("outputs", {}), self.blobs) is None
        ):
            return {
                "status": "cached",
                "cache_hit": True,
                "reused_from": f"run {self.folder.run_id} (resumed)",
                "outputs": old["outputs"],
                "seconds": 0.0,
            }
        if not (self.settings.cache and node.step.options.cache):
            return None
        entry, problem = self.cache.get(key, node.step.options.cache_max_age)
        if problem is not None:
            # Never used: reported, and the step runs; its fresh outputs replace the damaged blobs.
            self.progress.line(node.id, f"{problem}; running the step")
            self._damaged[node.id] = problem
        if entry is None:
            return None
        return {
            "status": "cached",
            "cache_hit": True,
            "reused_from": f"run {entry.get('run_id')} task {entry.get('task')}",
            "outputs": entry["outputs"],
            "seconds": 0.0,
        }

    def _attempt(
        self, node: Node, spec_inputs: list[dict[str, Any]], number: int
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        assert node.step is not None
        in_process = self.executor.name == "in-process"
        stored = any(_kind(out.type) != "json" for out in node.step.outputs)
        # In process, a step with JSON outputs only writes nothing: it needs no folder.
        folder = self.folder.attempt_dir(node.id, number) if stored or not in_process else None
        outputs = []
        for out in node.step.outputs:
            kind = _kind(out.type)
            entry: dict[str, Any] = {"name": out.name, "kind": kind}
            if kind != "json":
                assert folder is not None
                if self.blobs.is_remote:
                    entry["store"] = self.blobs.url  # the step uploads it; nothing is left locally
                else:
                    entry["file"] = str(folder / "outputs" / out.name)
                if kind == "object" and out.type.name:
                    entry["type"] = out.type.name
            outputs.append(entry)
        spec: dict[str, Any] = {
            "version": 1,
            "step": node.step.name,
            "code": self.code[node.step.name],
            "sys_path": self.code[node.step.name].get("sys_path", []),
            "inputs": spec_inputs,
            "outputs": outputs,
            "returns": node.step.returns.kind,
        }
        retry = node.step.options.retry.runtime_spec() if node.step.options.retry is not None else None
        if retry is not None:
            spec["retry"] = retry
        spec["code"] = {k: v for k, v in spec["code"].items() if k != "sys_path"}
        if folder is not None and not in_process:
            spec["result"] = str(folder / "result.json")
        if folder is not None and self.blobs.is_remote:
            spec["scratch"] = str(folder / "scratch")
        spec["context"] = {
            "run_id": self.folder.run_id,
            "pipeline": self.plan.document.root,
            "task": node.id,
            "attempt": number,
            "map_index": map_index(node.id),
            "backend": "local",
            "step_digest": node.step.digest,
        }
        options = node.step.options
        attempt = Attempt(
            spec=spec,
            folder=folder,
            function=self.functions.get(node.step.name) if in_process else None,
            timeout=options.timeout,
            env={**self.settings.step_env, **options.env, **self.settings.secrets.get(node.step.name, {})},
            inherit=not self.settings.clean_env,
            on_line=lambda text: self.progress.line(node.id, text),
        )
        record: dict[str, Any] = {"attempt": number, "started": now()}
        if folder is not None:
            record["folder"] = str(folder)
        outcome = self.executor.run(attempt)
        record["ended"] = now()
        if outcome.result is not None and outcome.result.get("metrics"):
            record["metrics"] = outcome.result["metrics"]
        error = self._error_of(node, outcome)
        if error is None:
            assert outcome.result is not None
            try:
                record["outputs"] = self._commit(node, outcome.result["outputs"])
            except _BadOutput as exc:
                # Found after the function ran: retried, as on every backend (only Retry.stop_on ends a
                # step for good once its function has run; see mlopsdsl.runtime._retry).
                error = {"type": "TypeError", "message": str(exc), "traceback": "", "retry": True}
        if error is not None:
            record["error"] = error
        return record, error

    def _error_of(self, node: Node, outcome: Outcome) -> dict[str, Any] | None:
        assert node.step is not None
        if outcome.timed_out:
            return {
                "type": "Timeout",
                "message": f"the attempt ran longer than its timeout of {node.step.options.timeout:g}s and "
                "was stopped",
                "traceback": "",
                "retry": True,
            }
        if outcome.result is None:
            return {
                "type": "Crash",
                "message": f"the step's process ended with exit status {outcome.exit_code} without a result",
                "traceback": outcome.log_tail,
                "retry": True,
            }
        if not outcome.result.get("ok"):
            error: dict[str, Any] = outcome.result["error"]
            return error
        return None

    def _commit(self, node: Node, produced: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Check JSON outputs against their declared types; move stored ones into the blob store."""
        assert node.step is not None
        types = {o.name: o.type for o in node.step.outputs}
        committed: dict[str, dict[str, Any]] = {}
        for name, record in produced.items():
            if record["kind"] == "json":
                problem = check_value(record["value"], types[name], f"output {name!r}")
                if problem:
                    raise _BadOutput(f"step {node.step.name!r} returned a value that does not fit: {problem}")
                committed[name] = record
                continue
            committed[name] = {k: v for k, v in record.items() if k != "file"}
            if isinstance(self.blobs, BlobStore):
                target = self.blobs.put(record["file"], record["sha256"])
                if not record.get("dir"):
                    # Hashed by the step just before; readers may trust it while this stamp holds.
                    committed[name]["stamp"] = stamp(str(target))
            committed[name]["uri"] = self.blobs.uri(record["sha256"])
        return committed


class _BadOutput(Exception):
    pass


def _kind(type_: ir.TypeSpec) -> str:
    return stored_kind(type_) or "json"  # the one rule: an Optional of a stored type is stored too


def map_index(node_id: str) -> int | None:
    """The element's index when the task is one element of a map (``train[2]``, ``loop[1]/inner``: the
    innermost), else ``None``."""
    found = re.findall(r"\[(\d+)\]", node_id)
    return int(found[-1]) if found else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def code_specs(
    document: ir.Document,
    functions: dict[str, Callable[..., Any]],
    mode: str,
    folder: RunFolder,
    needed: set[str],
) -> dict[str, dict[str, Any]]:
    """The ``code`` part of each step's call spec; by-value payloads are written to the run's ``code``
    folder (not flushed on the way: a resumed run writes them again)."""
    from mlopsdsl.errors import RunError

    specs: dict[str, dict[str, Any]] = {}
    for step in document.steps:
        if step.name not in needed:
            continue
        if is_builtin(step):  # mlopsdsl's own steps are imported from the runtime, never pickled
            specs[step.name] = {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
            continue
        fn = functions.get(step.name) or find_function(step.code)
        if mode == "live":  # in process: the function itself is passed; the spec only names it
            specs[step.name] = {"mode": "import", "module": step.code.module, "qualname": step.code.qualname}
            continue
        if mode == "import":
            if step.code.module == "__main__" or "<locals>" in step.code.qualname:
                raise RunError(
                    f"step {step.name!r} ({step.code.module}:{step.code.qualname}) cannot be shipped in "
                    "import mode: it is not importable by name; use by-value mode"
                )
            module = sys.modules.get(step.code.module)
            specs[step.name] = {
                "mode": "import",
                "module": step.code.module,
                "qualname": step.code.qualname,
                "sys_path": _import_roots(module),
            }
            continue
        if fn is None:
            raise RunError(
                f"step {step.name!r}: its function {step.code.module}:{step.code.qualname} is not loaded in "
                "this process, so it cannot be shipped by value; run the pipeline object with ml.run()"
            )
        from mlopsdsl.runtime.payload import pickle_function, python_version

        try:
            payload = pickle_function(fn)
        except Exception as exc:
            raise RunError(
                f"step {step.name!r} cannot be pickled by value: {type(exc).__name__}: {exc} (a module-level "
                "object it uses is not picklable; create it inside the step, or use import mode)"
            ) from exc
        path = folder.path / "code" / f"{step.name}-{step.digest[:16]}.pkl"
        folder.write_file(path, payload)
        specs[step.name] = {"mode": "value", "file": str(path), "python": python_version()}
    return specs


def _import_roots(module: Any) -> list[str]:
    """The folder a module is imported from, so that a fresh interpreter imports it the same way."""
    filename = getattr(module, "__file__", None)
    if not filename:
        return []
    depth = module.__name__.count(".") + 1
    if os.path.basename(filename) == "__init__.py":
        depth += 1
    root = os.path.abspath(filename)
    for _ in range(depth):
        root = os.path.dirname(root)
    return [root]
