"""Which top-level modules a step's code imports, found by the same walk that computes its code digest.

:mod:`mlopsdsl._code` walks every global a step's bytecode reads and recurses into the user's own
functions and classes to hash them. This walk follows the same edges but keeps, instead of a hash, the
modules that library code comes from: a module bound to a global (``import pandas as pd``), a library
function or class (``from sklearn.linear_model import Ridge``), the class of a library instance held in a
global or a closure cell, the base classes of the user's classes (``class Net(torch.nn.Module)``), and every
``import`` statement inside the user's functions. The types of the step's inputs and outputs count too:
a ``pandas.DataFrame`` output needs pandas where it is written and where it is read.

Only names are collected here; which distribution provides a module is :mod:`._dists`' job, so that this
walk stays as cheap as the digest's (no metadata is read for a step that imports nothing third-party).
"""

from __future__ import annotations

import dis
import inspect
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

from mlopsdsl._code import _is_user_code

__all__ = ["imported_modules", "type_modules"]

_MAX_DEPTH = 50


def imported_modules(fn: Callable[..., Any]) -> set[str]:
    """The top-level names of every non-user module ``fn`` and the user code it reaches import or use."""
    found: set[str] = set()
    _walk(inspect.unwrap(fn), found, set(), 0)
    return found


def type_modules(type_names: Iterable[str]) -> set[str]:
    """The top-level modules of the classes the IR names as input and output types (``pandas.core...``),
    with the modules the user's own classes among them reach (a pydantic model of the user's: pydantic)."""
    found: set[str] = set()
    seen: set[int] = set()
    for name in type_names:
        cls = _resolve(name)
        if cls is None:
            top = name.split(".", 1)[0]
            if top and top.isidentifier():
                found.add(top)
            continue
        _value(cls, found, seen, 0)
    return found


def _resolve(path: str) -> Any:
    """The object an import path names among the modules already loaded, or ``None``."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj: Any = module
        for part in parts[cut:]:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj
    return None


def _top(module: str | None) -> str | None:
    if not module or module.startswith(("__", ".")):
        return None
    return module.split(".", 1)[0]


def _walk(obj: Any, found: set[str], seen: set[int], depth: int) -> None:
    if id(obj) in seen or depth > _MAX_DEPTH:
        return
    seen.add(id(obj))
    if isinstance(obj, type):
        for base in obj.__mro__[1:]:
            _value(base, found, seen, depth + 1)
        for member in vars(obj).values():
            target = getattr(member, "__func__", member)
            if isinstance(target, property):
                target = target.fget
            if inspect.isfunction(target):
                _walk(target, found, seen, depth + 1)
        return
    if not inspect.isfunction(obj):
        return
    code = obj.__code__
    _imports(code, found)
    names = _names(code)
    for name in sorted(names):
        if name in obj.__globals__:
            _value(obj.__globals__[name], found, seen, depth + 1)
    for cell in obj.__closure__ or ():
        try:
            _value(cell.cell_contents, found, seen, depth + 1)
        except ValueError:  # an empty cell
            continue


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _imports(code: types.CodeType, found: set[str]) -> None:
    """Absolute ``import`` statements inside a function (``import torch`` in the body). Relative ones
    name the user's own package, which ships with the code."""
    # ``import x`` is LOAD_CONST level, LOAD_CONST fromlist, IMPORT_NAME x: the level is two constants back.
    consts: list[Any] = [None, None]
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_CONST":
            consts = [consts[1], instruction.argval]
        elif instruction.opname == "IMPORT_NAME" and consts[0] == 0:
            top = _top(str(instruction.argval))
            if top is not None:
                found.add(top)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _imports(const, found)


def _value(value: Any, found: set[str], seen: set[int], depth: int) -> None:
    if isinstance(value, types.ModuleType):
        if not _is_user_module(value):
            top = _top(value.__name__)
            if top is not None:
                found.add(top)
        return
    if inspect.isfunction(value) or isinstance(value, type):
        if _is_user_code(value):
            _walk(value, found, seen, depth)
        else:
            top = _top(getattr(value, "__module__", None))
            if top is not None:
                found.add(top)
        return
    if hasattr(value, "__wrapped__") and callable(value):
        _value(inspect.unwrap(value), found, seen, depth)
        return
    fn = getattr(value, "fn", None)
    if type(value).__module__ == "mlopsdsl._step" and fn is not None:
        _value(fn, found, seen, depth)  # a step called from a helper: its function's needs
        return
    cls = type(value)
    if cls.__module__ != "builtins":
        _value(cls, found, seen, depth)  # an instance (a model, a config object): its class


def _is_user_module(module: types.ModuleType) -> bool:
    holder = types.SimpleNamespace(__module__=module.__name__)
    return _is_user_code(holder)
