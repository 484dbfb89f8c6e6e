"""The typer command line, built from the commands' declarations (``_decl``) when it is needed: for help,
for a usage error, for ``mlopsdsl`` alone and the ``runs`` group, for ``mlopsdsl.cli.app`` (the tests' and
the docs'), and for every command line the quick reader (``_fast``) declines. Typer reads each command's
signature and type hints; :func:`typed` gives it the same function with each ``Option``/``Argument`` record
replaced by the ``typer.Option``/``typer.Argument`` it stands for, so the help, the option names, the
errors and the exit codes are typer's, from the one declaration.

Typer 0.2x coerces each option's value through a pydantic ``TypeAdapter`` built the first time the option is
processed, whether or not it was given: for a hot command such as ``compile`` that was 20-30 ms of every
cold start, and pulled in pydantic's plugin discovery (a scan of every installed distribution). Our
options are nearly all text, for which that adapter returns the value unchanged, so :class:`Group` lets a
text value (and a missing one) through as it is and leaves every other value — a number, a choice, a
value whose type typer must check — to typer's own coercion, built on demand. What is accepted, and every
error message, stays typer's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import typer
from typer.core import TyperGroup

from mlopsdsl.cli import _decl

GROUP_SETTINGS: dict[str, Any] = {
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
}
"""How every typer group of ours behaves: the command line's, and each of its groups (``runs``)."""

SETTINGS: dict[str, Any] = {
    "name": "mlopsdsl",
    "help": "Typed Python pipelines: run them locally, compile them for Kubeflow Pipelines or Argo "
    "Workflows.",
    **GROUP_SETTINGS,
}


class Group(TyperGroup):
    """Typer's group, with the invoked command's value coercion built only for the values that need it."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        defer_coercion(self.get_params(ctx))
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            # With its --help option, which its context would otherwise make (same names: inherited).
            defer_coercion(command.get_params(ctx))
        return name, command, rest


def typed(function: Callable[..., Any], call: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """``function`` as typer is to read it: the same name, help and parameters, each declaration record in
    its annotations replaced by the typer object it stands for. Calling it calls ``call`` (the tests' stand-in
    that records what typer passes), or ``function`` itself."""
    hints = get_type_hints(function, include_extras=True)
    signature = inspect.signature(function)
    parameters = []
    for parameter in signature.parameters.values():
        annotation = hints.get(parameter.name, parameter.annotation)
        if get_origin(annotation) is Annotated:
            base, *extras = get_args(annotation)
            annotation = Annotated[(base, *(_typer_object(extra) for extra in extras))]
        parameters.append(parameter.replace(annotation=annotation))
    target = call or function

    def run(**kwargs: Any) -> Any:
        return target(**kwargs)

    functools.update_wrapper(run, function)
    run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


def _typer_object(extra: Any) -> Any:
    make: Any  # typer.Option's overloads do not take a dict of settings
    if isinstance(extra, _decl.Option):
        make = typer.Option
        return make(*extra.param_decls, **extra.settings)
    if isinstance(extra, _decl.Argument):
        make = typer.Argument
        return make(**extra.settings)
    return extra


def one(command: _decl.Command) -> Group:
    """The same group as the whole command line's, holding only ``command``: its parsing, help and errors are
    the same, as typer builds them from the same declaration. (A group: a ``typer.Typer`` of one command
    called as it is would be that command alone, named after the program.)"""
    app = typer.Typer(cls=Group, **SETTINGS)
    app.command(command.name)(typed(command.function))
    group: Group = typer.main.get_group(app)  # type: ignore[assignment]
    return group


def whole() -> typer.Typer:
    """The whole command line, from every registered command and group (import their modules first)."""
    app = typer.Typer(cls=Group, **SETTINGS)
    groups = {name: typer.Typer(name=name, help=g.help, **GROUP_SETTINGS) for name, g in _decl.GROUPS.items()}
    for command in _decl.COMMANDS.values():
        into = app if command.group is None else groups[command.group]
        into.command(command.name)(typed(command.function))
    for sub in groups.values():
        app.add_typer(sub)
    return app


class _Deferred:
    """Stands in for typer's per-parameter coercion (its ``RuntimeParam``) until a value needs it."""

    def __init__(self, param: Any, base: Any) -> None:
        self._param = param
        self._base = base  # typer's RuntimeParam: its ``coerce`` handles a missing value, then calls ours
        self._built: Any = None
        descriptor = param.type_descriptor
        annotation = descriptor.annotation
        plain = (
            descriptor.parameter_info.parser is None
            and not descriptor.is_file
            and not descriptor.is_path
            and not descriptor.is_choice
        )
        self._text = plain and annotation is str
        self._texts = plain and get_origin(annotation) is list and get_args(annotation) == (str,)

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        return self._base.coerce(self, value, param=param, ctx=ctx)  # typer's own handling of None

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if self._text and type(value) is str:
            return value
        if self._texts and type(value) in (tuple, list) and all(type(v) is str for v in value):
            return list(value)
        if self._built is None:
            from typer._coercion import build_runtime_param

            self._built = build_runtime_param(self._param.type_descriptor)
        return self._built._coerce_value(value, param=param, ctx=ctx)


def defer_coercion(params: list[Any]) -> None:
    """Give each typer parameter in ``params`` a :class:`_Deferred` coercion, where this typer has the
    per-parameter coercion it replaces (typer 0.2x; older ones coerce through click and are left alone)."""
    try:
        from typer._coercion import RuntimeParam
    except ImportError:  # pragma: no cover - a typer without pydantic coercion: nothing to defer
        return
    for param in params:
        if (
            getattr(param, "_runtime_param", False) is None
            and hasattr(param, "type_descriptor")
            and hasattr(type(param), "get_runtime_param")
        ):
            param._runtime_param = _Deferred(param, RuntimeParam)
