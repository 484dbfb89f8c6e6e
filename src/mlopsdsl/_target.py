"""Finding the pipeline a user names: ``path/to/file.py[:name]`` or ``package.module[:name]``.

A file is imported under its real module name (``pkg.mod`` when its folder is a package, its stem
otherwise) with its import root on ``sys.path``, exactly as ``python -m`` would, so that the step
functions in it can later be imported by name inside a container that holds the same code, and so that
its sibling modules import as they do when the user runs it. An exception raised by the user's module is
reported at the user's line, not as a crash of ours.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from types import ModuleType
from typing import Any

from mlopsdsl._pipeline import Pipeline
from mlopsdsl._source import _PACKAGE_DIR, display_path
from mlopsdsl.errors import Location, MlopsDslError, TargetError

_IMPORTLIB_DIR = os.path.dirname(importlib.__file__) + os.sep


class UserCodeError(MlopsDslError):
    """The user's own code raised while we imported or traced it; ``details`` is its traceback."""

    def __init__(self, message: str, location: Location | None, details: str) -> None:
        super().__init__(message, location)
        self.details = details


def split_target(target: str) -> tuple[str, str | None]:
    """``"a/b.py:train"`` -> ``("a/b.py", "train")``; a Windows drive colon is not a separator."""
    head, sep, name = target.rpartition(":")
    if not sep or not head or os.sep in name or "/" in name or (len(head) == 1 and head.isalpha()):
        return target, None
    return head, name or None


def module_for_file(path: str) -> tuple[str, str]:
    """The import root and dotted module name of a Python file, walking up through packages."""
    path = os.path.abspath(path)
    folder, filename = os.path.split(path)
    parts = [os.path.splitext(filename)[0]]
    if parts[0] == "__init__":
        parts = []
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    if not parts:
        raise TargetError(f"{display_path(path)} is a package's __init__.py; name the package instead")
    return folder, ".".join(parts)


def import_target_module(spec: str) -> ModuleType:
    """Import a file path or a dotted module name, turning the user's exceptions into UserCodeError."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        if not os.path.isfile(spec):
            raise TargetError(f"no such file: {spec}")
        root, module_name = module_for_file(spec)
        loaded = sys.modules.get(module_name)
        if loaded is not None and os.path.abspath(getattr(loaded, "__file__", "") or "") != os.path.abspath(
            spec
        ):
            raise TargetError(
                f"{spec} would be imported as module {module_name!r}, but another module of that name is "
                f"already loaded ({getattr(loaded, '__file__', '?')}); rename the file"
            )
    else:
        if not _MODULE_NAME.match(spec):
            raise TargetError(
                f"{spec!r} is neither a Python file nor a module name: give path/to/file.py[:name] or "
                "package.module[:name]"
            )
        root, module_name = os.getcwd(), spec
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise TargetError(f"no module named {module_name!r} (from {os.getcwd()})") from None
        raise user_code_error(exc, f"importing {module_name}") from None
    except MlopsDslError:
        raise
    except SystemExit as exc:  # the file ran a script's sys.exit() when imported: nothing to compile
        error = user_code_error(exc, f"importing {module_name}")
        raise UserCodeError(
            f"{module_name} called sys.exit({exc.code!r}) while being imported, so it defines nothing to "
            "use (guard the script part with: if __name__ == '__main__':)",
            error.location,
            "",
        ) from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt) or raised_by_us(exc):
            raise
        error = user_code_error(exc, f"importing {module_name}")
        if error.location is None and spec.endswith(".py"):
            # Python refuses the file before any line of it runs (NUL bytes): blame the file itself.
            error = UserCodeError(error.message, Location(display_path(spec), _nul_line(spec)), "")
        raise error from None


_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _nul_line(path: str) -> int:
    """The line of the first NUL byte in ``path`` (a file Python refuses to compile without naming it)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return 0
    at = data.find(b"\x00")
    return data.count(b"\n", 0, at) + 1 if at >= 0 else 0


def _machinery(filename: str) -> bool:
    """Frames that are not the user's: ours, and the import system's."""
    return filename.startswith((_PACKAGE_DIR, "<frozen", _IMPORTLIB_DIR))


def user_code_error(exc: BaseException, doing: str) -> UserCodeError:
    """An exception from user code, located at the innermost frame of it, with its traceback."""
    location = None
    if isinstance(exc, SyntaxError) and exc.filename:
        location = Location(display_path(exc.filename), exc.lineno or 0)
    else:
        for frame, line in traceback.walk_tb(exc.__traceback__):
            filename = frame.f_code.co_filename
            if not _machinery(filename):
                location = Location(display_path(filename), line)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _machinery(f.filename)]
    details = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(exc))
    message = f"{type(exc).__name__} while {doing}: {exc}"
    if isinstance(exc, SyntaxError):
        message = f"SyntaxError while {doing}: {exc.msg}"
    return UserCodeError(message, location, details)


def pipelines_in(module: ModuleType) -> dict[str, Pipeline[Any, Any]]:
    """The pipelines a module defines (not those it imports), by variable name, in definition order."""
    found = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, Pipeline) and value.__module__ == module.__name__
    }
    return dict(sorted(found.items(), key=lambda kv: kv[1].defined_at.line if kv[1].defined_at else 0))


def load_pipeline(target: str) -> Pipeline[Any, Any]:
    """The pipeline ``target`` names. Raises :class:`TargetError` with advice when it names none."""
    spec, name = split_target(target)
    module = import_target_module(spec)
    if name is not None:
        value = getattr(module, name, None)
        if isinstance(value, Pipeline):
            return value
        by_pipeline_name = [p for p in pipelines_in(module).values() if p.name == name]
        if len(by_pipeline_name) == 1:
            return by_pipeline_name[0]
        known = ", ".join(pipelines_in(module)) or "none"
        what = "is not a pipeline" if value is not None else "is not defined"
        raise TargetError(f"{name!r} {what} in {spec} (pipelines there: {known})")
    found = pipelines_in(module)
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise TargetError(f"{spec} defines no pipeline (decorate a function with @ml.pipeline)")
    names = ", ".join(found)
    raise TargetError(f"{spec} defines {len(found)} pipelines ({names}); choose one with {spec}:NAME")


def raised_by_us(exc: BaseException) -> bool:
    """True when the traceback's innermost frame is mlopsdsl's own code: a bug of ours, not the user's."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    return bool(frames) and frames[-1][0].f_code.co_filename.startswith(_PACKAGE_DIR)


def build(pipeline: Pipeline[Any, Any]) -> Any:
    """``pipeline.build()``, with exceptions raised by the pipeline's own body reported at their line."""
    try:
        return pipeline.build()
    except MlopsDslError:
        raise
    except Exception as exc:
        if raised_by_us(exc):
            raise
        raise user_code_error(exc, f"building pipeline {pipeline.name!r}") from None
