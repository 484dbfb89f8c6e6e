"""The cache rule, in one place: when a step's recorded outputs are reused instead of running it again.

A step's **key** is the sha256 of ``{"v": 1, "step": DIGEST, "inputs": {NAME: PART}}`` as canonical JSON,
where ``DIGEST`` is its ``StepSpec.digest`` (its code and every helper the code reaches, its options and its
interface) and each input given is one ``PART``: ``{"value": V}`` for a value passed by value (after any
field selection), ``{"sha256": D, "select": [...]}`` for a stored object or artifact (by its digest, never
by where it is stored), ``{"collected": [{"sha256": D, "select": [...]}, ...]}`` for a list of stored
values. Equal keys mean the same code ran on the same data, so its outputs may be reused. Inputs the step
names in ``cache_ignore`` are left out of the key (a seed, a log level): calls that differ only in them share
an entry.

An entry records when it was made (``created``, seconds since the epoch); a step with ``cache_max_age``
reuses only entries younger than that (an entry without ``created`` is too old), so a result goes stale
on every path at the same age.

An **entry** (``<entries>/<ab>/<key>.json``) holds the output records of the run that made it. It is used
only once every stored output it names has been checked against its digest; a damaged entry (unreadable,
a blob missing or with other bytes) is a miss: it is reported, the step runs, and its fresh outputs repair
the store. It is never used.

Who applies the rule: the local runner, in its own process before it starts a step (a hit starts
nothing), with entries under its home and blobs in its artifact store; and the runtime itself, in a KFP or
Argo pod, when the call spec has a ``cache`` section naming a store (the compile option ``cache_root``): a
local folder (a mounted volume) or an fsspec URL, holding entries under ``cache/`` and blobs under
``sha256/``, the artifact store's layout. In a pod a hit copies the cached blobs to the outputs' paths,
checking their digests on the way, and writes the records the engine reads, exactly as a run would.

Standard library only, imported only when the spec asks for caching (and by the runner).
"""

from __future__ import annotations

import json
import os
import sys

from ._io import IntegrityError, copy_into, read_text, remove, sha256_file, sha256_tree, unchanged
from ._io import write_bytes as _write_file
from ._remote import is_remote
from ._spec import CallSpec, InputSpec, OutputSpec
from ._values import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KEY_VERSION = 1
HIT = "mlopsdsl-cache: hit"
"""How a line on standard error starts when a step's outputs came from the cache (the emulators read it,
people read it in a pod's log)."""
DAMAGED = "mlopsdsl-cache: damaged"
"""How a line on standard error starts when an entry was found damaged and the step runs instead."""
UNAVAILABLE = "mlopsdsl-cache: unavailable"
"""How a line on standard error starts when the cache store could not be read or written (the step runs,
and succeeds or fails on its own)."""
STALE = "mlopsdsl-cache: stale"
"""How a line on standard error starts when an entry was older than the step's ``cache_max_age``."""
ENTRY_FIELDS = ("kind", "sha256", "size", "dir", "format", "type", "metadata", "value", "uri", "stamp")
"""What an output record keeps in an entry (never a path of the run that made it)."""


# --------------------------------------------------------------------------- the key


def cache_key(step_digest: str, inputs: dict[str, Any], ignore: Any = ()) -> str:
    """The key of the step ``step_digest`` called with ``inputs`` (name -> part, see the module), the
    inputs named in ``ignore`` left out."""
    import hashlib

    kept = {name: part for name, part in inputs.items() if name not in ignore}
    text = json.dumps(
        {"v": KEY_VERSION, "step": step_digest, "inputs": kept},
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def value_part(value: Any) -> dict[str, Any]:
    """The key's part for a value passed by value, as the step receives it (fields selected)."""
    return {"value": value}


def stored_part(sha256: str, path: list[str | int] | tuple[str | int, ...] = ()) -> dict[str, Any]:
    """The key's part for a stored value: its digest and the fields selected from it."""
    return {"sha256": sha256, "select": list(path)}


def collected_part(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The key's part for a list of stored values (each a :func:`stored_part`)."""
    return {"collected": items}


def fresh(entry: dict[str, Any], max_age: float | None, now: float | None = None) -> bool:
    """True when ``entry`` may still be reused by a step whose results last ``max_age`` seconds."""
    if max_age is None:
        return True
    import time

    created = entry.get("created")
    if isinstance(created, bool) or not isinstance(created, int | float):
        return False  # made before entries recorded their age: too old to tell
    return (time.time() if now is None else now) - created <= max_age


def spec_key(spec: CallSpec, digest: str, args: dict[str, str]) -> str | None:
    """The key of the call ``spec`` describes, read from its inputs as the runtime will receive them;
    ``None`` when a stored input has no recorded digest (it cannot be keyed by content)."""
    parts: dict[str, Any] = {}
    ignore = spec.cache.ignore if spec.cache is not None else ()
    for item in spec.inputs:
        if item.name in ignore:
            continue
        if item.meta is not None:
            source = InputSpec({"name": item.name, "kind": "json", **item.meta}, "inputs")
            item.apply_meta(json.loads(read_text(source, args)))
        if item.kind == "collected":
            if item.records is not None:
                source = item.records
                item.expand(source.value if source.has_value else json.loads(read_text(source, args)))
            items = []
            for part in item.items or []:
                if part.sha256 is None:
                    return None
                items.append(stored_part(part.sha256, part.select))
            parts[item.name] = collected_part(items)
        elif item.kind == "json":
            if item.has_value:
                value = item.value
            else:
                text = read_text(item, args)
                value = text if item.raw else json.loads(text)
            parts[item.name] = value_part(select(value, item.select))
        else:
            if item.sha256 is None:
                return None
            parts[item.name] = stored_part(item.sha256, item.select)
    return cache_key(digest, parts)


def spec_section(
    step_digest: str,
    store: str | None,
    read: bool = True,
    ignore: Any = (),
    max_age: float | None = None,
) -> dict[str, Any]:
    """The call spec's ``cache`` section, as the compilers write it: the step's digest, and, when the pods
    cache, the store, whether this run may reuse (``read``), the inputs the key leaves out and how old
    an entry may be."""
    section: dict[str, Any] = {"step": step_digest}
    if store is not None:
        section.update(store=store, read=read)
        if ignore:
            section["ignore"] = sorted(ignore)
        if max_age is not None:
            section["max_age"] = max_age
    return section


def root_problem(root: object) -> str | None:
    """``None`` when ``root`` can name a cache store in a pod: an absolute path (a mounted volume) or a
    URL with a scheme (``s3://bucket/prefix``); else what is wrong with it."""
    if not isinstance(root, str) or not root:
        return f"cache_root={root!r}: give a folder in the pod or a URL"
    if root.startswith("file:"):
        return f"cache_root={root!r}: give the folder as a path (/mnt/cache), not a file: URL"
    if not (root.startswith("/") or is_remote(root)):
        return (
            f"cache_root={root!r}: give an absolute folder in the pod (a volume mounted in every step) or "
            "a URL such as s3://bucket/prefix"
        )
    return None


# --------------------------------------------------------------------------- entries


class Entries:
    """Cache entries under ``root``, a local folder or an fsspec URL: one small JSON file per key."""

    def __init__(self, root: str, key: bytes | None = None) -> None:
        self.root = root.rstrip("/") if is_remote(root) else root
        self.remote = is_remote(root)
        self.key = key
        """The store key: entries are signed with it, and unsigned or badly signed ones refused."""

    def name(self, key: str) -> str:
        return f"{key[:2]}/{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry of ``key``, ``None`` when there is none.

        Raises:
            IntegrityError: The entry exists but is not an entry (a half-written or damaged file).
        """
        if self.remote:
            from ._remote import read_object

            data = read_object(self.root, self.name(key))
            if data is None:
                return None
        else:
            try:
                with open(os.path.join(self.root, key[:2], f"{key}.json"), "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                return None
        from ._seal import check

        try:
            entry = json.loads(data)
        except ValueError:
            raise IntegrityError(f"the cache entry {key} is not readable JSON") from None
        entry = check(entry, self.key, f"the cache entry {key}")
        if not isinstance(entry.get("outputs"), dict):
            raise IntegrityError(f"the cache entry {key} holds no outputs")
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Write the entry of ``key`` whole and sealed, in one rename (or one upload)."""
        from ._seal import sealed_json

        data = (sealed_json(entry, self.key) + "\n").encode()
        if self.remote:
            from ._remote import write_object

            write_object(self.root, self.name(key), data)
        else:
            _write_file(os.path.join(self.root, key[:2], f"{key}.json"), data)


def entry_of(outputs: dict[str, dict[str, Any]], **origin: Any) -> dict[str, Any]:
    """An entry for ``outputs`` (their records, paths of the run left out), where they came from, and when
    it was made (for ``cache_max_age``)."""
    import time

    kept = {name: {k: v for k, v in rec.items() if k in ENTRY_FIELDS} for name, rec in outputs.items()}
    made = {"created": round(time.time(), 3)}
    return {
        "version": KEY_VERSION,
        "outputs": kept,
        **made,
        **{k: v for k, v in origin.items() if v is not None},
    }


def check_local(path: str, record: dict[str, Any]) -> str | None:
    """``None`` when the local file or folder ``path`` holds the bytes ``record`` names; else what is wrong.

    A file whose recorded ``stamp`` still holds was not written since it was hashed, and is not read again
    (``MLOPSDSL_VERIFY=always`` rehashes); anything else is hashed in full.
    """
    is_dir = bool(record.get("dir"))
    if not os.path.exists(path):
        return f"{path} is missing"
    if is_dir != os.path.isdir(path):
        return f"{path} is {'not ' if is_dir else ''}a folder"
    if not is_dir and unchanged(path, record.get("stamp")):
        return None
    digest = sha256_tree(path)[0] if is_dir else sha256_file(path)[0]
    if digest != record.get("sha256"):
        return f"{path} has sha256 {digest}, but {record.get('sha256')} was recorded"
    return None


# --------------------------------------------------------------------------- in the pod


class PodCache:
    """The runtime's own cache for one call (KFP and Argo pods): look up before, keep after.

    Args:
        spec: The call spec, whose ``cache`` names the step's digest and the store.
        args: The ``--arg`` values (inputs may be read from them).
    """

    def __init__(self, spec: CallSpec, args: dict[str, str]) -> None:
        assert spec.cache is not None and spec.cache.store is not None
        self.spec = spec
        self.store = spec.cache.store.rstrip("/") if is_remote(spec.cache.store) else spec.cache.store
        self.remote = is_remote(self.store)
        from ._seal import env_key

        where = f"{self.store}/cache" if self.remote else os.path.join(self.store, "cache")
        self.entries = Entries(where, env_key())
        self.key: str | None = None
        self.damaged: set[str] = set()
        """Digests found damaged: stored again whatever is there."""
        try:
            self.key = spec_key(spec, spec.cache.step, args)
        except Exception as exc:  # an input that cannot be read: the run itself reports it properly
            _say(f"{UNAVAILABLE}: step {spec.step!r}: no key ({type(exc).__name__}: {exc}); running the step")

    def lookup(self) -> dict[str, Any] | None:
        """The output records of a verified hit (written to the outputs' paths), or ``None``: run the step."""
        cache = self.spec.cache
        if self.key is None or cache is None or not cache.read:
            return None
        try:
            entry = self.entries.get(self.key)
        except IntegrityError as exc:
            _say(f"{DAMAGED}: step {self.spec.step!r}: {exc}; running the step")
            return None
        except Exception as exc:
            step = self.spec.step
            _say(f"{UNAVAILABLE}: step {step!r}: cannot read {self.store} ({_brief(exc)}); running the step")
            return None
        if entry is None:
            return None
        if not fresh(entry, cache.max_age):
            age = f"{cache.max_age:g}s"
            _say(f"{STALE}: step {self.spec.step!r}: entry {self.key} is older than {age}; running the step")
            return None
        try:
            outputs = self._restore(entry["outputs"])
        except (IntegrityError, OSError, KeyError, ValueError) as exc:
            _say(f"{DAMAGED}: step {self.spec.step!r}: entry {self.key}: {_brief(exc)}; running the step")
            return None
        _say(f"{HIT}: step {self.spec.step!r}: reused the outputs recorded under key {self.key}")
        return outputs

    def _restore(self, recorded: dict[str, Any]) -> dict[str, Any]:
        from ._io import write_json_output

        names = [out.name for out in self.spec.outputs]
        if sorted(recorded) != sorted(names):
            raise ValueError(f"it records outputs {sorted(recorded)}, the step has {sorted(names)}")
        restored: dict[str, Any] = {}
        for out in self.spec.outputs:
            record = recorded[out.name]
            if out.kind == "json":
                if record.get("kind") != "json":
                    raise ValueError(f"output {out.name!r} is recorded as {record.get('kind')!r}")
                restored[out.name] = write_json_output(out, record["value"])
            else:
                restored[out.name] = self._restore_stored(out, record)
        return restored

    def _restore_stored(self, out: OutputSpec, record: dict[str, Any]) -> dict[str, Any]:
        """Copy the blob ``record`` names to the output's path, checking its digest on the way."""
        digest = str(record["sha256"])
        if record.get("kind") != out.kind:
            raise ValueError(f"output {out.name!r} is recorded as {record.get('kind')!r}")
        target = out.file
        if target is None:
            raise ValueError(f"output {out.name!r} has no file to restore into")
        try:
            if self.remote:
                from ._remote import blob_uri, fetch

                fetch(blob_uri(self.store, digest), digest, target, bool(record.get("dir")))
            else:
                blob = os.path.join(self.store, "sha256", digest[:2], digest)
                problem = "missing" if not os.path.exists(blob) else None
                if problem is None:
                    got, _, _ = copy_into(blob, target)
                    if got != digest:
                        remove(target)
                        problem = f"has sha256 {got}, but {digest} was recorded"
                if problem is not None:
                    raise IntegrityError(f"blob {blob} {problem}")
        except IntegrityError:
            self.damaged.add(digest)
            raise
        produced = {k: v for k, v in record.items() if k in ENTRY_FIELDS and k not in ("uri", "stamp")}
        produced["file"] = target
        if out.store is not None:
            from ._remote import store

            produced["uri"] = store(target, out.store, None if record.get("dir") else digest)[0]
        if out.meta_file is not None:
            meta = {k: v for k, v in produced.items() if k != "file"}
            _write_file(out.meta_file, json.dumps(meta, ensure_ascii=False, sort_keys=True).encode())
        return produced

    def keep(self, outputs: dict[str, Any]) -> None:
        """Store the stored outputs' bytes and the entry, so that a later call with this key reuses them."""
        if self.key is None:
            return
        try:
            for record in outputs.values():
                if record.get("kind") in ("object", "artifact") and record.get("file"):
                    self._keep_blob(str(record["file"]), str(record["sha256"]))
            self.entries.put(self.key, entry_of(outputs, step=self.spec.step))
        except Exception as exc:
            _say(f"{UNAVAILABLE}: step {self.spec.step!r}: cannot write to {self.store} ({_brief(exc)})")

    def _keep_blob(self, path: str, digest: str) -> None:
        replace = digest in self.damaged
        if self.remote:
            from ._remote import store

            store(path, self.store, None if os.path.isdir(path) else digest, replace=replace)
            return
        blob = os.path.join(self.store, "sha256", digest[:2], digest)
        if os.path.exists(blob):
            if not replace:
                return  # content-addressed: these bytes are there already
            remove(blob)
        try:
            got, _, _ = copy_into(path, blob)
        except OSError:
            if os.path.isdir(blob):  # another pod kept the same folder first (a folder rename races)
                return
            raise
        if got != digest:
            remove(blob)
            raise IntegrityError(f"{path} changed while it was kept")


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
