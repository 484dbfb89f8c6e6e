"""Where the local runner keeps stored objects and artifacts: a content-addressed folder.

Each stored output lives at ``blobs/sha256/<ab>/<digest>`` (a file, or a folder for folder artifacts),
moved there in one rename from the step's attempt folder, so a blob that exists is whole and its name is
its digest. Equal outputs share one blob, which is also what lets cached and resumed steps hand their
outputs on without copying. This is the local end of the artifact store of issue 7, which grows it to
any fsspec URL behind the same three operations.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class BlobStore:
    """Content-addressed blobs under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        return self.root / "sha256" / digest[:2] / digest

    def has(self, digest: str, size: int | None = None) -> bool:
        """True when the blob exists (and, for a file, has ``size`` bytes): safe to hand to a step."""
        path = self.path(digest)
        if path.is_dir():
            return True
        try:
            return size is None or path.stat().st_size == size
        except FileNotFoundError:
            return False

    def put(self, source: str | os.PathLike[str], digest: str) -> Path:
        """Move the file or folder ``source``, whose digest the runtime computed, into the store."""
        target = self.path(digest)
        if target.exists():
            _remove(Path(source))
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:
            if not target.exists():  # another step stored the same bytes first (a folder rename races)
                raise
            _remove(Path(source))
        return target


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
