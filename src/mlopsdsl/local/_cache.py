"""Content-addressed step caching.

A step's cache key is the sha256 of its ``StepSpec.digest`` (which covers its code and every helper the
code reaches, its options and its interface) together with its input values: JSON values as they are,
stored objects and artifacts by their sha256 (never by where they are stored: the same bytes in another
store, or moved, are the same input). Equal keys mean the same code ran on the same data, so the
recorded outputs are reused. An entry is trusted only if every blob it names is still in the store with
its recorded size; otherwise it is a miss and the step runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlopsdsl.ir import digest_of
from mlopsdsl.local._records import read_json, write_json
from mlopsdsl.local._store import BlobStore, RemoteStore

KEY_VERSION = 1


def cache_key(step_digest: str, inputs: dict[str, dict[str, Any]]) -> str:
    """The key of a step run on ``inputs`` (name -> ``{"value": ...}`` or ``{"sha256": ..., ...}``)."""
    return digest_of({"v": KEY_VERSION, "step": step_digest, "inputs": inputs})


def outputs_available(outputs: dict[str, dict[str, Any]], blobs: BlobStore | RemoteStore) -> bool:
    """True when every stored output a record names is in the store this run uses."""
    for record in outputs.values():
        if record.get("kind") != "json" and not blobs.has(
            record["sha256"], record.get("size"), bool(record.get("dir"))
        ):
            return False
    return True


class Cache:
    """Cache entries under ``root``: one small JSON file per key."""

    def __init__(self, root: Path, blobs: BlobStore | RemoteStore) -> None:
        self.root = root
        self.blobs = blobs

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The usable entry for ``key`` (``outputs``, ``run_id``, ``task``), or ``None``."""
        try:
            entry = read_json(self._path(key))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), dict):
            return None
        if not outputs_available(entry["outputs"], self.blobs):
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        write_json(self._path(key), entry)
