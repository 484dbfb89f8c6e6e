"""Files the runtime reads and writes: inputs, outputs, and the sha256 digests that vouch for them.

Every output is written under a temporary name and renamed into place, so a reader never sees half of
one, and its digest is computed while it is written; a reader given a digest checks it. A folder's digest
is the sha256 of its manifest (each file's relative path and sha256, sorted), so it does not depend on
the order the file system lists them in.
"""

from __future__ import annotations

import json
import os

from ._spec import InputSpec, OutputSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CHUNK = 1 << 20


class IntegrityError(Exception):
    """A stored input's bytes do not match the digest recorded when it was written."""


def sha256_file(path: str) -> tuple[str, int]:
    """The sha256 and size of a file, read in chunks (large artifacts never sit in memory whole)."""
    import hashlib

    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def sha256_tree(path: str) -> tuple[str, int]:
    """The digest of a folder (of its manifest of relative paths and file digests) and its total size."""
    import hashlib

    lines = []
    total = 0
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            digest, size = sha256_file(full)
            total += size
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            lines.append(f"{digest}  {rel}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), total


def sha256_path(path: str) -> tuple[str, int]:
    return sha256_tree(path) if os.path.isdir(path) else sha256_file(path)


def write_bytes(path: str, data: bytes) -> tuple[str, int]:
    """Write ``data`` to ``path`` atomically; its sha256 and size."""
    import hashlib

    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest(), len(data)


def copy_into(src: str, dst: str) -> tuple[str, int, bool]:
    """Copy the file or folder ``src`` to ``dst`` atomically; its digest, size and whether it is a folder."""
    import shutil

    if not os.path.exists(src):
        raise FileNotFoundError(f"the returned artifact's path {src!r} does not exist; write it first")
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    tmp = f"{dst}.{os.getpid()}.tmp"
    if os.path.isdir(src):
        shutil.copytree(src, tmp)
        digest, size = sha256_tree(tmp)
        os.replace(tmp, dst)
        return digest, size, True
    shutil.copyfile(src, tmp)
    digest, size = sha256_file(tmp)
    os.replace(tmp, dst)
    return digest, size, False


def check_digest(spec: InputSpec, path: str) -> None:
    if spec.sha256 is None:
        return
    digest, _ = sha256_path(path)
    if digest != spec.sha256:
        raise IntegrityError(
            f"input {spec.name!r}: {path} has sha256 {digest}, but {spec.sha256} was recorded when it was "
            "written; the stored data was changed or damaged"
        )


def read_text(spec: InputSpec, args: dict[str, str]) -> str:
    """The text of a JSON input read from a file, an environment variable or a command-line argument."""
    if spec.file is not None:
        with open(spec.file, encoding="utf-8") as handle:
            return handle.read()
    if spec.env is not None:
        if spec.env not in os.environ:
            raise KeyError(f"input {spec.name!r}: environment variable {spec.env} is not set")
        return os.environ[spec.env]
    assert spec.arg is not None
    if spec.arg not in args:
        raise KeyError(f"input {spec.name!r}: no --arg {spec.arg}=... was given")
    return args[spec.arg]


def write_json_output(spec: OutputSpec, value: Any) -> dict[str, Any]:
    """The record of a JSON output; written to its file too when the spec names one."""
    record: dict[str, Any] = {"kind": "json", "value": value}
    if spec.file is not None:
        text = value if spec.raw and isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        write_bytes(spec.file, text.encode())
    return record
