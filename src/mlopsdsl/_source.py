"""Where in the user's code something happened.

Decorators, options and step calls record the first stack frame outside this package. Two forms of the
path exist: the *display* path (relative to the working directory when possible, so that editors and
terminals can jump to it) and the *portable* path stored in the IR, which is the file's path relative to
the root it is imported from (``pkg/mod.py`` for module ``pkg.mod``). The portable form never contains an
absolute path, so the IR does not change when the project moves.
"""

from __future__ import annotations

import functools
import os
import sys
from types import FrameType

from mlopsdsl.errors import Location

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def caller_frame() -> FrameType | None:
    """The innermost frame that is not mlopsdsl's own code."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        generated = filename == "<string>" and frame.f_code.co_name == "__init__"  # a dataclass's __init__
        if not (filename.startswith(_PACKAGE_DIR) or filename.startswith("<frozen ") or generated):
            return frame
        frame = frame.f_back
    return None


def display_path(filename: str) -> str:
    """The path to show a user: relative to the working directory when the file is below it."""
    if filename.startswith("<"):
        return filename
    return _display_path(filename, os.getcwd())


@functools.lru_cache(maxsize=1024)
def _display_path(filename: str, cwd: str) -> str:
    # Every task of a pipeline asks for the same few files: computing a relative path each time was a
    # quarter of building a long pipeline.
    try:
        rel = os.path.relpath(filename, cwd)
    except ValueError:  # another drive on Windows
        return filename
    return filename if rel.startswith(os.pardir) else rel


@functools.lru_cache(maxsize=1024)
def portable_path(filename: str, module: str | None) -> str:
    """The path relative to the import root of ``module``; the bare file name when that is unknown."""
    if filename.startswith("<"):
        return filename
    norm = os.path.normpath(filename)
    if module and module != "__main__":
        parts = module.split(".")
        stem = os.path.splitext(norm)[0].split(os.sep)
        if stem[-1] == "__init__":
            stem = stem[:-1]
        if len(stem) >= len(parts) and stem[-len(parts) :] == parts:
            depth = len(parts) + (1 if norm.endswith("__init__.py") else 0)
            return "/".join(norm.split(os.sep)[-depth:])
    return os.path.basename(norm)


class SourceRef:
    """A place in user code in both forms. ``location`` is for users, ``portable`` for the IR."""

    __slots__ = ("filename", "line", "module")

    def __init__(self, filename: str, line: int, module: str | None) -> None:
        self.filename = filename
        self.line = line
        self.module = module

    @property
    def location(self) -> Location:
        return Location(display_path(self.filename), self.line)

    @property
    def portable(self) -> Location:
        return Location(portable_path(self.filename, self.module), self.line)


def caller() -> SourceRef | None:
    """The user's code that called into mlopsdsl, if any frame of it is on the stack."""
    frame = caller_frame()
    if frame is None:
        return None
    return SourceRef(frame.f_code.co_filename, frame.f_lineno, frame.f_globals.get("__name__"))


def caller_location() -> Location | None:
    ref = caller()
    return ref.location if ref is not None else None


def definition(obj: object) -> SourceRef | None:
    """Where a function or class is defined: the line of its first decorator or its ``def``."""
    code = getattr(obj, "__code__", None)
    if code is None:
        return None
    return SourceRef(code.co_filename, code.co_firstlineno, getattr(obj, "__module__", None))


def _signature_source(fn: object) -> tuple[str, int] | None:
    """The source of a function's decorators and signature, dedented, and the line it starts on.

    Read from the lines of its file up to the end of the ``def`` line (the first logical line after the
    ``def`` keyword, found by the tokenizer): ``inspect.getsourcelines`` tokenizes the whole body too,
    ~5 ms for a pipeline function, paid by every cold command.
    """
    import linecache
    import textwrap
    import tokenize

    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    lines = linecache.getlines(code.co_filename)
    start = code.co_firstlineno - 1
    if not 0 <= start < len(lines):
        return None
    seen_def = False
    end = None
    try:
        for token in tokenize.generate_tokens(iter(lines[start:]).__next__):
            if token.type == tokenize.NAME and token.string == "def":
                seen_def = True
            elif token.type == tokenize.NEWLINE and seen_def:
                end = start + token.end[0]
                break
    except (tokenize.TokenError, SyntaxError):
        return None
    if end is None:
        return None
    return textwrap.dedent("".join(lines[start:end])), start + 1


def parameter_lines(fn: object) -> dict[str, int]:
    """The line of each parameter in a function's signature (and of its return annotation, as ``return``).

    Empty when the source is not available (a function built by exec, say); callers fall back to the
    line of the definition.
    """
    import ast

    header = _signature_source(fn)
    if header is None:
        return {}
    source, first = header
    try:
        tree = ast.parse(source)
    except SyntaxError:
        try:
            tree = ast.parse(source + " pass\n")  # a header alone has no body
        except SyntaxError:
            return {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            lines = {a.arg: first + a.lineno - 1 for a in every}
            if node.returns is not None:
                lines["return"] = first + node.returns.lineno - 1
            return lines
    return {}
