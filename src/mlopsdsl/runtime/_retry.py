"""Whether a failed attempt may be tried again, and the marker that remembers "no" across pods.

One rule, applied by the runtime on every backend: an attempt fails *for good* when retrying cannot change
the outcome, and only then. That is an error found before the step's function runs (a malformed call spec,
code that cannot load on this image, an input that does not fit its parameter or whose stored bytes were
damaged), or an exception of a class the step lists in ``Retry(stop_on=...)`` raised by the function. The
runtime reports it in the result record (``"retry": false``) and with exit status
:data:`EXIT_NEVER_RETRY`; every other failure exits with :data:`EXIT_FAILED` and may be retried. The local
runner reads the record, Argo's ``retryStrategy.expression`` reads the exit status.

KFP's ``retryPolicy`` starts the step again whatever the exit status. Errors found before the function runs
are found again at once, but a ``stop_on`` error would run the function again; so a KFP call spec can name
a *marker* (``docs/kfp.md``): a small file, in a store the pods share, keyed by what identifies this
execution of the task across its attempts. An attempt that fails for good writes it; an attempt that finds
it stops before loading the step's code.
"""

from __future__ import annotations

import json
import os

from ._spec import MarkerSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EXIT_FAILED = 1
"""Exit status of an attempt that failed and may be retried."""
EXIT_NEVER_RETRY = 2
"""Exit status of an attempt that failed for good: retrying cannot help (Argo's retry expression reads it)."""


class EarlierFailure(Exception):
    """An earlier attempt of this task failed for good; this one stops without running the step."""


def stops(exc: BaseException, names: list[str]) -> str | None:
    """The name in ``names`` that ``exc``'s class or one of its bases has (``module.qualname``), if any.

    Classes are compared by name, not identity: a class shipped by value is rebuilt in the pod and is not
    the object the user listed, but it keeps its module and qualified name.
    """
    if not names:
        return None
    for cls in type(exc).__mro__:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in names:
            return name
    return None


def marker_location(marker: MarkerSpec, folder: str = "never-retry") -> str:
    """Where the marker of this task execution lives: ``ROOT/never-retry/<sha256 of the key>.json``
    (``ROOT/attempts/...`` for the attempt counter of a tolerant map's element)."""
    import hashlib

    digest = hashlib.sha256(marker.key.encode()).hexdigest()
    return f"{marker.root.rstrip('/')}/{folder}/{digest}.json"


def count_attempt(marker: MarkerSpec) -> int:
    """Count this attempt of the task execution ``marker`` names and return its number (1 for the first).

    The attempts of one task run one after another (an engine starts a retry after the last one ended),
    so reading and rewriting the count needs no lock.
    """
    earlier = read_marker(marker, "attempts")
    number = int((earlier or {}).get("attempts", 0)) + 1
    write_marker(marker, {"attempts": number}, "attempts")
    return number


def read_marker(marker: MarkerSpec, folder: str = "never-retry") -> dict[str, Any] | None:
    """The record an earlier attempt left, or ``None`` when there is none."""
    where = marker_location(marker, folder)
    from ._remote import filesystem, is_remote

    try:
        if is_remote(where):
            fs, path = filesystem(where)
            data: bytes = fs.cat_file(path)
        else:
            with open(where, "rb") as handle:
                data = handle.read()
    except FileNotFoundError:
        return None
    record = json.loads(data)
    return record if isinstance(record, dict) else {"error": record}


def write_marker(marker: MarkerSpec, record: dict[str, Any], folder: str = "never-retry") -> str:
    """Leave ``record`` for later attempts; returns where. A marker is written whole or not at all."""
    where = marker_location(marker, folder)
    data = json.dumps({"key": marker.key, **record}, ensure_ascii=False, sort_keys=True).encode()
    from ._remote import filesystem, is_remote

    if is_remote(where):
        fs, path = filesystem(where)
        fs.pipe_file(path, data)  # object stores make an object visible whole
        return where
    from ._io import write_bytes

    write_bytes(where, data)
    return where


def touch(marker: MarkerSpec) -> None:
    """Create the empty file the spec names (on KFP: the output artifact whose URI is the key, which the
    launcher uploads after a success and so must exist)."""
    if marker.touch is not None:
        os.makedirs(os.path.dirname(marker.touch) or ".", exist_ok=True)
        with open(marker.touch, "ab"):
            pass
