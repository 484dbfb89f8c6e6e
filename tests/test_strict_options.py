"""Strict options: a misspelled or unknown keyword is an error at the user's line, never silently dropped.

Covers ``@ml.step``, ``@ml.pipeline``, ``.map(...)`` and every option type, the "did you mean" wording, the
command line's ``file:line: message`` and exit 2, and that the typing overloads name exactly the keywords
the decorators accept at run time.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import textwrap
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl import _pipeline, _step, options
from mlopsdsl._keywords import closest, unknown_keywords
from mlopsdsl.cli import app

OPTION_TYPES = [
    getattr(options, name) for name in options.__all__ if name[0].isupper() and name != "OptionError"
]


def _line_of(fragment: str, fn: Callable[..., Any]) -> int:
    """The line of ``fn``'s source that holds ``fragment``."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if fragment in line)


# --------------------------------------------------------------------------- the wording


def test_a_close_name_is_suggested() -> None:
    assert unknown_keywords(["retries"], _step.OPTIONS) == "unknown option 'retries'; did you mean 'retry'?"
    assert closest("resource", _step.OPTIONS) == "resources"
    assert closest("Timout", _step.OPTIONS) == "timeout"  # case does not hide a misspelling


def test_without_a_close_name_every_name_is_listed() -> None:
    assert unknown_keywords(["colour"], ["b", "a"]) == "unknown option 'colour'; the options are a, b"
    assert unknown_keywords(["zz", "ax"], ["a", "b"], noun="argument") == (
        "unknown arguments 'zz' and 'ax' (did you mean 'a'?); the arguments are a, b"
    )


def test_known_keywords_are_no_problem() -> None:
    assert unknown_keywords(["retry", "image"], _step.OPTIONS) is None
    assert unknown_keywords([], []) is None


# --------------------------------------------------------------------------- decorators


def test_unknown_step_option_raises_at_the_decorator_line() -> None:
    def define() -> None:
        @ml.step(retries=3)  # type: ignore[call-overload,untyped-decorator]
        def train() -> float:
            return 0.9

    with pytest.raises(ml.DefinitionError) as info:
        define()
    assert info.value.message == "@ml.step(...): unknown option 'retries'; did you mean 'retry'?"
    assert info.value.location is not None
    assert info.value.location.file.endswith("test_strict_options.py")
    assert info.value.location.line == _line_of("@ml.step(retries", define)


def test_every_unknown_step_option_is_named_in_one_message() -> None:
    with pytest.raises(ml.DefinitionError) as info:
        ml.step(resource=ml.Resources(cpu="1"), timout="5m", colour="red")  # type: ignore[call-overload]
    assert info.value.message == (
        "@ml.step(...): unknown options 'resource' (did you mean 'resources'?), 'timout' (did you mean "
        f"'timeout'?) and 'colour'; the options are {', '.join(sorted(_step.OPTIONS))}"
    )


@pytest.mark.parametrize("owner", ["StepOptions", "Kubernetes"])
def test_every_option_field_type_has_a_strict_check(owner: str) -> None:
    """The decorator checks each option by its IR field's type: every field's type is one the check knows
    (a new field of another type raises at once here, not a silent pass at a user's line), its default
    passes, and a value of the wrong kind is reported at the option."""
    from mlopsdsl import ir

    cls = getattr(ir, owner)
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for field in dataclasses.fields(cls):
        assert _step._strict_problems(getattr(defaults, field.name), hints[field.name], field.name) == []
        assert _step._strict_problems(object(), hints[field.name], field.name), field.name
    with pytest.raises(TypeError, match="no strict check"):
        _step._strict_problems(1, int | str, "mixed")
    with pytest.raises(TypeError, match="no strict check"):
        _step._strict_problems(1, typing.Literal[1], "literal")


def test_bare_step_still_works_and_every_known_option_is_accepted() -> None:
    values: dict[str, Any] = {
        "image": "python:3.11-slim",
        "packages": ["numpy"],
        "resources": ml.Resources(cpu="1"),
        "retry": ml.Retry(),
        "timeout": "1m",
        "cache": False,
        "cache_max_age": "7d",
        "cache_ignore": [],
        "env": {"A": "1"},
        "secrets": [ml.Secret(name="s", key="k")],
        "node_selector": {"pool": "cpu"},
        "tolerations": [ml.Toleration(key="gpu", operator="Exists")],
        "volumes": [ml.Volume(mount_path="/data", pvc="shared")],
        "labels": {"team": "ml"},
        "annotations": {"note": "x"},
        "pod": ml.Pod(service_account="trainer"),
    }
    assert set(values) | {"name"} == set(_step.OPTIONS)

    @ml.step(name="fit", **values)
    def train() -> float:
        return 0.9

    assert train.spec()[1] == []
    assert train() == 0.9


def test_unknown_pipeline_option_raises_at_the_decorator_line() -> None:
    def define() -> None:
        @ml.pipeline(nme="training")  # type: ignore[call-overload,untyped-decorator]
        def training() -> None:
            pass

    with pytest.raises(ml.DefinitionError) as info:
        define()
    assert str(info.value).endswith(": @ml.pipeline(...): unknown option 'nme'; did you mean 'name'?")
    assert info.value.location is not None
    assert info.value.location.line == _line_of("@ml.pipeline(nme", define)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ml.step(name=3), "@ml.step(...): name must be a string, not 3"),  # type: ignore[call-overload]
        (lambda: ml.pipeline(name=["a"]), "@ml.pipeline(...): name must be a string, not ['a']"),  # type: ignore[call-overload]
        (lambda: ml.pipeline(description=1), "@ml.pipeline(...): description must be a string, not 1"),  # type: ignore[call-overload]
        (
            lambda: ml.pipeline(schedule=3),
            "@ml.pipeline(...): schedule must be a cron string or ml.Schedule(...), not 3",
        ),  # type: ignore[call-overload]
        (
            lambda: ml.step("train"),  # type: ignore[call-overload]
            "@ml.step decorates functions, not 'train' (to name the step, write @ml.step(name='train'))",
        ),
        (
            lambda: ml.pipeline("p"),  # type: ignore[call-overload]
            "@ml.pipeline decorates functions, not 'p' (to name the pipeline, write @ml.pipeline(name='p'))",
        ),
        (lambda: ml.pipeline(3), "@ml.pipeline decorates functions, not 3"),  # type: ignore[call-overload]
    ],
)
def test_wrong_types_of_names_raise_at_the_users_line(make: Callable[[], object], message: str) -> None:
    """These used to escape as a pydantic ValidationError from the first build, with no location."""
    with pytest.raises(ml.DefinitionError) as info:
        make()
    assert info.value.message == message
    assert info.value.location is not None
    assert info.value.location.file.endswith("test_strict_options.py")
    assert info.value.location.line == make.__code__.co_firstlineno


def test_a_step_made_without_the_decorator_reports_unknown_options() -> None:
    def train() -> float:
        return 0.9

    step = ml.Step(train, None, {"retries": 3})
    messages = [p.message for p in step.spec()[1]]
    assert messages == ["step 'train': unknown option 'retries'; did you mean 'retry'?"]


# --------------------------------------------------------------------------- option types


@pytest.mark.parametrize("option", OPTION_TYPES, ids=lambda cls: cls.__name__)
def test_every_option_type_refuses_unknown_arguments(option: type) -> None:
    names = [f.name for f in dataclasses.fields(option)]
    first = names[0]
    with pytest.raises(ml.DefinitionError) as info:
        option(**{first + "x": 1})
    assert (
        info.value.message == f"{option.__name__}(...): unknown argument '{first}x'; did you mean '{first}'?"
    )
    with pytest.raises(ml.DefinitionError) as info:
        option(zzz=1)
    listed = ", ".join(sorted(names))
    assert info.value.message == f"{option.__name__}(...): unknown argument 'zzz'; the arguments are {listed}"
    assert info.value.location is not None and info.value.location.file.endswith("test_strict_options.py")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ml.Secret(name="s"), "Secret(...): missing required argument 'key'"),  # type: ignore[call-arg]
        (lambda: ml.Secret(), "Secret(...): missing required arguments 'name', 'key'"),  # type: ignore[call-arg]
        (lambda: ml.Secret("s", "k", name="t"), "Secret(...): got argument 'name' twice"),  # type: ignore[misc]
        (lambda: ml.Retry(1, 2, 3, 4, (), 6), "Retry(...): takes at most 5 arguments, but 6 were given"),  # type: ignore[call-arg]
        (
            lambda: ml.Volume(mount_path="/d", empty_dir="yes"),  # type: ignore[arg-type]
            "Volume(...): empty_dir must be True or False, not 'yes'",
        ),
        (
            lambda: ml.Volume(mount_path="/d", pvc="p", read_only=1),  # type: ignore[arg-type]
            "Volume(...): read_only must be True or False, not 1",
        ),
        (lambda: ml.Resources(gpu="1"), "Resources(...): gpu must be a whole number of at least 0, not '1'"),  # type: ignore[arg-type]
        (lambda: ml.Toleration(seconds="5"), "Toleration(...): seconds must be a whole number, not '5'"),  # type: ignore[arg-type]
        (lambda: ml.Secret(name=1, key="k"), "Secret(...): name must be a string, not 1"),  # type: ignore[arg-type]
    ],
)
def test_bad_calls_of_option_types_fail_at_the_users_line(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ml.DefinitionError) as info:
        make()
    assert info.value.message == message
    assert info.value.location is not None
    assert info.value.location.line == make.__code__.co_firstlineno


def test_option_types_still_take_positional_arguments_and_read_back_from_ir() -> None:
    from mlopsdsl import ir

    assert ml.Secret("db", "password").env == "PASSWORD"
    assert ml.Retry(2, "1s").backoff == 1.0  # type: ignore[arg-type]
    opts = ir.StepOptions(
        retry=ml.Retry(attempts=2),
        secrets=[ml.Secret(name="a", key="b")],
        kubernetes=ir.Kubernetes(volumes=[ml.Volume(mount_path="/x", pvc="p")]),
    )
    from pydantic import TypeAdapter

    assert TypeAdapter(ir.StepOptions).validate_json(json.dumps(ir.dump(opts))) == opts
    assert dataclasses.replace(ml.Retry(attempts=2), attempts=4).attempts == 4


# --------------------------------------------------------------------------- .map


def test_map_outside_a_pipeline_refuses_unknown_arguments() -> None:
    @ml.step
    def scale(x: int, factor: int = 2) -> int:
        return x * factor

    assert scale.map(x=[1, 2], max_parallel=2) == [2, 4]
    with pytest.raises(ml.DefinitionError) as info:
        scale.map(x=[1, 2], factr=3)
    assert info.value.message == "step 'scale'.map(): unknown argument 'factr'; did you mean 'factor'?"
    assert info.value.location is not None and info.value.location.file.endswith("test_strict_options.py")


def test_misspelled_map_option_inside_a_pipeline_is_reported_once() -> None:
    @ml.step
    def square(x: int) -> int:
        return x * x

    @ml.pipeline
    def squares(xs: list[int] = [1, 2]) -> list[int]:  # noqa: B006
        return square.map(x=xs, max_paralel=2)

    problems = squares.problems()
    assert [(p.code, p.message) for p in problems] == [
        ("unknown-option", "step 'square'.map(): unknown option 'max_paralel'; did you mean 'max_parallel'?")
    ]
    assert problems[0].location is not None
    assert problems[0].location.line == _line_of("max_paralel", squares.fn)


# --------------------------------------------------------------------------- typing and the CLI


def _keywords_of_overloads(fn: Callable[..., Any]) -> set[str]:
    names: set[str] = set()
    for overload in typing.get_overloads(fn):
        params = inspect.signature(overload).parameters.values()
        names |= {p.name for p in params if p.kind is p.KEYWORD_ONLY}
    return names


@pytest.mark.parametrize(
    ("decorator", "accepted"),
    [(ml.step, _step.OPTIONS), (ml.pipeline, _pipeline.OPTIONS)],
    ids=["step", "pipeline"],
)
def test_typing_overloads_name_exactly_the_accepted_options(
    decorator: Callable[..., Any], accepted: tuple[str, ...]
) -> None:
    """Editors complete from the overloads; the run time accepts OPTIONS. They must be the same names."""
    assert _keywords_of_overloads(decorator) == set(accepted)
    documented = inspect.getdoc(decorator) or ""
    for name in accepted:
        assert f"    {name}: " in documented, (
            f"the docstring of {decorator.__name__} does not document {name}"
        )


def test_cli_validate_prints_file_line_and_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the CLI puts the file's folder on sys.path
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    (tmp_path / "typo_flow.py").write_text(
        textwrap.dedent(
            """\
            import mlopsdsl as ml


            @ml.step(retry=ml.Retry(attempts=2), timout="5m")
            def train() -> float:
                return 0.9


            @ml.pipeline
            def training() -> float:
                return train()
            """
        )
    )
    result = CliRunner().invoke(app, ["validate", "typo_flow.py"])
    assert result.exit_code == 2, result.output
    assert (
        result.stderr == "typo_flow.py:4: @ml.step(...): unknown option 'timout'; did you mean 'timeout'?\n"
    )
    assert result.stdout == ""
    result = CliRunner().invoke(app, ["compile", "typo_flow.py", "-o", "out.json"])
    assert result.exit_code == 2
    assert not (tmp_path / "out.json").exists()
