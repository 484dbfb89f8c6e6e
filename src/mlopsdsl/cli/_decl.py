"""What each command is called and what it takes, declared without typer.

A command module declares each parameter as ``Annotated[T, Option(...)]`` or ``Annotated[T, Argument(...)]``
(the arguments of ``typer.Option`` and ``typer.Argument``, kept as given) and registers the function with
:func:`command`; importing it loads no typer. Two readers come from this one declaration: the typer command
line (``_app``, which turns each record into the typer object it stands for: help, usage errors, every
message about a malformed command line) and the quick reader of a well-formed one (``_fast``), which either
gives the keyword arguments typer would pass or declines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict, TypeVar, Unpack

F = TypeVar("F", bound=Callable[..., Any])


class OptionSettings(TypedDict, total=False):
    """The keyword arguments of ``typer.Option`` that our commands use. One more is one more thing the quick
    reader must understand: it declines a command whose records carry a setting it does not know."""

    help: str
    envvar: str
    show_envvar: bool
    metavar: str
    min: int | float
    max: int | float
    hidden: bool


class ArgumentSettings(TypedDict, total=False):
    """The keyword arguments of ``typer.Argument`` that our commands use."""

    help: str
    metavar: str
    hidden: bool


class Option:
    """``typer.Option(*param_decls, **settings)``, kept until typer is needed."""

    __slots__ = ("param_decls", "settings")

    def __init__(self, *param_decls: str, **settings: Unpack[OptionSettings]) -> None:
        self.param_decls = param_decls
        self.settings: dict[str, Any] = dict(settings)

    def __repr__(self) -> str:
        return f"Option{(*self.param_decls, *(f'{k}={v!r}' for k, v in self.settings.items()))}"


class Argument:
    """``typer.Argument(**settings)``, kept until typer is needed."""

    __slots__ = ("settings",)

    def __init__(self, **settings: Unpack[ArgumentSettings]) -> None:
        self.settings: dict[str, Any] = dict(settings)

    def __repr__(self) -> str:
        return f"Argument({', '.join(f'{k}={v!r}' for k, v in self.settings.items())})"


class Command:
    """A registered command: its name, its function (as the module defines it) and the group it is in.

    (A plain class, as the others here and in ``_fast``: a dataclass is ~0.5 ms to make at import, paid by
    every cold command.)"""

    __slots__ = ("function", "group", "name")

    def __init__(self, name: str, function: Callable[..., Any], group: str | None = None) -> None:
        self.name = name
        self.function = function
        self.group = group


class Group:
    """A group of commands (``mlopsdsl runs ...``)."""

    __slots__ = ("help", "name")

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help


COMMANDS: dict[tuple[str | None, str], Command] = {}
"""Every registered command by ``(group, name)``, in the order of registration (the order of the help)."""
GROUPS: dict[str, Group] = {}


def command(name: str, *, group: str | None = None) -> Callable[[F], F]:
    """Register the decorated function as the command ``name`` (of ``group``, when given)."""

    def register(function: F) -> F:
        COMMANDS[group, name] = Command(name, function, group)
        return function

    return register


def group(name: str, *, help: str) -> str:
    """Register a group of commands; returns its name, for :func:`command`'s ``group=``."""
    GROUPS[name] = Group(name, help)
    return name
