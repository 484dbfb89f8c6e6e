"""A digest of a step's code that changes when anything the step runs changes.

Hashing only the function's own source misses the most common edit: a change to a helper it calls. So the
digest walks every global name the function's bytecode reads (nested functions and comprehensions
included), and folds in the source of the functions and classes it reaches that belong to the user's code,
recursively, plus the value of simple constants and closure cells. Code that belongs to installed packages
or the standard library is identified by its import path, not hashed: upgrading a package is the image's
business. Moving a function to another line changes nothing.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import linecache
import marshal
import os
import sys
import sysconfig
import types
from collections.abc import Callable
from functools import cache
from typing import Any

_SIMPLE = (int, float, str, bytes, bool, type(None), complex)


@cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {os.path.dirname(os.__file__)}
    return tuple(os.path.normcase(os.path.abspath(r)) + os.sep for r in roots)


def _is_user_code(obj: Any) -> bool:
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    if module is None:
        return False
    if getattr(obj, "__module__", "") == "__main__":
        return True
    filename = getattr(module, "__file__", None)
    if not filename:
        return False
    norm = os.path.normcase(os.path.abspath(filename))
    return not norm.startswith(_library_roots())


def _source_or_code(obj: Any) -> bytes:
    code = getattr(obj, "__code__", None)
    if code is not None:
        # A notebook or a long-lived process may have edited and re-imported the file since linecache
        # read it; stale source would give a stale digest.
        linecache.checkcache(code.co_filename)
    try:
        return inspect.getsource(obj).encode()
    except (OSError, TypeError):
        if code is not None:
            return marshal.dumps(code.co_code) + repr(_consts(code)).encode()
        return repr(obj).encode()


def _consts(code: types.CodeType) -> list[Any]:
    out: list[Any] = []
    for const in code.co_consts:
        out.append(_consts(const) if isinstance(const, types.CodeType) else const)
    return out


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _container_text(value: Any) -> str:
    """Plain data held in a module-level container (a config dict, a list of labels) by value."""
    try:
        return json.dumps(value, sort_keys=True, default=_unjsonable)
    except (TypeError, ValueError):
        return f"value:{type(value).__qualname__}"


def _unjsonable(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=repr) if not isinstance(value, tuple) else list(value)
    raise TypeError


def code_digest(fn: Callable[..., Any]) -> str:
    """sha256 over ``fn``'s source and the user code and constants it reaches."""
    fn = inspect.unwrap(fn)
    hasher = hashlib.sha256()
    seen: set[int] = set()
    _fold(fn, hasher, seen, depth=0)
    return hasher.hexdigest()


def _fold(obj: Any, hasher: Any, seen: set[int], depth: int) -> None:
    if id(obj) in seen or depth > 50:
        return
    seen.add(id(obj))
    hasher.update(f"<{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}>".encode())
    hasher.update(_source_or_code(obj))
    if isinstance(obj, type):
        for member in vars(obj).values():
            target = getattr(member, "__func__", member)
            if inspect.isfunction(target):
                _fold_references(target, hasher, seen, depth)
        return
    if inspect.isfunction(obj):
        _fold_references(obj, hasher, seen, depth)


def _fold_references(fn: types.FunctionType, hasher: Any, seen: set[int], depth: int) -> None:
    refs: list[tuple[str, Any]] = []
    for name in sorted(_names(fn.__code__)):
        if name in fn.__globals__:
            refs.append((name, fn.__globals__[name]))
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
        try:
            refs.append((name, cell.cell_contents))
        except ValueError:  # an empty cell
            continue
    for name, value in refs:
        hasher.update(f"|{name}=".encode())
        _fold_value(value, hasher, seen, depth + 1)


def _fold_value(value: Any, hasher: Any, seen: set[int], depth: int) -> None:
    if isinstance(value, _SIMPLE):
        hasher.update(repr(value).encode())
    elif isinstance(value, tuple | frozenset) and all(isinstance(v, _SIMPLE) for v in value):
        hasher.update(repr(sorted(value, key=repr) if isinstance(value, frozenset) else value).encode())
    elif isinstance(value, types.ModuleType):
        hasher.update(f"module:{value.__name__}".encode())
    elif inspect.isfunction(value) or isinstance(value, type):
        if _is_user_code(value):
            _fold(value, hasher, seen, depth)
        else:
            hasher.update(f"lib:{getattr(value, '__module__', '')}.{value.__qualname__}".encode())
    elif hasattr(value, "__wrapped__") and callable(value):
        _fold_value(inspect.unwrap(value), hasher, seen, depth)
    elif isinstance(value, list | dict | set | tuple | frozenset):
        hasher.update(_container_text(value).encode())
    else:
        # Mutable or complex module-level values (dicts of config, instances) are part of the code a step
        # runs, but their repr may hold memory addresses; their type stands in for them.
        hasher.update(f"value:{type(value).__module__}.{type(value).__qualname__}".encode())
