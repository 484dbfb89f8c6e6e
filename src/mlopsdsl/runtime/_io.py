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
    from collections.abc import Iterator
    from typing import Any

_CHUNK = 1 << 20


class IntegrityError(Exception):
    """A stored input's bytes do not match the digest recorded when it was written."""


def sha256_file(path: str) -> tuple[str, int]:
    """The sha256 and size of a file, read in chunks (large artifacts never sit in memory whole)."""
    import hashlib

    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            hasher.update(view[:count])
            size += count
    return hasher.hexdigest(), size


def tree_files(path: str) -> Iterator[tuple[str, str, str, int]]:
    """Each file of a folder, in manifest order: its path, relative path, sha256 and size."""
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            digest, size = sha256_file(full)
            yield full, os.path.relpath(full, path).replace(os.sep, "/"), digest, size


def manifest(entries: list[tuple[str, str, str, int]]) -> bytes:
    """A folder's manifest (``"<sha256>  <relative/path>\n"`` lines); its sha256 is the folder's digest."""
    return "".join(f"{digest}  {rel}\n" for _, rel, digest, _ in entries).encode()


def sha256_tree(path: str) -> tuple[str, int]:
    """The digest of a folder (of its manifest of relative paths and file digests) and its total size."""
    import hashlib

    entries = list(tree_files(path))
    return hashlib.sha256(manifest(entries)).hexdigest(), sum(size for *_, size in entries)


def sha256_path(path: str) -> tuple[str, int]:
    return sha256_tree(path) if os.path.isdir(path) else sha256_file(path)


def temporary_name(path: str) -> str:
    """A name beside ``path`` that no other writer uses: not even a process with the same pid in another
    container writing to the same shared volume (a cache store), which a pid alone would not ensure."""
    return f"{path}.{os.getpid()}-{os.urandom(4).hex()}.tmp"


def write_bytes(path: str, data: bytes) -> tuple[str, int]:
    """Write ``data`` to ``path`` atomically; its sha256 and size."""
    import hashlib

    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    return hashlib.sha256(data).hexdigest(), len(data)


def copy_into(src: str, dst: str, owned: str | None = None) -> tuple[str, int, bool]:
    """Put the file or folder ``src`` at ``dst`` atomically; its digest, size and whether it is a folder.

    When ``src`` lies under ``owned`` (the runtime's staging folder, where ``Artifact.new`` paths live) it
    is moved, in one rename; otherwise it is copied (a reflink where the file system can, else an
    in-kernel copy) while a second thread hashes it, so that a large file is read once by us and never
    held in memory.
    """
    if not os.path.exists(src):
        raise FileNotFoundError(f"the returned artifact's path {src!r} does not exist; write it first")
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    tmp = temporary_name(dst)
    try:
        if owned is not None and _inside(src, owned):
            os.replace(src, tmp)
            digest, size = sha256_path(tmp)
        elif os.path.isdir(src):
            import shutil

            shutil.copytree(src, tmp, copy_function=_copy_file_only)
            digest, size = sha256_tree(tmp)
        else:
            digest, size = copy_file_hashing(src, tmp)
        is_dir = os.path.isdir(tmp)
        os.replace(tmp, dst)
    except BaseException:
        remove(tmp)
        raise
    return digest, size, is_dir


def _inside(path: str, folder: str) -> bool:
    path = os.path.realpath(path)
    folder = os.path.realpath(folder)
    return path.startswith(folder + os.sep)


def _copy_file_only(src: str, dst: str) -> str:
    _fast_copy(src, dst)
    return dst


def _fast_copy(src: str, dst: str) -> None:
    """Copy a file's bytes without passing them through Python: a reflink when the file system shares
    blocks (btrfs, xfs), else ``shutil.copyfile`` (``sendfile`` on Linux)."""
    import shutil

    with open(src, "rb") as source, open(dst, "wb") as target:
        try:
            import fcntl

            fcntl.ioctl(target.fileno(), 0x40049409, source.fileno())  # FICLONE
            return
        except (ImportError, OSError):
            pass
    shutil.copyfile(src, dst)


def copy_file_hashing(src: str, dst: str) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` and hash it at the same time (two threads: the copy runs in the kernel and
    the hash in C, both without the GIL); the sha256 and size of what was copied."""
    import threading

    failure: list[BaseException] = []

    def copy() -> None:
        try:
            _fast_copy(src, dst)
        except BaseException as exc:  # reported by the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=copy, name="mlopsdsl-copy")
    worker.start()
    try:
        digest, size = sha256_file(src)
    finally:
        worker.join()
    if failure:
        raise failure[0]
    if os.path.getsize(dst) != size:
        raise OSError(f"{src} changed while it was copied")
    return digest, size


def remove(path: str) -> None:
    """Remove a file or folder if it exists."""
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def stamp(path: str) -> list[int]:
    """What changes whenever a file's bytes change through the file system: inode, size, mtime, ctime.

    ctime cannot be set back by a user (unlike mtime), so an unchanged stamp means the file was not
    written since the stamp was taken (git's index trusts the same facts).
    """
    st = os.stat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def unchanged(path: str, verified: list[int] | None) -> bool:
    """True when the local file ``path`` still has the stamp taken right after it was hashed and stored,
    so its bytes need not be read again; ``MLOPSDSL_VERIFY=always`` says never to rely on that."""
    return (
        verified is not None
        and os.environ.get("MLOPSDSL_VERIFY") != "always"
        and os.path.isfile(path)
        and stamp(path) == verified
    )


def check_digest(spec: InputSpec, path: str) -> None:
    """Fail unless ``path`` has the digest recorded when it was written.

    A local file whose ``verified`` stamp (taken by the store right after the file was hashed and
    stored) still matches was not written since, and is not read again; ``MLOPSDSL_VERIFY=always``
    rehashes regardless. Everything else is hashed in full.
    """
    if spec.sha256 is None:
        return
    if unchanged(path, spec.verified):
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
