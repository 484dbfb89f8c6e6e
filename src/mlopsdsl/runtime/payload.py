"""Making by-value code payloads: the producing side of the runtime's ``code`` contract.

The local runner and the compilers call :func:`pickle_function` to ship a step's function by value. Plain
cloudpickle pickles a function *by reference* when its module is importable, which breaks in an image that
does not contain the user's project; so the step's own module, and every module of the user's code it
reaches (helpers in sibling files included), is registered for pickling by value while the payload is
made. Installed packages and the standard library stay references: the image provides them. This module
runs where the pipeline is built, never inside a step, and (with :mod:`._pickler`) is the only part of the
runtime that imports cloudpickle eagerly.

A payload's bytes depend on the code alone (the pickler in :mod:`._pickler` lists what it makes canonical),
so compiled documents are byte-identical across processes, folders and hash seeds, and ``publish`` sees no
change where there is none.

Why pickled, and not the user's modules shipped as source files in an archive and imported in the pod,
with pickling only for code that has no file (which would make determinism hold by construction):
importing a module runs all of it, not just what the step uses. Every import at its top must succeed in
every step's image (the ``torch`` of the training step in the image of the step that reads a CSV), and
so must ``import mlopsdsl`` and its decorators, which the stdlib-only runtime bundle does not carry; its
side effects run in each pod (reading local files, a ``ml.run(...)`` at the bottom of a script), and its
constants are recomputed there instead of shipped as they were when the user compiled. And steps defined
in a notebook or in ``__main__``, or classes defined in a notebook cell, have no file to import, so the
pickled path, with every source of difference it has, would remain for them: two mechanisms with two
behaviours. One mechanism it is, made canonical: a payload carries exactly what its step reaches.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Callable
from typing import Any

import cloudpickle  # type: ignore[import-untyped]

from mlopsdsl._source import portable_path as source_path

from ._code import Shipped, python_version
from ._pickler import PayloadPickler, portable_tracker_ids
from .serializers import registrations

__all__ = ["pickle_function", "portable_path", "python_version", "user_modules"]

_LOCK = threading.Lock()


@functools.cache
def _library_roots() -> tuple[str, ...]:
    # Cached: sysconfig expands its path templates on every call, a third of the time a payload took.
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.add(os.path.dirname(os.__file__))
    return tuple(os.path.normcase(os.path.abspath(r)) + os.sep for r in roots)


def _is_user_module(name: str, roots: tuple[str, ...]) -> bool:
    if name == "__main__" or name.split(".")[0] in ("mlopsdsl", "cloudpickle"):
        return False
    module = sys.modules.get(name)
    filename = getattr(module, "__file__", None)
    if not filename:
        return False
    return not os.path.normcase(os.path.abspath(filename)).startswith(roots)


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def user_modules(fn: Callable[..., Any]) -> list[str]:
    """The modules of the user's code that ``fn`` reaches: its own, and those of the helpers it uses."""
    roots = _library_roots()
    found: set[str] = set()
    seen: set[int] = set()
    todo: list[Any] = [fn]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            if _is_user_module(obj.__name__, roots):
                found.add(obj.__name__)
            continue
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str) or not (module == "__main__" or _is_user_module(module, roots)):
            continue
        if module != "__main__":
            found.add(module)
        if isinstance(obj, types.FunctionType):
            globals_ = obj.__globals__
            todo.extend(globals_[n] for n in _names(obj.__code__) if n in globals_)
            for cell in obj.__closure__ or ():
                try:
                    todo.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    continue
        elif isinstance(obj, type):
            todo.extend(vars(obj).values())
        elif isinstance(obj, staticmethod | classmethod):
            todo.append(obj.__func__)
    return sorted(found)


def pickle_function(
    fn: Callable[..., Any], filename: Callable[[str], str] | None = None, portable: bool = False
) -> bytes:
    """``fn`` pickled by value, with the user's modules it reaches; loads on the same Python minor version.

    Serialisers registered with ``ml.register_serializer`` for the classes the function's annotations
    name (or their subclasses and bases) travel in the same payload, with the user's code their ``dump``,
    ``load`` and class use, and are registered in the step's process when it loads.

    The bytes depend on the code, not on the process: sets, pydantic's schema refs and the caches in
    class dicts are written in canonical forms (:mod:`mlopsdsl.runtime._pickler` lists them), so the same
    source pickles the same in every process and under every ``PYTHONHASHSEED``.

    Args:
        fn: The step's function.
        filename: Maps each source file name kept in the code objects (for the step's tracebacks) to
            the name to record. Kept as they are by default; relative to their import root with
            ``portable``.
        portable: Make the bytes the same wherever the project is, as compiled documents must: no absolute
            path (file names, module ``__file__`` values, recorded relative to the module's import root as
            the IR records source locations) and no random id (cloudpickle tags each class it ships with a
            ``uuid4``; here the tag is derived from the class's module and qualified name).
    """
    shipped = _relevant(registrations(), fn)
    reached = set(user_modules(fn))
    for item in shipped:
        parts: tuple[Any, ...] = (item.dump, item.load, item.type)
        for obj in parts:
            reached.update(user_modules(obj))
    with _LOCK:
        already = set(cloudpickle.list_registry_pickle_by_value())
        added = []
        for name in sorted(reached):
            if name not in already:
                cloudpickle.register_pickle_by_value(sys.modules[name])
                added.append(name)
        try:
            buffer = io.BytesIO()
            target: Any = _with_resolved_annotations(fn)
            fields = _dataclass_fields(target)
            if shipped or fields:
                target = Shipped(target, shipped, fields)
            names = filename or (_portable_names(reached) if portable else (lambda name: name))
            with portable_tracker_ids() if portable else contextlib.nullcontext():
                PayloadPickler(buffer, names, portable).dump(target)
            return buffer.getvalue()
        finally:
            for name in added:
                cloudpickle.unregister_pickle_by_value(sys.modules[name])


def portable_path(path: str) -> str:
    """``path`` relative to the ``sys.path`` entry it was imported from, so no absolute path is recorded."""
    if not os.path.isabs(path):
        return path
    best = ""
    for entry in sys.path:
        root = os.path.abspath(entry or os.curdir)
        if path.startswith(root + os.sep) and len(root) > len(best):
            best = root
    rel = os.path.relpath(path, best) if best else os.path.basename(path)
    return rel.replace(os.sep, "/")


def _portable_names(modules: set[str]) -> Callable[[str], str]:
    """File names as the IR records them: a user module's file relative to its import root (found from the
    module's name, so neither the working directory nor the order of ``sys.path`` matters), ``__main__``'s
    by its file name; other files (library code shipped by value) relative to their ``sys.path`` entry."""
    known: dict[str, str] = {}
    for name in (*modules, "__main__"):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            known[os.path.normcase(os.path.abspath(file))] = name

    def recorded(path: str) -> str:
        if not os.path.isabs(path):
            return path
        module = known.get(os.path.normcase(os.path.abspath(path)))
        return source_path(path, module) if module is not None else portable_path(path)

    return recorded


def _relevant(shipped: list[Any], fn: Callable[..., Any]) -> list[Any]:
    """The registrations for classes the function's annotations name (or their subclasses or bases).

    Only these travel, so that a payload does not depend on unrelated registrations made in the process.
    """
    if not shipped:
        return []
    import typing

    try:
        hints = typing.get_type_hints(inspect.unwrap(fn))
    except Exception:
        hints = dict(getattr(fn, "__annotations__", {}))
    named: set[type] = set()
    todo = list(hints.values())
    while todo:
        hint = todo.pop()
        if isinstance(hint, type) and hint is not object:
            named.add(hint)
        todo.extend(typing.get_args(hint))
    return [
        item
        for item in shipped
        if item.type is not None and any(issubclass(c, item.type) or issubclass(item.type, c) for c in named)
    ]


def _dataclass_fields(fn: Callable[..., Any]) -> list[tuple[type, dict[str, Any]]]:
    """The dataclasses the function's inputs name (inside lists, dicts, Optional and other dataclasses too)
    whose fields are annotated with strings, with those fields' types resolved here, where the names mean
    something. The runtime rebuilds inputs into these classes and needs the types, not their names."""
    annotations = getattr(fn, "__annotations__", None) or {}
    if not annotations:
        return []
    import dataclasses
    import typing

    found: list[tuple[type, dict[str, Any]]] = []
    seen: set[int] = set()
    todo = [a for a in annotations.values() if not isinstance(a, str)]
    while todo:
        hint = todo.pop(0)
        if id(hint) in seen:
            continue
        seen.add(id(hint))
        todo.extend(typing.get_args(hint))
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            continue
        try:
            hints = typing.get_type_hints(hint)
        except Exception:  # a name that does not resolve here either: that field stays JSON
            continue
        strings = {f.name: hints[f.name] for f in dataclasses.fields(hint) if isinstance(f.type, str)}
        if strings:
            found.append((hint, strings))
        todo.extend(hints.values())
    return found


def _with_resolved_annotations(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of ``fn`` whose string annotations (``from __future__ import annotations``) are the types
    they name, so that the classes travel with the payload and the runtime can rebuild inputs from them."""
    if not isinstance(fn, types.FunctionType) or not any(
        isinstance(a, str) for a in fn.__annotations__.values()
    ):
        return fn
    import typing

    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # a name that does not resolve: the runtime leaves that input as JSON
        return fn
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__qualname__ = fn.__qualname__
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    copy.__dict__.update(fn.__dict__)
    copy.__annotations__ = hints
    return copy
