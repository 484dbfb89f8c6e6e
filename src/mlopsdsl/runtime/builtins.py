"""Steps that mlopsdsl itself adds to a pipeline when a backend lowers it (see :mod:`mlopsdsl.lowering`).

A written list of step outputs (``total(xs=[a, b, c])``) becomes a ``gather`` task, a condition that
reads a stored value becomes a ``decide`` task whose ``bool`` output the engine compares, and a tolerant
map ends in a ``settle`` task that leaves its failed elements out. They run through
the same step runtime as user steps, imported by name from the runtime bundle, so they read and write
values exactly as user steps do. Pure standard library: they run in a stock Python image.
"""

from __future__ import annotations

import operator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "IMPORT_SCHEMES",
    "compare",
    "decide",
    "gather",
    "gather_dict",
    "import_artifact",
    "local_path",
    "settle",
    "uri_problem",
]

_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def gather(**items: Any) -> list[Any]:
    """``item_0``, ``item_1``... as one list, in that order."""
    return [items[f"item_{i}"] for i in range(len(items))]


def gather_dict(keys: list[str], **items: Any) -> dict[str, Any]:
    """``item_0``, ``item_1``... as one dict under ``keys``, in that order."""
    return {key: items[f"item_{i}"] for i, key in enumerate(keys)}


def compare(op: str, left: Any, right: Any) -> bool:
    """``left op right`` as every path decides it: a comparison Python refuses (``None < 1``) does not hold.

    The local runner decides conditions on values with this, and ``decide`` tasks run it in the pod.
    """
    try:
        return bool(_COMPARE[op](left, right))
    except TypeError:
        return False


def decide(condition: dict[str, Any], **operands: Any) -> bool:
    """Whether ``condition`` holds: a tree of ``compare``/``all``/``any``/``not`` nodes whose operands are
    literals (``{"value": ...}``) or inputs of this task (``{"input": "operand_0"}``)."""
    return _holds(condition, operands)


def _holds(node: dict[str, Any], operands: dict[str, Any]) -> bool:
    kind = node["kind"]
    if kind == "compare":
        return compare(node["op"], _operand(node["left"], operands), _operand(node["right"], operands))
    if kind == "not":
        return not _holds(node["condition"], operands)
    parts = [_holds(part, operands) for part in node["conditions"]]
    return all(parts) if kind == "all" else any(parts)


def _operand(side: dict[str, Any], operands: dict[str, Any]) -> Any:
    return side["value"] if "input" not in side else operands[side["input"]]


class MapFailed(Exception):
    """Too few elements of a tolerant map succeeded (the message is :func:`._tolerance.verdict`'s)."""


def settle(task: str, min_success: float, returns: str, outcomes: list[str], **values: Any) -> Any:
    """A tolerant map's results: each output's list (``value_0``, ``value_1``... in the step's order) with
    the failed elements left out, shaped as the step returns (``single``, ``fields``, ``none``).

    ``outcomes`` holds each element's outcome (``ok`` or ``failed: <error>``). Each failed element is
    reported in this task's log (index and error); when fewer succeeded than ``min_success`` needs, the
    task fails with :func:`._tolerance.verdict`'s message, the one the local runner gives.
    """
    import sys

    from ._tolerance import failure_of, verdict

    errors = {i: failure_of(text) for i, text in enumerate(outcomes)}
    failed = [i for i, error in errors.items() if error is not None]
    for i in failed:
        print(f"map {task!r}: element {i} failed and is left out: {errors[i]}", file=sys.stderr)
    problem = verdict(task, min_success, len(outcomes), failed)
    if problem is not None:
        raise MapFailed(problem)
    kept = [[v for i, v in enumerate(values[f"value_{n}"]) if i not in failed] for n in range(len(values))]
    if returns == "none":
        return None
    return kept[0] if returns == "single" else tuple(kept)


IMPORT_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")
"""The URI schemes an artifact parameter may name (a plain absolute path means ``file``)."""


def uri_problem(uri: object, where: str) -> str | None:
    """Why ``uri`` cannot name an existing artifact for ``where``, or ``None`` when its form is right.

    Only the form is checked here (a string, a known scheme); whether the object exists is known when it is
    read, or earlier where the runner can look (a local path).
    """
    if not isinstance(uri, str) or not uri:
        return f"{where} takes the URI of an existing artifact (s3://bucket/key, file:///path), got {uri!r}"
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme and scheme not in IMPORT_SCHEMES:
        known = ", ".join(f"{s}://" for s in IMPORT_SCHEMES)
        return f"{where}: {uri!r} has an unknown scheme {scheme + '://'!r} (known: {known})"
    return None


def local_path(uri: str) -> str:
    """The file system path of a ``file://`` URI (percent-escapes decoded, as ``Path.as_uri`` writes them)
    or of a plain path."""
    if not uri.startswith("file://"):
        return uri
    from urllib.parse import unquote, urlparse

    return unquote(urlparse(uri).path)


def import_artifact(uri: str | None, parameter: str, kind: str = "Artifact") -> Any:
    """The artifact at ``uri`` (pipeline parameter ``parameter``), as an ``ml.<kind>`` this task outputs;
    ``None`` for an optional parameter left out (the runtime then records "no artifact").

    The bytes are read here once: the runtime stores them as this task's output, computing their sha256,
    and every later read in the run checks that digest. The source URI and the digest seen are kept in the
    artifact's metadata, so the run's records say where it came from.
    """
    import os

    from mlopsdsl import artifacts
    from mlopsdsl.runtime._io import sha256_path

    if uri is None:
        return None
    problem = uri_problem(uri, f"pipeline parameter {parameter!r}")
    if problem:
        raise ValueError(problem)
    cls = getattr(artifacts, kind, artifacts.Artifact)
    if "://" not in uri or uri.startswith("file://"):
        path = local_path(uri)
        if not os.path.exists(path):
            raise FileNotFoundError(f"pipeline parameter {parameter!r}: {uri} does not exist")
        local = path
    else:
        from mlopsdsl.runtime._remote import filesystem

        fs, remote = filesystem(uri)
        if not fs.exists(remote):
            raise FileNotFoundError(f"pipeline parameter {parameter!r}: {uri} does not exist")
        name = remote.rstrip("/").rsplit("/", 1)[-1] or "data"
        local = cls.new(name).path
        if fs.isdir(remote):
            fs.get(remote.rstrip("/") + "/", local, recursive=True)
        else:
            fs.get_file(remote, local)
    digest, size = sha256_path(local)
    return cls(path=local, metadata={"source_uri": uri, "sha256": digest, "bytes": size})
