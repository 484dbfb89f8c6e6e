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
    from typing import Any, Self, TypeVar

    _A = TypeVar("_A", bound="Artifact")

__all__ = ["Artifact", "ClassificationMetrics", "Dataset", "HTML", "Markdown", "Model"]

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


class Markdown(Artifact):
    """A Markdown document for people: KFP's UI renders it (``system.Markdown``), so does the run report.

    ::

        @ml.step
        def summary(accuracy: float) -> ml.Markdown:
            return ml.Markdown.from_text(f"# Results\n\naccuracy **{accuracy:.2%}**")
    """

    __slots__ = ()

    @classmethod
    def from_text(cls, text: str, name: str = "report.md") -> Self:
        """A new artifact holding ``text`` (UTF-8), for a step to return."""
        return _written(cls, text, name)

    def read_text(self) -> str:
        with open(self.path, encoding="utf-8") as handle:
            return handle.read()


class HTML(Artifact):
    """An HTML page for people: KFP's UI shows it (``system.HTML``), so does the run report (sandboxed)."""

    __slots__ = ()

    @classmethod
    def from_text(cls, text: str, name: str = "report.html") -> Self:
        """A new artifact holding ``text`` (UTF-8), for a step to return."""
        return _written(cls, text, name)

    def read_text(self) -> str:
        with open(self.path, encoding="utf-8") as handle:
            return handle.read()


class ClassificationMetrics(Artifact):
    """A classifier's confusion matrix and ROC curve (``system.ClassificationMetrics`` on KFP).

    The figures are kept in ``metadata`` under the keys KFP's UI reads (``confusionMatrix`` with
    ``annotationSpecs`` and ``rows``; ``confidenceMetrics`` with ``confidenceThreshold``, ``recall`` and
    ``falsePositiveRate``), and in the artifact's file as the same JSON.

    ::

        @ml.step
        def evaluate() -> ml.ClassificationMetrics:
            return ml.ClassificationMetrics.build(
                labels=["cat", "dog"], matrix=[[8, 2], [1, 9]],
                roc=[(0.0, 0.0, 1.0), (0.1, 0.8, 0.5), (1.0, 1.0, 0.0)],  # (fpr, tpr, threshold)
            )
    """

    __slots__ = ()

    @classmethod
    def build(
        cls,
        labels: list[str] | None = None,
        matrix: list[list[int]] | None = None,
        roc: list[tuple[float, float, float]] | None = None,
        name: str = "classification.json",
    ) -> Self:
        """A new artifact with a confusion matrix (``labels`` and ``matrix``, rows are true labels) and/or
        an ROC curve (``roc``: ``(false positive rate, true positive rate, threshold)`` points).

        Raises:
            ValueError: The matrix is not square with one row per label, or a point is not three numbers.
        """
        import json

        metadata: dict[str, Any] = {}
        if labels is not None or matrix is not None:
            labels, matrix = list(labels or []), [list(row) for row in matrix or []]
            if len(matrix) != len(labels) or any(len(row) != len(labels) for row in matrix):
                raise ValueError(
                    f"a confusion matrix needs {len(labels)} rows of {len(labels)} counts, one per label"
                )
            if not all(isinstance(v, int) and not isinstance(v, bool) for row in matrix for v in row):
                raise ValueError("a confusion matrix holds whole counts")
            metadata["confusionMatrix"] = {
                "annotationSpecs": [{"displayName": str(label)} for label in labels],
                "rows": [{"row": row} for row in matrix],
            }
        if roc is not None:
            points = []
            for point in roc:
                if len(point) != 3 or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in point
                ):
                    raise ValueError(f"an ROC point is (fpr, tpr, threshold), got {point!r}")
                fpr, tpr, threshold = (float(v) for v in point)
                points.append({"confidenceThreshold": threshold, "recall": tpr, "falsePositiveRate": fpr})
            metadata["confidenceMetrics"] = points
        artifact = _written(cls, json.dumps(metadata, sort_keys=True), name)
        artifact.metadata.update(metadata)
        return artifact

    @property
    def labels(self) -> list[str]:
        return [s["displayName"] for s in self.metadata.get("confusionMatrix", {}).get("annotationSpecs", [])]

    @property
    def matrix(self) -> list[list[int]]:
        return [r["row"] for r in self.metadata.get("confusionMatrix", {}).get("rows", [])]

    @property
    def roc(self) -> list[tuple[float, float, float]]:
        """``(fpr, tpr, threshold)`` points."""
        return [
            (p["falsePositiveRate"], p["recall"], p["confidenceThreshold"])
            for p in self.metadata.get("confidenceMetrics", [])
        ]


def _written(cls: type[_A], text: str, name: str) -> _A:
    if not isinstance(text, str):
        raise TypeError(f"{cls.__name__}.from_text takes a str, got {type(text).__name__}")
    artifact = cls.new(name)
    with open(artifact.path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return artifact
