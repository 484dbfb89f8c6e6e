"""The one :class:`typer.Typer` every command registers on, and the group class that runs them.

Typer 0.2x coerces each option's value through a pydantic ``TypeAdapter`` built the first time the option is
processed, whether or not it was given: for a hot command such as ``compile`` that was 20-30 ms of every
cold start, and pulled in pydantic's plugin discovery (a scan of every installed distribution). Our
options are nearly all text, for which that adapter returns the value unchanged, so :class:`Group` lets a
text value (and a missing one) through as it is and leaves every other value — a number, a choice, a
value whose type typer must check — to typer's own coercion, built on demand. What is accepted, and every
error message, stays typer's.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

import typer
from typer.core import TyperGroup

SETTINGS: dict[str, Any] = {
    "name": "mlopsdsl",
    "help": "Typed Python pipelines: run them locally, compile them for Kubeflow Pipelines or Argo "
    "Workflows.",
    "no_args_is_help": True,
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
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


app = typer.Typer(cls=Group, **SETTINGS)


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
