"""Fuzzing: hostile ``-p`` values, ``-O`` option values, hostile strings in step options, and random
pipelines, each taken through compile, the backends' strict checks and (for some) an emulated run.

The promise checked is the same everywhere: an input is either refused with one of our errors (exit 2 at
the CLI) or it compiles to a document that passes the backend's strict checks and holds the value
exactly; never an unexpected exception. About 200 examples in CI (derandomized, so CI is repeatable);
``nox -s fuzz`` sets ``MLOPSDSL_FUZZ_SCALE`` for 1,000 and more, with fresh random examples.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mlopsdsl as ml
from mlopsdsl import backends
from mlopsdsl.errors import MlopsDslError

sys.path.insert(0, str(Path(__file__).parents[1] / "conformance"))
from random_pipelines import Statement, expected, pipeline_source, programs

SCALE = int(os.environ.get("MLOPSDSL_FUZZ_SCALE") or 1)
BACKENDS = ("kfp", "argo")


def fuzz(examples: int) -> Any:
    """``examples`` in CI (repeatable), ``examples * MLOPSDSL_FUZZ_SCALE`` random ones in ``nox -s fuzz``."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


HOSTILE = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(
        [
            "{{workflow.name}}",
            "$(HOME)",
            "$$",
            "\x00",
            "\r\n",
            "\u2028",
            "'; rm -rf /",
            '"quoted"',
            "${x}",
            "{{=sprig.b64enc('x')}}",
            "\udcff",
            "9" * 5000,
            "1e999",
            "NaN",
            "-0",
            "[" * 50,
            "{}",
            "null",
        ]
    ),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=6,
    ).map(json.dumps),
)


@ml.step
def echo(n: int, x: float, s: str, b: bool, xs: list[int], d: dict[str, int], o: int | None) -> str:
    return json.dumps([n, x, s, b, xs, d, o])


@ml.pipeline
def typed(
    n: int = 1,
    x: float = 0.5,
    s: str = "s",
    b: bool = False,
    xs: list[int] = [1],  # noqa: B006 - a pipeline default is data, never mutated
    d: dict[str, int] = {"a": 1},  # noqa: B006
    o: int | None = None,
) -> str:
    return echo(n=n, x=x, s=s, b=b, xs=xs, d=d, o=o)


def _compiled_ok(pipeline: Any, document: Any, backend: str, **options: Any) -> str | None:
    """The compiled text, checked strictly by its backend; ``None`` when it is refused with our error."""
    chosen = backends.load(backend)
    try:
        text = backends.compile_document(
            chosen, document, pipeline.locate, functions=pipeline.step_functions(), **options
        )
    except MlopsDslError:
        return None
    assert isinstance(chosen, backends.Validates)
    assert chosen.validate_compiled(text) == [], text[:2000]
    return text


@fuzz(80)
@given(name=st.sampled_from(["n", "x", "s", "b", "xs", "d", "o"]), text=HOSTILE)
def test_a_p_value_is_refused_or_compiled_exactly(name: str, text: str) -> None:
    from mlopsdsl._compile import parse_params, with_defaults
    from mlopsdsl._types import check_value

    document = typed.build()
    try:
        values = parse_params(document, [f"{name}={text}"], typed.locate)
    except MlopsDslError as exc:
        assert "\n" not in str(exc).strip() or len(str(exc)) > 0
        return
    param = next(p for p in document.pipeline.params if p.name == name)
    assert check_value(values[name], param.type, name) is None
    assert json.loads(json.dumps(values[name], allow_nan=False)) == values[name]
    if param.type.kind == "str":
        assert values[name] == text  # strings are taken as they are
    applied = with_defaults(document, values, typed.locate)
    for backend in BACKENDS:
        compiled = _compiled_ok(typed, applied, backend)
        if compiled is not None and backend == "kfp":
            defaults = next(yaml.safe_load_all(compiled))["root"]["inputDefinitions"]["parameters"]
            default = defaults[name].get("defaultValue")
            if param.type.kind in ("str", "int", "bool"):
                assert default == values[name]  # exact: no float rounding, no newline translation


OPTION_NAMES = st.sampled_from(
    ["image", "code", "cache", "cache_root", "kind", "schedule", "service_account", "artifact_bucket", "zzz"]
)


@fuzz(40)
@given(backend=st.sampled_from(BACKENDS), name=OPTION_NAMES, text=HOSTILE)
@example(backend="argo", name="image", text="0.1")  # found by fuzzing: an internal error (exit 3)
@example(backend="kfp", name="image", text="\udcff")  # found by fuzzing: UnicodeEncodeError (exit 3)
@example(backend="kfp", name="image", text="9" * 5000)  # found by fuzzing: int's digit limit (exit 3)
def test_an_option_value_is_refused_or_compiled_cleanly(backend: str, name: str, text: str) -> None:
    from mlopsdsl.cli._commands import compile_options

    try:
        options = compile_options(None, None, [f"{name}={text}"])
    except MlopsDslError:
        return
    _compiled_ok(typed, typed.build(), backend, **options)


FIELDS = ("env", "labels", "annotations", "image", "node_selector", "secret", "description")


@fuzz(50)
@given(field=st.sampled_from(FIELDS), text=HOSTILE)
@example(field="description", text="\udcff")  # found by fuzzing: UnicodeEncodeError in KFP (exit 3)
def test_a_hostile_string_in_a_step_option_is_refused_or_kept_exactly(field: str, text: str) -> None:
    options: dict[str, Any] = {
        "env": {"env": {"VALUE": text}},
        "labels": {"labels": {"team": text}},
        "annotations": {"annotations": {"note": text}},
        "image": {"image": text},
        "node_selector": {"node_selector": {"pool": text}},
        "secret": {},
        "description": {},
    }[field]
    try:
        if field == "secret":
            options = {"secrets": [ml.Secret(name=text, key="k", env="K")]}

        @ml.step(**options)
        def hostile(n: int) -> int:
            return n

        @ml.pipeline(description=text if field == "description" else None)
        def p(n: int = 1) -> int:
            return hostile(n=n)

        document = p.build()
    except (MlopsDslError, ValueError):
        return
    for backend in BACKENDS:
        _compiled_ok(p, document, backend)


@fuzz(25)
@given(program=programs(max_statements=5))
def test_a_random_pipeline_compiles_to_documents_that_pass_the_strict_checks(
    program: list[Statement], tmp_path_factory: pytest.TempPathFactory
) -> None:
    pipeline, name = _load(program, tmp_path_factory.mktemp("fuzz"))
    try:
        document = pipeline.build()
        assert pipeline.problems() == []
        for backend in BACKENDS:
            _compiled_ok(pipeline, document, backend)
    finally:
        sys.modules.pop(name, None)


@fuzz(5)
@given(program=programs(max_statements=4), seed=st.integers(-2, 4))
def test_a_random_pipeline_runs_on_the_argo_emulator_as_plain_python_says(
    program: list[Statement], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from mlopsdsl.testing import run_argo

    folder = tmp_path_factory.mktemp("fuzz-run")
    pipeline, name = _load(program, folder)
    try:
        text = ml.compile(pipeline, backend="argo", functions=pipeline.step_functions())
        run = run_argo(text, {"seed": seed}, workdir=folder / "argo")
        assert run.status == "Succeeded", run.logs
        assert run.outputs == {"output": expected(program, seed)}
    finally:
        sys.modules.pop(name, None)


def _load(program: list[Statement], folder: Path) -> tuple[Any, str]:
    import importlib.util

    name = f"fuzz_{abs(hash(tuple(program)))}"
    path = folder / f"{name}.py"
    path.write_text(pipeline_source(program))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.random_pipeline, name
