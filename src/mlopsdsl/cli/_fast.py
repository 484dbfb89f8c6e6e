"""The quick reader: a well-formed command line of a hot command, read without importing typer.

Importing typer takes ~100 ms on its own (it vendors click and coerces values through pydantic); in a cold
``mlopsdsl compile``, which loads much of the same standard library anyway, it was still ~9% of the
process's instructions, far more than reading ``compile FILE --backend ir -o out.json`` is worth.

:func:`read` reads the command line from the command's own declaration (``_decl``) the way typer's parser
reads it — positional arguments, ``--opt value``, ``--opt=value``, ``-o value``, a list option given again
and again, flags (``--x`` and the ``--x/--no-x`` pair), a value left out (the default), an environment
variable in place of a missing option, whole and decimal numbers within ``min``/``max`` — and returns exactly
the keyword arguments typer would pass to the command, or ``None``. ``None`` hands the whole command line to
typer, which then answers as it always did: help, every usage error and its message, and any value it reads
in a way of its own. So the reader declines anything unusual rather than guess: ``--help``, an unknown
option, a missing argument or required option, ``--``, a short option with more after it (``-ob``, ``-j4``,
``-o=x``), a value that looks like an option, a number written other than plainly (``+4``, ``1e3``, ``٣``),
a type or setting it does not know. ``tests/test_cli_quick.py`` checks it against typer on many command
lines, written and generated.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from types import NoneType, UnionType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from mlopsdsl.cli._decl import Argument, Option

KNOWN_SETTINGS = {"help", "show_envvar", "metavar", "hidden", "envvar", "min", "max"}
"""The record settings this reader understands; any other makes it decline the command (typer reads it)."""

_INT = re.compile(r"(?:0|[1-9][0-9]{0,17})\Z")
_FLOAT = re.compile(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?\Z")
_NAME = re.compile(r"(?:--[A-Za-z0-9][-A-Za-z0-9_]*|-[A-Za-z0-9])\Z")
_KINDS: dict[Any, str] = {str: "str", int: "int", float: "float", bool: "bool"}


class Param:
    """One parameter of a command, as typer reads it."""

    __slots__ = ("default", "envvar", "high", "kind", "low", "name", "required")

    def __init__(
        self,
        name: str,
        kind: str,  # "str", "int", "float", "bool" or "list" (a list of text)
        default: Any,
        required: bool,
        envvar: str | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.default = default
        self.required = required
        self.envvar = envvar
        self.low = low
        self.high = high


class Reader:
    """A command's parameters: its arguments in order, and each option name with what it does (``None``: it
    takes a value; ``True``/``False``: the flag it sets)."""

    __slots__ = ("arguments", "options", "params")

    def __init__(
        self,
        params: list[Param],
        arguments: list[Param],
        options: dict[str, tuple[Param, bool | None]],
    ) -> None:
        self.params = params
        self.arguments = arguments
        self.options = options


def read(
    function: Callable[..., Any], args: Sequence[str], environ: Mapping[str, str]
) -> dict[str, Any] | None:
    """The keyword arguments typer would call ``function`` with for ``args`` (the command line after the
    command's name), or ``None`` when typer is to read it."""
    import os

    if os.name == "nt":  # typer expands wildcards in the arguments there
        return None
    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in environ):  # a shell completes
        return None
    try:
        found = reader(function)
        return None if found is None else parse(found, args, environ)
    except Exception:  # a declaration this reader cannot follow: typer reads it, and says what is wrong
        return None


def reader(function: Callable[..., Any]) -> Reader | None:
    """How typer reads ``function``'s parameters, or ``None`` when a parameter is beyond this reader."""
    hints = get_type_hints(function, include_extras=True)
    params: list[Param] = []
    arguments: list[Param] = []
    options: dict[str, tuple[Param, bool | None]] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            return None
        annotation = hints.get(parameter.name)
        if get_origin(annotation) is not Annotated:
            return None  # typer would make its own option or argument of it: not ours to guess
        base, *extras = get_args(annotation)
        if len(extras) != 1 or not isinstance(extras[0], Option | Argument):
            return None
        record = extras[0]
        settings = record.settings
        kind = _kind(base)
        if kind is None or not set(settings) <= KNOWN_SETTINGS:
            return None
        required = parameter.default is parameter.empty
        default = None if required else parameter.default
        if not _plain_default(kind, default, required, settings):
            return None
        param = Param(
            parameter.name,
            kind,
            default,
            required,
            settings.get("envvar"),
            settings.get("min"),
            settings.get("max"),
        )
        if isinstance(record, Argument):
            if kind in ("bool", "list"):
                return None
            arguments.append(param)
        else:
            if param.envvar is not None and (kind in ("bool", "list") or not isinstance(param.envvar, str)):
                return None
            names = _option_names(record.param_decls, parameter.name, kind)
            if names is None:
                return None
            for name, const in names:
                if name in options:
                    return None
                options[name] = (param, const)
        params.append(param)
    return Reader(params, arguments, options)


def _kind(annotation: Any) -> str | None:
    """Typer's reading of the annotation (``T | None`` is ``T``), among the types this reader knows."""
    if get_origin(annotation) in (UnionType, Union):
        members = [a for a in get_args(annotation) if a is not NoneType]
        if len(members) != 1:
            return None
        annotation = members[0]
    if get_origin(annotation) is list:
        return "list" if get_args(annotation) == (str,) else None
    return _KINDS.get(annotation)


def _plain_default(kind: str, default: Any, required: bool, settings: Mapping[str, Any]) -> bool:
    """Whether typer passes the default on as it is (it coerces defaults too: a float option's default ``1``
    arrives as ``1.0``)."""
    if ("min" in settings or "max" in settings) and kind not in ("int", "float"):
        return False
    if required:
        return kind != "bool"
    if kind == "bool":
        return type(default) is bool
    if default is None:
        return True
    if (kind == "int" and type(default) is int) or (kind == "float" and type(default) is float):
        low, high = settings.get("min"), settings.get("max")
        return (low is None or default >= low) and (high is None or default <= high)
    return kind == "str" and type(default) is str


def _option_names(decls: Sequence[str], name: str, kind: str) -> list[tuple[str, bool | None]] | None:
    """Each name of the option with what it does, as typer splits the declarations (``--x/--no-x``)."""
    if not decls:
        flag = name.replace("_", "-")
        decls = [f"--{flag}/--no-{flag}" if kind == "bool" else f"--{flag}"]
    names: list[tuple[str, bool | None]] = []
    for decl in decls:
        pairs: list[tuple[str, bool | None]]
        if kind == "bool" and "/" in decl:
            first, _, second = decl.partition("/")
            pairs = [(first.strip(), True), (second.strip(), False)]
        else:
            pairs = [(decl, True if kind == "bool" else None)]
        for text, const in pairs:
            if not _NAME.match(text):  # a name of its own, another prefix, ``-xy``: typer reads it
                return None
            names.append((text, const))
    return names


def parse(reader: Reader, args: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """Read ``args`` as typer's parser does, or return ``None`` at the first thing that is not plain."""
    given: dict[str, Any] = {}
    positional: list[str] = []
    rest = list(args)
    rest.reverse()
    while rest:
        token = rest.pop()
        if token[:1] != "-" or token == "-":
            positional.append(token)
            continue
        name, sep, attached = token.partition("=")
        entry = reader.options.get(name)
        if entry is None or (sep and not name.startswith("--")):
            return None  # --help, --, an unknown option, -ob, -j4, -o=x
        param, const = entry
        if const is not None:
            if sep:
                return None  # a flag given a value: typer's error
            value: Any = const
        elif sep:
            value = attached
        else:
            if not rest or (rest[-1][:1] == "-" and len(rest[-1]) > 1):
                return None  # no value, or one that looks like an option (typer would take it: a slip)
            value = rest.pop()
        if param.kind == "list":
            given.setdefault(param.name, []).append(value)
        else:
            given[param.name] = value  # given again: the last one counts, as in typer
    if len(positional) > len(reader.arguments):
        return None
    given.update((param.name, text) for param, text in zip(reader.arguments, positional, strict=False))
    kwargs: dict[str, Any] = {}
    for param in reader.params:
        if param.name in given:
            value = given[param.name]
        elif param.envvar is not None and environ.get(param.envvar):  # typer: an empty one is not set
            value = environ[param.envvar]
        elif param.required:
            return None
        else:
            kwargs[param.name] = param.default
            continue
        if param.kind in ("int", "float"):
            value = _number(param, value)
            if value is None:
                return None
        kwargs[param.name] = value
    return kwargs


def _number(param: Param, text: str) -> int | float | None:
    """The number ``text`` plainly writes, within the parameter's bounds; ``None`` for anything else."""
    if not (_INT if param.kind == "int" else _FLOAT).match(text):
        return None
    value = int(text) if param.kind == "int" else float(text)
    if (param.low is not None and value < param.low) or (param.high is not None and value > param.high):
        return None
    return value
