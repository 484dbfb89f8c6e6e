"""Blobs on a remote artifact store (``s3://``, ``gs://``, any fsspec URL): fetch inputs, store outputs.

A store is content-addressed: a blob lives at ``<root>/sha256/<ab>/<digest>``. A file is stored as it is;
a folder is stored as its *manifest* (``"<file sha256>  <relative/path>\\n"`` lines, sorted, whose sha256 is
the folder's digest) with each of its files stored as a blob of its own, so folders share unchanged files
and need no rename on object stores.

Atomic visibility: object stores (S3, GCS, Azure Blob) make an object visible only when its upload is
complete (a single PUT, or the completion of a multipart upload), so a blob is uploaded straight to its
final key; and because the key is the digest, an existing key is a whole blob. A folder's manifest is
uploaded after every file, so a visible manifest means a whole folder. Other file systems get a
temporary name and a move. Downloads stream to a local file (never memory), are hashed and checked, and
then renamed into place.

fsspec (and s3fs, gcsfs, adlfs) are imported only here, only when a call spec names a remote URL.
Connection settings come from the environment: the libraries' own variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...) and ``MLOPSDSL_STORAGE_OPTIONS`` (JSON keyword arguments for the fsspec file
system, set by the runner from its configuration); never from the call spec.
"""

from __future__ import annotations

import json
import os

from ._io import IntegrityError, manifest, remove, sha256_file, tree_files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ATOMIC_PUT = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory")
"""Protocols whose uploads become visible whole, or not at all."""


def is_remote(uri: str | None) -> bool:
    """True for a URL with a scheme other than ``file``."""
    return bool(uri) and "://" in str(uri) and not str(uri).startswith("file://")


def storage_options() -> dict[str, Any]:
    """Keyword arguments for the file system, from ``MLOPSDSL_STORAGE_OPTIONS`` (JSON)."""
    text = os.environ.get("MLOPSDSL_STORAGE_OPTIONS")
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("MLOPSDSL_STORAGE_OPTIONS must be a JSON object")
    return value


def filesystem(uri: str, options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec file system of ``uri`` and the path inside it; ``options`` default to the environment's."""
    try:
        from fsspec.core import url_to_fs  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            f"{uri} is on a remote store, which needs fsspec (and s3fs for s3://): "
            "pip install 'mlopsdsl[s3]', or add them to the step's image"
        ) from None
    fs, path = url_to_fs(uri, **(storage_options() if options is None else options))
    return fs, path


def blob_uri(root: str, digest: str) -> str:
    """The URL of the blob ``digest`` under the store ``root``."""
    return f"{root.rstrip('/')}/sha256/{digest[:2]}/{digest}"


_S3_CHUNK = 8 << 20
"""s3fs moves up to 50 MiB per request by default, held in memory, ten parts at once; uploads of 8 MiB
parts, two at a time, and downloads as one stream, bound a transfer's memory whatever the file's size."""


def _chunked(fs: Any, upload: bool = False) -> dict[str, Any]:
    if _protocol(fs) not in ("s3", "s3a"):
        return {}
    return {"chunksize": _S3_CHUNK, "max_concurrency": 2 if upload else 1}


def _protocol(fs: Any) -> str:
    protocol = fs.protocol
    return str(protocol[0] if isinstance(protocol, tuple | list) else protocol)


# --------------------------------------------------------------------------- reading


def fetch(
    uri: str, sha256: str | None, dest: str, is_dir: bool = False, options: dict[str, Any] | None = None
) -> None:
    """Download the blob at ``uri`` to the local path ``dest``, checking its digest on the way.

    Raises:
        IntegrityError: The downloaded bytes do not have the recorded digest.
    """
    fs, path = filesystem(uri, options)
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    tmp = f"{dest}.{os.getpid()}.part"
    try:
        if is_dir:
            _fetch_tree(fs, path, uri, sha256, tmp)
        else:
            fs.get_file(path, tmp, **_chunked(fs))
            _check(uri, sha256, sha256_file(tmp)[0])
        os.replace(tmp, dest)
    except BaseException:
        remove(tmp)
        raise


def _fetch_tree(fs: Any, path: str, uri: str, sha256: str | None, tmp: str) -> None:
    import hashlib

    manifest = fs.cat_file(path)  # a manifest is small: one line per file
    _check(uri, sha256, hashlib.sha256(manifest).hexdigest())
    root = path.rsplit("/sha256/", 1)[0]
    os.makedirs(tmp)
    for line in manifest.decode().splitlines():
        digest, _, rel = line.partition("  ")
        if not rel or rel.startswith("/") or ".." in rel.split("/"):
            raise IntegrityError(f"{uri}: the folder manifest names a bad path {rel!r}")
        target = os.path.join(tmp, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fs.get_file(f"{root}/sha256/{digest[:2]}/{digest}", target, **_chunked(fs))
        _check(f"{uri} ({rel})", digest, sha256_file(target)[0])


def _check(uri: str, expected: str | None, actual: str) -> None:
    if expected is not None and actual != expected:
        raise IntegrityError(
            f"{uri} has sha256 {actual}, but {expected} was recorded when it was written; the stored data "
            "was changed or damaged"
        )


def _stream_sha256(fs: Any, path: str) -> str:
    import hashlib

    hasher = hashlib.sha256()
    with fs.open(path, "rb", block_size=_S3_CHUNK) as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def damaged_keys(
    uri: str, sha256: str, is_dir: bool = False, options: dict[str, Any] | None = None
) -> tuple[list[str], str | None]:
    """Check the blob at ``uri`` against ``sha256`` by reading it as a stream (never whole, never to disk).

    Returns the store paths found damaged (the blob, or a folder's manifest and its damaged files) and
    what is wrong; ``([], None)`` when the blob is whole.
    """
    fs, path = filesystem(uri, options)
    try:
        if not is_dir:
            actual = _stream_sha256(fs, path)
            if actual != sha256:
                return [path], f"{uri} has sha256 {actual}, but {sha256} was recorded"
            return [], None
        import hashlib

        listing = fs.cat_file(path)
        actual = hashlib.sha256(listing).hexdigest()
        if actual != sha256:
            return [path], f"{uri} (a folder's manifest) has sha256 {actual}, but {sha256} was recorded"
        root = path.rsplit("/sha256/", 1)[0]
        for line in listing.decode(errors="replace").splitlines():
            digest, _, rel = line.partition("  ")
            key = f"{root}/sha256/{digest[:2]}/{digest}"
            got = _stream_sha256(fs, key)
            if got != digest:
                return [key], f"{uri} ({rel}) has sha256 {got}, but {digest} was recorded"
    except FileNotFoundError:
        return [], f"{uri} is missing"
    return [], None


def remove_keys(uri: str, keys: list[str], options: dict[str, Any] | None = None) -> None:
    """Delete damaged blobs, so that fresh uploads of the same digest are not skipped as present."""
    import contextlib

    fs, _ = filesystem(uri, options)
    for key in keys:
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(key)


# --------------------------------------------------------------------------- writing


def store(local: str, root: str, digest: str | None = None, replace: bool = False) -> tuple[str, str, int]:
    """Upload the local file or folder ``local`` to the store ``root``; its URI, digest and size.

    A blob that is there already is kept (its key is its digest), unless ``replace``: the cache found it
    damaged, and fresh bytes repair it.
    """
    fs, base = filesystem(root)
    base = base.rstrip("/")
    if os.path.isdir(local):
        return _store_tree(fs, local, root, base, replace)
    if digest is None:
        digest = sha256_file(local)[0]
    size = os.path.getsize(local)
    _put(fs, local, base, digest, size, replace)
    return blob_uri(root, digest), digest, size


def _store_tree(fs: Any, local: str, root: str, base: str, replace: bool = False) -> tuple[str, str, int]:
    import hashlib

    entries = list(tree_files(local))
    for full, _, file_digest, size in entries:
        _put(fs, full, base, file_digest, size, replace)
    total = sum(size for *_, size in entries)
    listing = manifest(entries)
    digest = hashlib.sha256(listing).hexdigest()  # the folder digest, as sha256_tree defines it
    key = f"{base}/sha256/{digest[:2]}/{digest}"
    if replace or not _exists(fs, key, len(listing)):
        _write(fs, base, key, listing)
    return blob_uri(root, digest), digest, total


def _write(fs: Any, base: str, key: str, data: bytes) -> None:
    """Put a small object (a manifest, a cache entry) at ``key``, visible whole or not at all."""
    if _protocol(fs) in ATOMIC_PUT:
        fs.pipe_file(key, data)
        return
    tmp = f"{base}/tmp/{os.getpid()}-{os.urandom(4).hex()}-{key.rsplit('/', 1)[-1]}"
    fs.makedirs(f"{base}/tmp", exist_ok=True)
    fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(tmp, data)
    fs.mv(tmp, key)


def read_object(root: str, key: str) -> bytes | None:
    """The bytes of the small object ``key`` under the store ``root``, or ``None`` when there is none."""
    fs, base = filesystem(root)
    try:
        data: bytes = fs.cat_file(f"{base.rstrip('/')}/{key}")
    except FileNotFoundError:
        return None
    return data


def write_object(root: str, key: str, data: bytes) -> None:
    """Write the small object ``key`` under the store ``root`` (a cache entry), atomically."""
    fs, base = filesystem(root)
    base = base.rstrip("/")
    _write(fs, base, f"{base}/{key}", data)


def _put(fs: Any, local: str, base: str, digest: str, size: int, replace: bool = False) -> None:
    key = f"{base}/sha256/{digest[:2]}/{digest}"
    if not replace and _exists(fs, key, size):
        return  # content-addressed: the same bytes are there already
    if _protocol(fs) in ATOMIC_PUT:
        fs.put_file(local, key, **_chunked(fs, upload=True))
        return
    tmp = f"{base}/tmp/{os.getpid()}-{os.urandom(4).hex()}-{digest}"
    fs.makedirs(f"{base}/tmp", exist_ok=True)
    fs.makedirs(key.rsplit("/", 1)[0], exist_ok=True)
    try:
        fs.put_file(local, tmp)
        fs.mv(tmp, key)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise


def _exists(fs: Any, key: str, size: int) -> bool:
    try:
        info = fs.info(key)
    except FileNotFoundError:
        return False
    return bool(info.get("type") == "file" and info.get("size") == size)
