"""``ml.compile``: build, validate, set parameter values, hand the IR to a backend, write the result."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mlopsdsl.errors import CompileError, Location, ParameterError

if TYPE_CHECKING:
    from mlopsdsl import ir
    from mlopsdsl._pipeline import Pipeline
    from mlopsdsl.backends import Backend


def compile(
    pipeline: Pipeline[..., Any],
    backend: str | Backend = "ir",
    output: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> str:
    """Compile a pipeline for a backend, and write it to ``output`` when given.

    Args:
        pipeline: An ``@ml.pipeline`` function.
        backend: A backend name (``"ir"``, ``"kfp"``, ``"argo"``) or a backend object.
        output: A file to write; written whole or not at all.
        params: New default values for pipeline parameters, checked against their types.
        **options: Backend-specific options (Argo: ``kind="cron"``, ``schedule="0 3 * * *"``).

    Returns:
        The compiled document, exactly as written.

    Raises:
        ValidationError: The pipeline has problems; all of them are listed.
        ParameterError: A value in ``params`` names no parameter or does not fit its type.
        PluginError: The backend is not installed or failed to load.
        CompileError: The backend cannot compile the pipeline (or an option); at the line at fault.
    """
    from mlopsdsl import backends
    from mlopsdsl._files import write_atomic

    document = pipeline.build()
    if params:
        document = with_defaults(document, params, pipeline.locate)
    chosen = backends.load(backend)
    options.setdefault("functions", pipeline.step_functions())
    with located(pipeline):
        text = backends.compile_document(chosen, document, pipeline.locate, **options)
    if output is not None and os.fspath(output) != "-":
        write_atomic(output, text)
    return text


Locate = Callable[["ir.SourceLocation | None"], "Location | None"]


@contextlib.contextmanager
def located(pipeline: Pipeline[..., Any]) -> Iterator[None]:
    """Compile errors raised inside, at the path the user sees (as validation problems are) instead of
    the IR's path relative to the import root, so that terminals and editors can jump to the line."""
    try:
        yield
    except CompileError as exc:
        exc.location = pipeline.locate(exc.location)
        raise


def _portable(where: ir.SourceLocation | None) -> Location | None:
    return Location(where.file, where.line) if where is not None else None


def with_defaults(
    document: ir.Document, values: Mapping[str, Any], locate: Locate = _portable
) -> ir.Document:
    """``document`` with new defaults for the root pipeline's parameters, and fresh digests.

    ``locate`` turns the IR's locations into the ones errors show (``Pipeline.locate``).
    """
    from mlopsdsl._types import check_value, to_json_value
    from mlopsdsl.artifacts import Artifact

    root = document.pipeline
    by_name = {p.name: p for p in root.params}
    params = list(root.params)
    for name, value in values.items():
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise ParameterError(f"pipeline {root.name!r} has no parameter {name!r} (parameters: {known})")
        param = by_name[name]
        if param.type.kind == "artifact" and isinstance(value, Artifact):  # ml.run(p, data=ml.Dataset(...))
            value = value.uri or value.path
        json_value, ok = to_json_value(value)
        problem = (
            check_value(json_value, param.type, f"parameter {name!r}") if ok else f"{value!r} is not JSON"
        )
        if problem:
            raise ParameterError(problem, locate(param.location))
        params[params.index(param)] = dataclasses.replace(param, optional=True, default=json_value)
    new_root = dataclasses.replace(root, params=params)
    return dataclasses.replace(document, pipelines=[new_root, *document.pipelines[1:]]).with_digests()


def parse_value(text: str, param: ir.Param, locate: Locate = _portable) -> Any:
    """A ``-p name=text`` value read by the parameter's type: strings as they are, the rest as JSON."""
    from mlopsdsl._types import check_value

    type_ = param.type
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes on the command line, or lone surrogates
        raise ParameterError(
            f"parameter {param.name!r}: the value is not valid UTF-8 text ({ascii(text)[:80]})",
            locate(param.location),
        ) from None
    inner = type_.items if type_.kind == "optional" and type_.items is not None else type_
    if inner.kind == "artifact":  # the URI of an existing artifact
        return text
    if inner.kind == "str" and not (type_.kind == "optional" and text in ("null", "None")):
        return text
    if inner.kind == "enum" and any(isinstance(v, str) and v == text for v in inner.values or []):
        return text
    aliases = {"True": True, "False": False, "None": None, "true": True, "false": False, "null": None}
    if text in aliases:
        value: Any = aliases[text]
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            shown = repr(text) if len(text) <= 200 else f"{text[:60]!r}... ({len(text)} characters)"
            raise ParameterError(
                f"parameter {param.name!r}: {shown} is not a valid {type_} (write it as JSON)",
                locate(param.location),
            ) from None
        except ValueError as exc:  # an integer longer than Python's conversion limit (4300 digits)
            raise ParameterError(f"parameter {param.name!r}: {exc}", locate(param.location)) from None
    problem = check_value(value, type_, f"parameter {param.name!r}")
    if problem:
        raise ParameterError(problem, locate(param.location))
    return value


def parse_params(document: ir.Document, pairs: list[str], locate: Locate = _portable) -> dict[str, Any]:
    """``["lr=0.2", "name=x"]`` as typed values for the root pipeline's parameters."""
    by_name = {p.name: p for p in document.pipeline.params}
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ParameterError(f"-p takes name=value, got {pair!r}")
        name = name.strip()
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise ParameterError(
                f"pipeline {document.root!r} has no parameter {name!r} (parameters: {known})"
            )
        values[name] = parse_value(text, by_name[name], locate)
    return values
