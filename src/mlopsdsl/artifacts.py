"""Files and folders that steps hand to each other: ``ml.Artifact`` and its kinds.

A step that takes an ``ml.Dataset`` receives one whose ``path`` is a local file or folder it can read. A
step that produces one asks for a fresh path with ``ml.Dataset.new("rows.csv")``, writes the file (or a
folder) there and returns it; the runtime then moves it into place without copying. Returning
``ml.Dataset(path=...)`` for a file written anywhere else works too, and costs a copy. Where the bytes
live between steps (a local folder, S3, a KFP pipeline root, an Argo artifact repository) is the
backend's business, not the step's. The kind (``Dataset``, ``Model``) is kept in the IR and becomes the
artifact's schema title on KFP; an input typed ``Artifact`` accepts every kind.

This module ships inside the step runtime's bundle: it uses the standard library only.
"""

from __future__ import annotations

import os
from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = ["Artifact", "Dataset", "Model"]

_STAGING: ContextVar[str | None] = ContextVar("mlopsdsl_artifact_staging", default=None)
"""The folder where :meth:`Artifact.new` makes paths while the runtime runs a step (``None`` outside)."""


class Artifact:
    """A file or folder produced by one step and consumed by others.

    Args:
        path: The local path to read from or write to.
        uri: Where the artifact is stored, once it is (``s3://...``, ``file://...``).
        metadata: JSON-serialisable facts about it (row counts, metrics), kept with it.
    """

    __slots__ = ("metadata", "path", "uri")

    def __init__(self, path: str, uri: str | None = None, metadata: dict[str, Any] | None = None) -> None:
        self.path = str(path)
        self.uri = uri
        self.metadata = dict(metadata or {})

    @classmethod
    def new(cls, name: str = "data", metadata: dict[str, Any] | None = None) -> Self:
        """A fresh artifact to write, for a step to return.

        ::

            @ml.step
            def extract() -> ml.Dataset:
                data = ml.Dataset.new("rows.csv", metadata={"rows": 3})
                Path(data.path).write_text("a,b\\n1,2\\n")
                return data

        ``path`` does not exist yet; its folder does. Write a file there, or make a folder there and fill
        it. Inside a step the path is on the same file system as the step's outputs, so returning it
        moves it into the store in one rename, with no copy. Outside a step it is in a new temporary
        folder.

        Args:
            name: The file or folder name (keep a suffix that readers may look at, like ``.csv``).
            metadata: JSON-serialisable facts about it, kept with it.
        """
        if not name or "/" in name or os.sep in name or name in (".", ".."):
            raise ValueError(f"Artifact.new: {name!r} is not a plain file name")
        import tempfile

        staging = _STAGING.get()
        if staging is not None:
            os.makedirs(staging, exist_ok=True)
        folder = tempfile.mkdtemp(prefix="artifact-", dir=staging)
        return cls(path=os.path.join(folder, name), metadata=metadata)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r}, uri={self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, Artifact)
            and (self.path, self.uri, self.metadata) == (other.path, other.uri, other.metadata)
        )

    __hash__ = None  # type: ignore[assignment]


class Dataset(Artifact):
    """Data: a table, a folder of shards, a file of records."""

    __slots__ = ()


class Model(Artifact):
    """A trained model's files."""

    __slots__ = ()
