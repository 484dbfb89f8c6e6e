"""The runtime as one small archive, for images that have Python and nothing else.

A stock ``python:3.X-slim`` image has neither mlopsdsl nor cloudpickle, and pods may have no network. The
runtime is pure standard library, so a compiler ships :func:`bundle` (the runtime package, the artifact
classes, a stub ``mlopsdsl/__init__.py`` and a copy of cloudpickle: tens of kilobytes) with the pipeline;
the pod turns it back into a zip (:func:`unpacker`), puts that on ``sys.path`` and runs :data:`BOOTSTRAP`:
Python imports straight from the zip (``zipimport``), and finds each module's source there for tracebacks.
Images that install mlopsdsl need none of this: they run ``python -m mlopsdsl.runtime``.

Every compiled document carries the bundle, so it is kept small. Every file travels without docstrings and
comments (:func:`lean`; each line stays on its line number, so a traceback from a pod points at the same
line of the source), except the head of cloudpickle's files, where its copyright and licence notice is.
The files are stored, not deflated, in a zip, and the whole zip is compressed at once with bzip2: one
stream over every file finds what the files share (imports, names, idioms), which a zip, deflating each
file alone in a 32 KB window, cannot: 70% of the same files deflated in a zip (docs/runtime.md has the
encodings measured). bzip2 rather than xz/lzma: slightly smaller here, and its encoder gives the same bytes
across the releases in use, where xz documents that its output may change between releases. The bytes are
deterministic (sorted entries, fixed timestamps).

Making it costs a quarter of a second (parsing the sources to lean them, most of it), which a cold
``mlopsdsl compile`` would pay every time, so it is kept in a user cache folder under the digest of what
goes in it, and checked against its own digest when read back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from pathlib import Path

from mlopsdsl.runtime._io import write_bytes

__all__ = ["BOOTSTRAP", "bundle", "bundle_files", "lean", "lean_files", "unpack", "unpacker"]

BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from mlopsdsl.runtime import main; "
    "sys.exit(main(sys.argv[1:]))"
)
"""``python -c BOOTSTRAP RUNTIME.zip SPEC.json [--arg ...]`` runs a step from the bundle's zip
(:func:`unpack`)."""

_STUB_INIT = '''"""mlopsdsl, as bundled with the step runtime: runtime, artifact classes, tracking."""


def __getattr__(name):
    if name in ("Artifact", "Dataset", "Model", "Markdown", "HTML", "ClassificationMetrics"):
        from mlopsdsl import artifacts

        return getattr(artifacts, name)
    if name in ("current", "log_metric", "log_metrics"):
        from mlopsdsl.runtime import tracking

        return getattr(tracking, name)
    raise AttributeError(f"module 'mlopsdsl' has no attribute {name!r} (this is the runtime bundle)")
'''

_PRODUCER_ONLY = {"bundle.py", "payload.py", "_pickler.py"}


def bundle_files(include_cloudpickle: bool = True) -> dict[str, bytes]:
    """The bundle's files by archive name."""
    here = Path(__file__).parent
    files: dict[str, bytes] = {"mlopsdsl/__init__.py": _STUB_INIT.encode()}
    files["mlopsdsl/artifacts.py"] = (here.parent / "artifacts.py").read_bytes()
    for path in sorted(here.glob("*.py")):
        if path.name not in _PRODUCER_ONLY:
            files[f"mlopsdsl/runtime/{path.name}"] = path.read_bytes()
    if include_cloudpickle:
        import cloudpickle  # type: ignore[import-untyped]

        folder = Path(os.path.dirname(cloudpickle.__file__))
        for path in sorted(folder.glob("*.py")):
            files[f"cloudpickle/{path.name}"] = path.read_bytes()
    return files


LEAN_VERSION = "2"
"""Part of the cache key: a change to :func:`lean` or to the bundle's format must not reuse old bundles."""


def lean(source: str, keep_head: bool = False) -> str:
    """``source`` without docstrings and comments, every remaining line on its original line number.

    A docstring becomes blank lines (``pass`` when it was a body's only statement); a comment is cut from
    its line. The result compiles to the same code objects, apart from ``__doc__`` and line tables.

    Args:
        source: A module's source.
        keep_head: Keep the module's docstring and the comments above its first statement as they are:
            where another project's copyright and licence notice is, which must travel with its code.
    """
    import ast
    import tokenize

    lines = source.splitlines(keepends=True)

    def column(line: int, offset: int) -> int:  # ast counts UTF-8 bytes, slicing counts characters
        return len(lines[line - 1].encode()[:offset].decode())

    tree = ast.parse(source)
    docstrings: list[tuple[int, int, int, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and first.end_lineno is not None
                and first.end_col_offset is not None
                and not (keep_head and node is tree)
            ):
                docstrings.append((
                    first.lineno,
                    column(first.lineno, first.col_offset),
                    first.end_lineno,
                    column(first.end_lineno, first.end_col_offset),
                    len(node.body) == 1,
                ))  # fmt: skip
    head = 0  # the last line of the kept head
    if keep_head:
        body = tree.body[1:] if ast.get_docstring(tree, clean=False) is not None else tree.body
        head = len(lines)
        if body:  # a decorated definition starts at its first decorator
            head = min([body[0].lineno, *(d.lineno for d in getattr(body[0], "decorator_list", []))]) - 1
    comments = [
        token.start
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT and token.start[0] > head
    ]
    for line, col in reversed(comments):
        lines[line - 1] = lines[line - 1][:col].rstrip() + "\n"
    for start, col, end, end_col, alone in sorted(docstrings, reverse=True):
        head_text = lines[start - 1][:col] + ("pass" if alone else "")
        tail = lines[end - 1][end_col:]
        if start == end:
            lines[start - 1] = head_text + tail
        else:
            rest = tail if tail.strip() else "\n"
            lines[start - 1 : end] = [head_text.rstrip() + "\n", *["\n"] * (end - start - 1), rest]
    return "".join(line if line.strip() else "\n" for line in lines)


def lean_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` (:func:`bundle_files`) as they travel: :func:`lean`, cloudpickle's notices kept."""
    return {
        name: lean(data.decode("utf-8"), keep_head=not name.startswith("mlopsdsl/")).encode("utf-8")
        for name, data in files.items()
    }


def _zip(files: dict[str, bytes]) -> bytes:
    """A zip of ``files`` whose entries are stored: the whole zip is compressed afterwards (:func:`_pack`),
    and zipimport reads stored entries as they are."""
    import zipfile  # not at the top: compilers import this module for :func:`unpacker` alone

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _pack(zipped: bytes) -> bytes:
    import bz2

    return bz2.compress(zipped, 9)


def unpack(data: bytes) -> bytes:
    """The zip inside a bundle (what :func:`unpacker` gives a pod): put it in a file on ``sys.path``."""
    import bz2

    return bz2.decompress(data)


def unpacker(text: str) -> str:
    """Python lines that set ``zipped`` to the zip of the bundle whose base64 text is the expression ``text``.

    The program around them has imported ``sys``. A Python built without bzip2 (every official and
    distribution Python has it; one built from source without ``libbz2`` does not) ends the pod saying so,
    rather than with an import error."""
    return f"""\
import base64
try:
    import bz2
except ImportError:
    sys.exit("mlopsdsl: this Python has no bz2 module to unpack the step runtime; see runtime='image'")
zipped = bz2.decompress(base64.b64decode({text}))
"""


def _cache_folder() -> Path:
    """``$MLOPSDSL_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlopsdsl``, else ``~/.cache/mlopsdsl``."""
    chosen = os.environ.get("MLOPSDSL_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mlopsdsl"


def bundle(include_cloudpickle: bool = True) -> bytes:
    """The runtime bundle (a bzip2-compressed zip, :func:`unpack`), identical for the same mlopsdsl and
    cloudpickle versions.

    Read from the user cache when a bundle of the same inputs is there and intact; else made, and kept
    there (by a temporary file and a rename; a cache that cannot be written is only slower).

    Args:
        include_cloudpickle: Add cloudpickle (needed to load by-value steps). Leave it out for images
            whose steps all ship in import mode.
    """
    files = bundle_files(include_cloudpickle)
    key = hashlib.sha256(LEAN_VERSION.encode())
    for name, data in sorted(files.items()):
        key.update(b"%d:%s\0%d:" % (len(name), name.encode(), len(data)))
        key.update(data)
    folder = _cache_folder() / "bundles"
    prefix = key.hexdigest()[:32]
    try:
        for kept in folder.glob(f"{prefix}-*.bz2"):
            data = kept.read_bytes()
            if hashlib.sha256(data).hexdigest()[:32] == kept.stem.split("-", 1)[1]:
                return data
    except OSError:
        pass
    made = _pack(_zip(lean_files(files)))
    with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
        write_bytes(str(folder / f"{prefix}-{hashlib.sha256(made).hexdigest()[:32]}.bz2"), made)
    return made
