"""The quick reader of a hot command's command line (``mlopsdsl.cli._fast``) against typer.

Whatever the reader accepts, typer must read the same way: each command function is replaced by a recorder
(same signature, same declaration), and the keyword arguments typer passes it must be those the reader
gives, value and type. Every command line, accepted or not, must give the same exit code and the same
output through ``main`` (the reader, or typer when it declines) as through the whole typer app. The command
lines are written by hand (the edge cases) and generated from the declarations by hypothesis (valid and
not). A cold compile, validate and run must not import typer at all.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mlopsdsl.cli
from mlopsdsl.cli import COMMAND_MODULES, _app, _decl, _fast
from mlopsdsl.cli._decl import Argument, Option

ROOT = Path(__file__).parent.parent
Q = str(ROOT / "examples" / "quickstart.py")  # never read: the commands are recorders
HOT = sorted(COMMAND_MODULES)
GENERATED = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

mlopsdsl.cli.app  # noqa: B018 - every command module imported, every command registered


@dataclass
class Recorded:
    """The registered commands replaced by recorders of their keyword arguments, which also print them (so
    that two ways of running a command line can be compared by their output alone)."""

    calls: list[dict[str, Any]]
    whole: Any  # the whole typer app, built from the recorders
    groups: dict[str, Any]  # each hot command's group, as `main` builds it when the reader declines


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    calls: list[dict[str, Any]] = []

    def recorder(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # the same signature and annotations: the same declaration
        def record(**kwargs: Any) -> None:
            calls.append(kwargs)
            print("called with", typed(kwargs))

        return record

    saved = dict(_decl.COMMANDS)
    for key, command in saved.items():
        _decl.COMMANDS[key] = _decl.Command(command.name, recorder(command.function), command.group)
    try:
        groups = {name: _app.one(_decl.COMMANDS[None, name]) for name in HOT}
        yield Recorded(calls, _app.whole(), groups)
    finally:
        _decl.COMMANDS.clear()
        _decl.COMMANDS.update(saved)


def typed(value: Any) -> Any:
    """A value with the type of each part, so that ``1 == 1.0 == True`` does not hide a difference."""
    if isinstance(value, dict):
        return sorted((k, typed(v)) for k, v in value.items())
    if isinstance(value, list):
        return (list, [typed(v) for v in value])
    return (type(value).__name__, value)


def typer_reads(recorded: Recorded, name: str, args: list[str]) -> dict[str, Any] | None:
    """What typer passes the command for ``args``, or ``None`` when it does not call it (help, an error)."""
    from typer._click.exceptions import ClickException

    recorded.calls.clear()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            recorded.groups[name].main([name, *args], prog_name="mlopsdsl", standalone_mode=False)
        except ClickException:
            return None
    assert len(recorded.calls) <= 1
    return recorded.calls[0] if recorded.calls else None


def outcome(recorded: Recorded, way: str, args: list[str]) -> tuple[Any, str, str]:
    """Exit code, standard output and standard error of ``mlopsdsl ARGS``, through ``main`` or the whole app."""
    out, err = io.StringIO(), io.StringIO()
    argv = mock.patch.object(sys, "argv", ["mlopsdsl", *args])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), argv:
        try:
            if way == "main":
                mlopsdsl.cli.main()
            else:
                recorded.whole(args)
            code: Any = 0
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def check(recorded: Recorded, name: str, args: list[str], token: str | None = None) -> dict[str, Any] | None:
    """The reader against typer for ``mlopsdsl NAME ARGS``, with ``$MLOPSDSL_TOKEN`` set to ``token`` (or
    unset); returns what the reader gave."""
    with mock.patch.dict(os.environ, {} if token is None else {"MLOPSDSL_TOKEN": token}):
        if token is None:
            os.environ.pop("MLOPSDSL_TOKEN", None)
        found = _fast.read(_decl.COMMANDS[None, name].function, args, os.environ)
        if found is not None:
            assert typed(typer_reads(recorded, name, args)) == typed(found), (name, args)
        line = [name, *args]
        assert outcome(recorded, "main", line) == outcome(recorded, "whole", line), line
    return found


# --------------------------------------------------------------------------- written by hand

DEFAULTS: dict[str, dict[str, Any]] = {
    "compile": {"backend": "ir", "output": None, "param": None, "kind": None, "schedule": None, "option": None,
                "image_repo": None},
    "validate": {"backend": None, "param": None, "option": None, "image_repo": None},
    "graph": {"format": "mermaid", "output": None},
    "backends": {},
    "run": {"param": None, "max_parallel": None, "no_cache": False, "in_process": False, "code": "value",
            "executor": None, "resume": None, "artifact_root": None, "pushgateway": None, "secret": None,
            "env_file": None, "inherit_env": False},
    "build": {"output": "build", "image_repo": None, "code": "value", "push": False, "hashes": True,
              "param": None},
    "submit": {"backend": "kfp", "param": None, "token": None, "namespace": None, "experiment": None,
               "run_name": None, "wait": False, "timeout": None, "no_cache": False, "option": None,
               "insecure": False},
    "publish": {"backend": "kfp", "token": None, "namespace": None, "version": None, "kind": None,
                "schedule": None, "option": None, "insecure": False},
    "logs": {"backend": "local", "home": None, "host": None, "token": None, "namespace": None,
             "insecure": False},
}  # fmt: skip
"""What each command gets for what is not given (as its signature says)."""

ACCEPTED: list[tuple[str, list[str], dict[str, Any]]] = [
    ("compile", [Q, "--backend", "ir", "-o", "out.json"], {"target": Q, "output": "out.json"}),
    (
        "compile",
        ["--backend=argo", "-p", "n=3", Q, "--param", "lr=0.5", "-O", "a=1", "--option=b=", "-o", "-"],
        {"target": Q, "backend": "argo", "output": "-", "param": ["n=3", "lr=0.5"], "option": ["a=1", "b="]},
    ),
    (
        "compile",
        [Q, "-b", "kfp", "-b", "argo", "--kind", "cron", "--schedule", "0 3 * * *", "--output="],
        {"target": Q, "backend": "argo", "output": "", "kind": "cron", "schedule": "0 3 * * *"},
    ),  # given twice, the last counts; given empty, empty
    ("validate", [Q], {"target": Q}),
    (
        "run",
        [Q, "-j", "4", "--no-cache", "--in-process", "--secret", "a.b=c", "--secret", "d.e=f"],
        {"target": Q, "max_parallel": 4, "no_cache": True, "in_process": True, "secret": ["a.b=c", "d.e=f"]},
    ),
    (
        "run",
        ["--max-parallel=12", Q, "--resume", "r-1", "--artifact-root", "s3://b/p", "--executor", "fork"],
        {"target": Q, "max_parallel": 12, "executor": "fork", "resume": "r-1", "artifact_root": "s3://b/p"},
    ),
    (
        "build",
        [Q, "--no-hashes", "--push", "-o", "ctx", "--hashes", "--no-hashes"],
        {"target": Q, "output": "ctx", "push": True, "hashes": False},
    ),
    (
        "submit",
        [Q, "--server", "http://h", "--timeout", "2.5", "--wait", "-n", "ns"],
        {"target": Q, "host": "http://h", "namespace": "ns", "wait": True, "timeout": 2.5},
    ),
    ("submit", [Q, "--host", "h", "--timeout", "3"], {"target": Q, "host": "h", "timeout": 3.0}),
    (
        "publish",
        [Q, "--host", "h", "--token", "t", "--version", "v1", "--insecure"],
        {"target": Q, "host": "h", "token": "t", "version": "v1", "insecure": True},
    ),
    ("logs", ["r-1", "train", "--home", "/tmp/h"], {"run_id": "r-1", "task": "train", "home": "/tmp/h"}),
    ("graph", [Q, "-f", "dot"], {"target": Q, "format": "dot"}),
    ("graph", ["-", "-o", "-"], {"target": "-", "output": "-"}),
    ("graph", [""], {"target": ""}),  # typer passes an empty one on
    (
        "graph",
        ["\udcff.py", "-o", "\u00e9.svg"],
        {"target": "\udcff.py", "output": "\u00e9.svg"},
    ),  # not UTF-8
    ("backends", [], {}),
]


@pytest.mark.parametrize(
    ("name", "args", "expected"), ACCEPTED, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(ACCEPTED)]
)
def test_well_formed_command_lines_are_read_as_typer_reads_them(
    recorded: Recorded, name: str, args: list[str], expected: dict[str, Any]
) -> None:
    found = check(recorded, name, args)
    assert found is not None, "declined"
    assert typed(found) == typed({**DEFAULTS[name], **expected})


def test_the_token_comes_from_the_environment_when_not_given(recorded: Recorded) -> None:
    def token(args: list[str], env: str) -> Any:
        found = check(recorded, "submit", [Q, "--host", "h", *args], token=env)
        assert found is not None
        return found["token"]

    assert token([], "from-env") == "from-env"
    assert token(["--token", "given"], "from-env") == "given"
    assert token(["--token="], "from-env") == ""  # given empty: given
    assert token([], "") is None  # set empty: not set, as typer has it


DECLINED: list[tuple[str, list[str]]] = [
    ("compile", []),  # a missing argument
    ("compile", [Q, "extra"]),  # one too many
    ("compile", ["--help"]),
    ("compile", [Q, "--help"]),
    ("compile", [Q, "-o", "--help"]),  # typer writes a file named --help: let it say so itself
    ("compile", [Q, "--bogus"]),
    ("compile", [Q, "--backen", "ir"]),  # typer suggests --backend
    ("compile", [Q, "-Z"]),
    ("compile", [Q, "-p"]),  # no value
    ("compile", [Q, "-o", "-x"]),  # a value that looks like an option
    ("compile", [Q, "-oout.json"]),  # a value stuck to a short option
    ("compile", [Q, "-o=out.json"]),  # typer reads "=out.json"
    ("compile", [Q, "--", "-o"]),
    ("compile", ["--", Q]),
    ("run", [Q, "-j", "0"]),  # below the minimum
    ("run", [Q, "-j", "many"]),
    ("run", [Q, "-j", "1.5"]),
    ("run", [Q, "-j", "+4"]),
    ("run", [Q, "-j", "04"]),
    ("run", [Q, "-j", "4_0"]),
    ("run", [Q, "-j", "\u0663"]),  # an Arabic-Indic three
    ("run", [Q, "-j", " 4"]),
    ("run", [Q, "-j", "1" * 30]),
    ("run", [Q, "-j4"]),
    ("run", [Q, "--max-parallel=-3"]),
    ("run", [Q, "--no-cache=1"]),  # a flag given a value
    ("build", [Q, "--hashes=no"]),
    ("build", [Q, "--no-hashes=1"]),
    ("submit", [Q]),  # a required option missing
    ("submit", [Q, "--host", "h", "--timeout", "1e3"]),
    ("submit", [Q, "--host", "h", "--timeout", "nan"]),
    ("submit", [Q, "--host", "h", "--timeout", ".5"]),
    ("logs", ["r-1"]),
    ("backends", ["x"]),
]


@pytest.mark.parametrize(("name", "args"), DECLINED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DECLINED)])
def test_anything_unusual_is_left_to_typer(recorded: Recorded, name: str, args: list[str]) -> None:
    assert check(recorded, name, args) is None


def test_a_declaration_beyond_the_reader_is_left_to_typer() -> None:
    def declared(x: Annotated[str, Argument()]) -> None:
        pass

    def path(x: Annotated[Path, Argument()]) -> None:
        pass

    def undeclared(x: str) -> None:
        pass

    def counted(v: Annotated[list[bool], Option("--v")] = []) -> None:  # noqa: B006
        pass

    def float_default(t: Annotated[float, Option("--t")] = 1) -> None:  # typer passes 1.0
        pass

    def own_name(x: Annotated[str, Option("name", "--x")] = "") -> None:
        pass

    assert _fast.read(declared, ["a"], {}) == {"x": "a"}
    for function in (path, undeclared, counted, float_default, own_name):
        assert _fast.reader(function) is None, function.__name__
    assert _fast.read(declared, ["a"], {"_MLOPSDSL_COMPLETE": "bash_complete"}) is None  # a shell completes


# --------------------------------------------------------------------------- generated from the declarations


@dataclass(frozen=True)
class Shape:
    """A command's parameters as typer made them from the declaration (not as the reader reads them)."""

    valued: list[str]  # the names of the options that take a value
    flags: list[str]
    arguments: int
    required: list[str]  # a name of each required option


@functools.cache
def shape(name: str) -> Shape:
    click_command = _app.one(_decl.COMMANDS[None, name]).commands[name]
    valued: list[str] = []
    flags: list[str] = []
    required: list[str] = []
    for param in click_command.params:
        if param.param_type_name == "option":
            names = [*param.opts, *param.secondary_opts]
            (flags if getattr(param, "is_flag", False) else valued).extend(names)
            if param.required:
                required.append(param.opts[0])
    arguments = sum(param.param_type_name == "argument" for param in click_command.params)
    return Shape(valued, flags, arguments, required)


PLAIN = ["x", "ir", "a=b", "n=3", "0", "1", "7", "12", "1.5", "2.0", "-", "", "a b", "é", "s3://b/p"]
ODD = ["-1", "+1", "1e3", " 2", "\u0663", "007", "1_0", "9" * 25, "nan", "inf", "true", "--help", "--", "-x"]
STRAY = ["--", "--help", "--bogus", "-Z", "--bogus=1", "-"]


@st.composite
def command_lines(draw: st.DrawFn, name: str) -> list[str]:
    """A command line of ``name``: its arguments, and options with values and flags in any order. Half are
    well formed (the right number of arguments, the required options, plain values), the others not quite:
    odd values, stray tokens, values stuck to an option, an argument too many or too few."""
    shape_ = shape(name)
    plain = st.sampled_from(PLAIN)
    odd = st.one_of(plain, st.sampled_from(ODD), st.text(max_size=3))
    well_formed = draw(st.booleans())
    pieces: list[st.SearchStrategy[list[str]]] = []
    if shape_.valued:
        named = st.sampled_from(shape_.valued)
        pieces.append(st.tuples(named, plain).map(list))
        pieces.append(
            st.tuples(named, plain).map(lambda p: [f"{p[0]}={p[1]}"]).filter(lambda t: t[0][1] == "-")
        )
        if not well_formed:
            pieces.append(st.tuples(named, odd).map(list))
            pieces.append(st.tuples(named, odd).map(lambda p: [f"{p[0]}={p[1]}"]))  # -o=x too
            pieces.append(st.tuples(named, odd).map(lambda p: [p[0] + p[1]]))  # -ovalue, --outputvalue
    if shape_.flags:
        pieces.append(st.sampled_from(shape_.flags).map(lambda f: [f]))
    if not well_formed:
        pieces.append(st.sampled_from(STRAY).map(lambda s: [s]))
        pieces.append(odd.map(lambda v: [v]))
    options = draw(st.lists(st.one_of(*pieces), max_size=6)) if pieces else []
    if well_formed:
        options += [[option, draw(plain)] for option in shape_.required]
    line = [token for piece in options for token in piece]
    count = shape_.arguments if well_formed else draw(st.integers(0, shape_.arguments + 1))
    for argument in draw(st.lists(plain, min_size=count, max_size=count)):
        line.insert(draw(st.integers(0, len(line))), argument)
    return line


@pytest.mark.parametrize("name", HOT)
@GENERATED
@given(data=st.data())
def test_generated_command_lines_agree_with_typer(recorded: Recorded, name: str, data: st.DataObject) -> None:
    args = data.draw(command_lines(name), label="args")
    token = data.draw(st.sampled_from([None, "", "t0k"]), label="MLOPSDSL_TOKEN")
    check(recorded, name, args, token)


# --------------------------------------------------------------------------- what a cold command loads

FLOW = """
import mlopsdsl as ml

@ml.step
def inc(x: int) -> int:
    return x + 1

@ml.pipeline
def flow(x: int = 1) -> int:
    return inc(x=inc(x=x))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["compile", "flow.py", "--backend", "ir", "-o", "out.json"],
        ["compile", "flow.py", "--backend", "argo", "-o", "-"],
        ["validate", "flow.py"],
        ["run", "flow.py", "--no-cache"],
    ],
    ids=lambda args: "-".join(args[:3:2]),
)
def test_a_cold_hot_command_does_not_import_typer(args: list[str], tmp_path: Path) -> None:
    """Through the installed console script, as a user runs it; ``-X importtime`` lists every module the
    process imported (this interpreter's site hooks included)."""
    (tmp_path / "flow.py").write_text(FLOW)
    exe = Path(sys.executable).with_name("mlopsdsl")
    env = {**os.environ, "MLOPSDSL_HOME": str(tmp_path / ".mlopsdsl")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(exe), *args],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "mlopsdsl.cli._fast" in imported  # the quick reader read it
    assert not {m for m in imported if m.split(".")[0] in ("typer", "click") or m == "mlopsdsl.cli._app"}
    if args[0] == "run":
        assert result.stdout.strip() == "output: 3"
