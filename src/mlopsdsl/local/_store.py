"""Where the local runner keeps stored objects and artifacts by default: a content-addressed folder.

Each stored output lives at ``blobs/sha256/<ab>/<digest>`` (a file, or a folder for folder artifacts),
moved there in one rename from the step's attempt folder, so a blob that exists is whole and its name is
its digest. Equal outputs share one blob, which is also what lets cached and resumed steps hand their
outputs on without copying.

Any fsspec URL (``s3://bucket/prefix``, ``gs://...``) gives a :class:`RemoteStore` instead, with the same
content addressing: the steps upload their outputs and download their inputs themselves
(``mlopsdsl.runtime._remote``, where the layout and the atomicity argument are), so the runner never
holds an artifact's bytes; it only checks what exists and, for ``RunResult.outputs``, downloads a blob into
a local cache. fsspec is imported on first use, never by ``import mlopsdsl``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlopsdsl.local._config import StorageConfig


class Store(Protocol):
    """What the runner needs of a store."""

    url: str
    is_remote: bool

    def uri(self, digest: str) -> str:
        """The URI of the blob ``digest``."""
        ...

    def has(self, digest: str, size: int | None = None, is_dir: bool = False) -> bool:
        """True when the blob exists whole (a file of ``size`` bytes, or a folder)."""
        ...

    def local_path(self, record: dict[str, Any]) -> Path:
        """A local path holding the blob an output record names (downloaded if need be)."""
        ...

    def checked_path(self, record: dict[str, Any]) -> Path:
        """:meth:`local_path`, once its bytes are known to have the recorded digest.

        Raises:
            mlopsdsl.errors.IntegrityError: They do not; the message names the blob's URI.
        """
        ...


class BlobStore:
    """Content-addressed blobs under ``root``."""

    is_remote = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        return self.root / "sha256" / digest[:2] / digest

    def uri(self, digest: str) -> str:
        """The ``file://`` URI of the blob ``digest``."""
        return self.path(digest).absolute().as_uri()

    def has(self, digest: str, size: int | None = None, is_dir: bool = False) -> bool:
        """True when the blob exists (and, for a file, has ``size`` bytes): safe to hand to a step."""
        path = self.path(digest)
        if path.is_dir():
            return True
        try:
            return size is None or path.stat().st_size == size
        except FileNotFoundError:
            return False

    def local_path(self, record: dict[str, Any]) -> Path:
        """The blob an output record names."""
        return self.path(str(record["sha256"]))

    def checked_path(self, record: dict[str, Any]) -> Path:
        """The blob an output record names, checked against its digest before anything reads it (a file
        whose stamp is unchanged since it was stored is not read again)."""
        from mlopsdsl.runtime._cache import check_local

        path = self.local_path(record)
        problem = check_local(str(path), record)
        if problem is not None:
            _refuse(self.uri(str(record["sha256"])), problem)
        return path

    def put(self, source: str | os.PathLike[str], digest: str) -> Path:
        """Move the file or folder ``source``, whose digest the runtime computed, into the store.

        A file replaces a blob of the same name (in one rename; readers that have it open keep the old
        one), so storing fresh bytes also repairs a blob that was damaged since; a folder that is there
        already is kept.
        """
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.isdir(source):
            os.replace(source, target)
            return target
        if target.exists():
            _remove(Path(source))
            return target
        try:
            os.replace(source, target)
        except OSError:
            if not target.exists():  # another step stored the same bytes first (a folder rename races)
                raise
            _remove(Path(source))
        return target


def _refuse(uri: str, problem: str) -> None:
    from mlopsdsl.errors import IntegrityError

    raise IntegrityError(
        f"{uri}: {problem}; the stored data was changed or damaged, so it is not returned (run again: "
        "the cache finds the damage and recomputes the value)"
    )


def _remove(path: Path) -> None:
    if path.is_dir():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class RemoteStore:
    """Blobs under an fsspec URL; the layout and the atomicity argument are in ``runtime/_remote.py``."""

    is_remote = True

    def __init__(self, url: str, options: dict[str, Any], downloads: Path) -> None:
        self.url = url.rstrip("/")
        self.options = options
        self.downloads = BlobStore(downloads)
        self._fs: tuple[Any, str] | None = None

    def _filesystem(self) -> tuple[Any, str]:
        from mlopsdsl.runtime._remote import filesystem

        if self._fs is None:
            self._fs = filesystem(self.url, self.options)
        fs, base = self._fs
        return fs, str(base).rstrip("/")

    def uri(self, digest: str) -> str:
        from mlopsdsl.runtime._remote import blob_uri

        return blob_uri(self.url, digest)

    def has(self, digest: str, size: int | None = None, is_dir: bool = False) -> bool:
        fs, base = self._filesystem()
        try:
            info = fs.info(f"{base}/sha256/{digest[:2]}/{digest}")
        except FileNotFoundError:
            return False
        return bool(is_dir or size is None or info.get("size") == size)

    def local_path(self, record: dict[str, Any]) -> Path:
        """The blob in the download cache: a copy there is used only if it still has the digest (else it
        is fetched again); a download is hashed on the way and renamed into place only if it matches."""
        from mlopsdsl.runtime._cache import check_local
        from mlopsdsl.runtime._io import IntegrityError as Damaged
        from mlopsdsl.runtime._io import remove
        from mlopsdsl.runtime._remote import fetch

        digest = str(record["sha256"])
        target = self.downloads.path(digest)
        checked = {"sha256": digest, "dir": bool(record.get("dir"))}  # no stamp: always hashed
        if os.path.lexists(target) and check_local(str(target), checked) is not None:
            remove(str(target))
        if not target.exists():
            try:
                fetch(self.uri(digest), digest, str(target), bool(record.get("dir")), self.options)
            except Damaged as exc:
                _refuse(self.uri(digest), str(exc))
        return target

    def checked_path(self, record: dict[str, Any]) -> Path:
        return self.local_path(record)


def open_store(config: StorageConfig, home: Path) -> BlobStore | RemoteStore:
    """The store ``config`` names; remote stores download into ``<home>/downloads``."""
    if config.is_remote:
        return RemoteStore(config.root, config.options, home / "downloads")
    return BlobStore(Path(config.root))
