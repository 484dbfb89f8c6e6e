"""The local runner's side of the step cache: entries under ``<home>/cache``, blobs in the run's store.

The rule itself (what the key covers, what an entry holds, when a stored output counts as intact) is the
step runtime's (:mod:`mlopsdsl.runtime._cache`), the same that KFP and Argo pods apply; the runner applies
it in its own process, before it starts a step, so that a hit starts nothing. An entry is used only when
every stored output it names is intact in the run's store: in a local store, the blob has the recorded
digest (a file whose stamp is unchanged since it was stored is not read again; folders are hashed); in a
remote store, the blob exists with its recorded size (its key is its digest and uploads are atomic, see
``runtime/_remote.py``; the consuming step hashes it again as it downloads it). A damaged entry is a miss:
the caller reports it and runs the step, whose fresh outputs replace the damaged blobs.

Remote blobs are checked by their digest too, read as a stream (a blob of the right size with other
bytes must not be trusted, and must not stop the producer's fresh upload either: it is deleted first).
Entries are sealed (``runtime/_seal.py``): an entry whose JSON was edited, or that is unsigned while a
store key is set, is damaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlopsdsl.local._store import BlobStore, RemoteStore
from mlopsdsl.runtime._cache import Entries, cache_key, check_local, entry_of, fresh
from mlopsdsl.runtime._io import IntegrityError, remove

__all__ = ["Cache", "cache_key", "damage"]


def _items(outputs: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for name, record in outputs.items():
        items = record.get("items") if record.get("kind") == "collected" else [record]
        found.extend((name, item) for item in items or [] if item.get("kind") != "json")
    return found


def damage(outputs: dict[str, dict[str, Any]], blobs: BlobStore | RemoteStore) -> str | None:
    """``None`` when every stored output a record names is intact in ``blobs``; else what is wrong."""
    from mlopsdsl.runtime._remote import damaged_keys

    for name, item in _items(outputs):
        digest = str(item.get("sha256"))
        if isinstance(blobs, BlobStore):
            problem = check_local(str(blobs.path(digest)), item)
        elif not blobs.has(digest, item.get("size"), bool(item.get("dir"))):
            problem = f"{blobs.uri(digest)} is missing or has another size"
        else:
            problem = damaged_keys(blobs.uri(digest), digest, bool(item.get("dir")), blobs.options)[1]
        if problem is not None:
            return f"output {name!r}: {problem}"
    return None


def discard(outputs: dict[str, dict[str, Any]], blobs: BlobStore | RemoteStore) -> None:
    """Remove the damaged blobs of ``outputs``, so that the step's fresh outputs take their place (a
    blob that exists is otherwise kept as it is: its name is its digest)."""
    from mlopsdsl.runtime._remote import damaged_keys, remove_keys

    for _, item in _items(outputs):
        digest = str(item.get("sha256"))
        if isinstance(blobs, BlobStore):
            path = blobs.path(digest)
            if check_local(str(path), item) is not None:
                remove(str(path))
        else:
            uri = blobs.uri(digest)
            keys, _ = damaged_keys(uri, digest, bool(item.get("dir")), blobs.options)
            remove_keys(uri, keys, blobs.options)


class Cache:
    """Cache entries under ``root`` for the blobs of ``blobs``."""

    def __init__(self, root: Path, blobs: BlobStore | RemoteStore, key: bytes | None = None) -> None:
        self.root = root
        self.blobs = blobs
        self._entries = Entries(str(root), key)

    def get(self, key: str, max_age: float | None = None) -> tuple[dict[str, Any] | None, str | None]:
        """The usable entry for ``key`` (``outputs``, ``run_id``, ``task``), or ``None`` and, when an entry
        was there but is damaged, what is wrong with it. An entry older than ``max_age`` seconds is not
        usable (and not damaged)."""
        try:
            entry = self._entries.get(key)
        except (IntegrityError, OSError) as exc:
            return None, str(exc)
        if entry is None or not fresh(entry, max_age):
            return None, None
        problem = damage(entry["outputs"], self.blobs)
        if problem is not None:
            discard(entry["outputs"], self.blobs)
            return None, f"the cache entry {key} is damaged: {problem}"
        return entry, None

    def put(self, key: str, outputs: dict[str, dict[str, Any]], run_id: str, task: str) -> None:
        self._entries.put(key, entry_of(outputs, run_id=run_id, task=task))
