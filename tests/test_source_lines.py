"""Where each parameter of a function is written (:func:`mlopsdsl._source.parameter_lines`): read from the
signature alone, as the whole function's source would place it, for the shapes a signature can take."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import source_cases as cases

from mlopsdsl import _source


def from_whole_source(fn: Callable[..., Any]) -> dict[str, int]:
    """The reference: the same lines found by parsing the function's whole source."""
    source, first = inspect.getsourcelines(fn)
    node = next(
        n
        for n in ast.walk(ast.parse(textwrap.dedent("".join(source))))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a)]
    lines = {a.arg: first + a.lineno - 1 for a in every}
    if node.returns is not None:
        lines["return"] = first + node.returns.lineno - 1
    return lines


@pytest.mark.parametrize(
    "fn",
    [cases.K.f, cases.K.g, cases.K.h, cases.one, cases.two],
    ids=["multi-line", "async-method", "decorated-wrapped-annotation", "one-liner", "every-kind"],
)
def test_each_parameter_is_on_the_line_the_whole_source_puts_it(fn: Callable[..., Any]) -> None:
    found = _source.parameter_lines(fn)
    assert found == from_whole_source(fn)
    assert found  # not the empty answer for a function whose source is there


def test_a_function_without_source_has_no_lines() -> None:
    namespace: dict[str, Any] = {}
    exec("def made(x): return x", namespace)
    assert _source.parameter_lines(namespace["made"]) == {}
    assert _source.parameter_lines(len) == {}
