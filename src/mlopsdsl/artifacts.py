"""Files and folders that steps hand to each other: ``ml.Artifact`` and its kinds.

A step that takes an ``ml.Dataset`` receives one whose ``path`` is a local file or folder it can read; a
step that returns one writes to ``path`` first. Where the bytes live between steps (a local folder, S3, a
KFP pipeline root, an Argo artifact repository) is the backend's business, not the step's. The kind
(``Dataset``, ``Model``) is kept in the IR and becomes the artifact's schema title on KFP; an input typed
``Artifact`` accepts every kind.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Artifact", "Dataset", "Model"]


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
