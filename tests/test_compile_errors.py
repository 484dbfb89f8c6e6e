"""Every compile error carries the user's file and line: a rule no raise site can break, and a corpus that
proves it end to end.

Two guards make an unlocated compile error impossible to write:

- ``CompileError``'s ``location`` is keyword-only with no default, so a raise without one fails mypy and
  fails when it runs; a scan of every ``CompileError(...)`` call in core and in the compilers checks that
  each passes ``location=`` and that it is not a bare ``None``.
- ``tests/refused/`` is a corpus of pipelines that pass validation and that one backend refuses. A file's
  header comments say ``# backend: NAME`` and, when needed, ``# args: ...`` (more CLI arguments, as shell
  words); the line at fault ends with ``# refused: <exact message>``. Each file is compiled by the CLI
  (``compile -o`` and ``validate --backend``: exit 2, ``file:line: [backend] message``, nothing written) and
  by ``ml.compile`` (the error's location is that file and line). Files are found by walking the folder.

Sites that validation keeps user code from reaching (an exit handler in a sub-pipeline, a stored
parameter, a NaN in a condition) are checked on IR documents edited by hand.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import math
import os
import shlex
import sys
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

import mlopsdsl as ml
from mlopsdsl import backends, ir
from mlopsdsl.cli import app
from mlopsdsl.cli._commands import compile_options
from mlopsdsl.errors import CompileError, Location

ROOT = Path(__file__).parent.parent
REFUSED = Path(__file__).parent / "refused"
SOURCES = [ROOT / "src" / "mlopsdsl", *sorted((ROOT / "compilers").glob("*/src"))]
MARK = "# refused: "

runner = CliRunner()


# --------------------------------------------------------------------------- the rule, statically


def _compile_error_calls() -> list[tuple[Path, ast.Call]]:
    calls = []
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                    if name == "CompileError":
                        calls.append((path, node))
    return calls


def test_every_compile_error_in_core_and_the_compilers_passes_a_location() -> None:
    calls = _compile_error_calls()
    # Both compilers and core are scanned (today: about fifty raise sites); an empty scan proves nothing.
    assert {p.relative_to(ROOT).parts[:2] for p, _ in calls} >= {
        ("compilers", "kfp"),
        ("compilers", "argo"),
        ("src", "mlopsdsl"),
    }
    assert len(calls) >= 40
    unlocated = []
    for path, call in calls:
        where = f"{path.relative_to(ROOT)}:{call.lineno}"
        keywords = {k.arg: k.value for k in call.keywords}
        if None in keywords or any(isinstance(a, ast.Starred) for a in call.args):
            unlocated.append(f"{where}: passes *args or **kwargs, so its location cannot be checked")
        elif "location" not in keywords:
            unlocated.append(f"{where}: no location=")
        elif isinstance(keywords["location"], ast.Constant) and keywords["location"].value is None:
            unlocated.append(f"{where}: location=None")
    assert not unlocated, "compile errors without the user's line:\n" + "\n".join(unlocated)


def test_a_compile_error_cannot_be_made_without_a_location() -> None:
    with pytest.raises(TypeError, match="location"):
        CompileError("no place", "kfp")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        CompileError("no place", "kfp", None)  # type: ignore[call-arg]


def test_a_compile_error_reads_file_line_backend_message() -> None:
    error = CompileError("it cannot", "argo", location=ir.SourceLocation(file="pkg/flow.py", line=12))
    assert error.location == Location("pkg/flow.py", 12)
    assert (error.backend, error.message) == ("argo", "[argo] it cannot")
    assert str(error) == "pkg/flow.py:12: [argo] it cannot"
    assert str(CompileError("x", "kfp", location=Location("a.py", 3))) == "a.py:3: [kfp] x"


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    path: Path
    backend: str
    args: tuple[str, ...]
    line: int
    message: str

    @property
    def expected(self) -> str:
        """The CLI's whole standard error, the path being the one the user gave (the bare file name)."""
        return f"{self.path.name}:{self.line}: [{self.backend}] {self.message}\n"


def _read_case(path: Path) -> Case:
    header: dict[str, str] = {}
    marks: list[tuple[int, str]] = []
    with path.open("rb") as f:
        for tok in tokenize.tokenize(f.readline):
            if tok.type != tokenize.COMMENT:
                continue
            if tok.string.startswith(MARK):
                marks.append((tok.start[0], tok.string.removeprefix(MARK).strip()))
            elif tok.start[1] == 0 and ":" in tok.string:
                key, _, value = tok.string.removeprefix("#").partition(":")
                header[key.strip()] = value.strip()
    assert len(marks) == 1, f"{path.name}: mark exactly one line with {MARK!r}"
    assert header.get("backend") in ("kfp", "argo"), f"{path.name}: say `# backend: kfp` or `# backend: argo`"
    line, message = marks[0]
    return Case(path, header["backend"], tuple(shlex.split(header.get("args", ""))), line, message)


CASES = [_read_case(p) for p in sorted(REFUSED.glob("refused_*.py"))]


@pytest.fixture(autouse=True)
def _isolated_modules(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Each test imports the user files afresh, and leaves no module of them behind (libraries they
    imported stay: cloudpickle, say, must not be loaded twice)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    users = (str(REFUSED), str(tmp_path_factory.getbasetemp()))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(users):
            sys.modules.pop(name, None)


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_corpus_covers_both_compilers() -> None:
    assert len(CASES) >= 8
    assert {c.backend for c in CASES} == {"kfp", "argo"}
    assert len({c.message for c in CASES}) == len(CASES), "two cases check the same refusal"


@pytest.mark.parametrize("case", CASES, ids=[c.path.stem for c in CASES])
def test_the_cli_points_at_the_line_and_writes_nothing(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REFUSED)
    target = tmp_path / "out.yaml"
    code, out, err = cli("compile", case.path.name, "--backend", case.backend, *case.args, "-o", str(target))
    assert code != 0, f"{case.path.name} compiled; if {case.backend} now supports it, move it to conformance"
    assert (code, err) == (2, case.expected)
    assert out == "" and not target.exists()

    if not case.args:  # validate takes no compile options; it reports what compile does, the same way
        code, out, err = cli("validate", case.path.name, "--backend", case.backend)
        assert (code, out, err) == (2, "", case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.path.stem for c in CASES])
def test_ml_compile_raises_at_the_line(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REFUSED)
    pipeline = _pipeline_in(_import(REFUSED, case.path.stem))
    options = _options(case.args)
    with pytest.raises(CompileError) as info:
        ml.compile(pipeline, backend=case.backend, **options)
    error = info.value
    assert error.backend == case.backend and error.message == f"[{case.backend}] {case.message}"
    assert error.location is not None and error.location.line == case.line
    assert error.location.file == case.path.name and os.path.samefile(error.location.file, case.path)


def _options(args: tuple[str, ...]) -> dict[str, Any]:
    """The CLI arguments of a case as ``ml.compile`` options."""
    named = {"--kind": "kind", "--schedule": "schedule"}
    values: dict[str, Any] = {"kind": None, "schedule": None}
    pairs: list[str] = []
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "-O":
            pairs.append(value)
        else:
            values[named[flag]] = value
    return compile_options(values["kind"], values["schedule"], pairs)


def _import(root: Path, name: str) -> ModuleType:
    sys.path.insert(0, str(root))
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def _pipeline_in(module: ModuleType) -> ml.Pipeline[..., Any]:
    found = [v for v in vars(module).values() if isinstance(v, ml.Pipeline)]
    assert len(found) == 1, f"{module.__name__} must define one pipeline"
    return found[0]


# --------------------------------------------------------------------------- the path the user sees


PACKAGED = """\
import mlopsdsl as ml


@ml.step
def count(n: int) -> int:
    return n


@ml.step
def show(n: int) -> str:
    return str(n)


@ml.pipeline
def flow(n: int = 1) -> str:
    rows = count(n=n)
    with ml.when(rows > 10**400):
        show(n=rows)
    return show(n=n)
"""


def test_the_path_is_the_one_validation_problems_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The IR's path is relative to the import root (``pkg/flow.py``); the CLI prints the path from the
    working directory (``project/pkg/flow.py``), which terminals and editors open, as it does for problems
    found by validation."""
    package = tmp_path / "project" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "flow.py").write_text(PACKAGED)
    broken = PACKAGED.replace("return show(n=n)", "return show(n=n, m=1)")
    (package / "broken.py").write_text(broken)
    monkeypatch.chdir(tmp_path)
    when_line = PACKAGED.splitlines().index("    with ml.when(rows > 10**400):") + 1
    last_line = len(PACKAGED.splitlines())

    code, _, err = cli("validate", "project/pkg/broken.py")
    assert code == 2 and err.startswith(f"project/pkg/broken.py:{last_line}: step 'show' has no input 'm'")

    old = tmp_path / "out.yaml"
    old.write_text("the last good output\n")
    code, _, err = cli("compile", "project/pkg/flow.py", "-b", "kfp", "-o", str(old))
    message = (
        "a condition compares with 100000000000...0000 (401 characters), beyond ±(2**53 - 1), which KFP "
        "(its numbers are 64-bit floats) cannot hold exactly; compare in a step"
    )
    expected = f"project/pkg/flow.py:{when_line}: [kfp] {message}\n"
    assert (code, err) == (2, expected)
    assert old.read_text() == "the last good output\n"
    assert cli("validate", "project/pkg/flow.py", "-b", "kfp") == (2, "", expected)
    # submit and publish compile before they send anything (nothing listens on port 9: no request is made)
    for command in ("submit", "publish"):
        assert cli(command, "project/pkg/flow.py", "-b", "kfp", "--host", "http://127.0.0.1:9") == (
            2,
            "",
            expected,
        )

    # The backend itself only knows the IR's path; ml.compile shows the user's, as the CLI does.
    pipeline = _pipeline_in(_import(tmp_path / "project", "pkg.flow"))
    with pytest.raises(CompileError) as info:
        backends.load("kfp").compile(pipeline.build())
    assert info.value.location == Location("pkg/flow.py", when_line)
    with pytest.raises(CompileError) as info:
        ml.compile(pipeline, backend="kfp")
    assert info.value.location == Location(os.path.join("project", "pkg", "flow.py"), when_line)


# --------------------------------------------------------------------------- sites validation guards


NESTED = """\
import mlopsdsl as ml


@ml.step
def double(n: int) -> int:
    return 2 * n


@ml.step
def notify(status: str) -> None:
    print(status)


@ml.pipeline
def inner(n: int = 1) -> int:
    return double(n=n)


@ml.pipeline
def outer(
    n: int = 1,
    flag: int = 0,
) -> int:
    twice = inner(n=n)
    with ml.when(flag > 0):
        double(n=twice)
    return twice
"""


@pytest.fixture
def nested(user_module: Any) -> ir.Document:
    pipeline = user_module(NESTED, "nested_flow").outer
    assert isinstance(pipeline, ml.Pipeline)
    return pipeline.build()


def _line(text: str) -> int:
    return NESTED.splitlines().index(text) + 1


@pytest.mark.parametrize("backend", ["kfp", "argo"])
def test_an_exit_handler_in_a_sub_pipeline_is_refused_at_its_definition(
    nested: ir.Document, backend: str
) -> None:
    """Validation reports this first (``nested-exit-handler``); the compilers keep their own check, located."""
    sub = next(p for p in nested.pipelines if p.name == "inner")
    handler = ir.Task(
        id="notify", step="notify", inputs={"status": ir.StatusBinding()}, location=sub.location
    )
    notify = dataclasses.replace(
        nested.steps[0], name="notify", inputs=[ir.Param(name="status", type=ir.TypeSpec(kind="str"))]
    )
    edited = dataclasses.replace(
        nested,
        pipelines=[dataclasses.replace(p, on_exit=handler) if p is sub else p for p in nested.pipelines],
        steps=[*nested.steps, notify],
    )
    with pytest.raises(CompileError, match="exit handler") as info:
        backends.load(backend).compile(edited)
    decorator = _line("def inner(n: int = 1) -> int:") - 1
    assert info.value.location == Location("nested_flow.py", decorator)


@pytest.mark.parametrize("backend", ["kfp", "argo"])
def test_a_stored_pipeline_parameter_is_refused_at_its_line(nested: ir.Document, backend: str) -> None:
    root = nested.pipeline
    stored = [
        dataclasses.replace(p, type=ir.TypeSpec(kind="object", name="pkg.Box")) if p.name == "flag" else p
        for p in root.params
    ]
    edited = dataclasses.replace(
        nested, pipelines=[dataclasses.replace(root, params=stored), *nested.pipelines[1:]]
    )
    with pytest.raises(CompileError, match="'flag'") as info:
        backends.load(backend).compile(edited)
    assert info.value.location == Location("nested_flow.py", _line("    flag: int = 0,"))


@pytest.mark.parametrize("backend", ["kfp", "argo"])
def test_a_condition_on_an_imported_artifact_parameter_compiles(nested: ir.Document, backend: str) -> None:
    from mlopsdsl.lowering import desugar

    root = nested.pipeline
    dataset = ir.TypeSpec(kind="artifact", name="Dataset")
    params = [
        dataclasses.replace(p, type=dataset, optional=False) if p.name == "flag" else p for p in root.params
    ]
    edited = dataclasses.replace(
        nested, pipelines=[dataclasses.replace(root, params=params), *nested.pipelines[1:]]
    )
    lowered = desugar(edited).pipeline
    ids = [t.id for t in lowered.tasks]
    assert ids[0] == "import-flag" and any(i.startswith("decide-") for i in ids)
    assert next(p for p in lowered.params if p.name == "flag").type.kind == "str"
    assert backends.load(backend).compile(edited)


@pytest.mark.parametrize("backend", ["kfp", "argo"])
def test_the_status_outside_the_exit_handler_is_refused_at_the_call(
    nested: ir.Document, backend: str
) -> None:
    root = nested.pipeline
    task = root.tasks[0]  # the call of the sub-pipeline: both compilers resolve its inputs as bindings
    tasks = [dataclasses.replace(task, inputs={"n": ir.StatusBinding()}), *root.tasks[1:]]
    edited = dataclasses.replace(
        nested, pipelines=[dataclasses.replace(root, tasks=tasks), *nested.pipelines[1:]]
    )
    with pytest.raises(CompileError, match="status") as info:
        backends.load(backend).compile(edited)
    assert info.value.location == Location("nested_flow.py", _line("    twice = inner(n=n)"))


def test_kfp_refuses_a_nan_in_a_condition_at_the_block(nested: ir.Document) -> None:
    """A NaN cannot be written in a pipeline (validation refuses the float); in an IR it still must not
    reach KFP, whose CEL has no NaN literal."""
    root = nested.pipeline
    group = root.groups[0]
    assert isinstance(group.condition, ir.Compare)
    condition = dataclasses.replace(group.condition, right=ir.ConstantBinding(value=math.nan))
    groups = [dataclasses.replace(group, condition=condition)]
    edited = dataclasses.replace(
        nested, pipelines=[dataclasses.replace(root, groups=groups), *nested.pipelines[1:]]
    )
    with pytest.raises(CompileError, match="a condition compares with nan, which KFP cannot hold") as info:
        backends.load("kfp").compile(edited)
    assert info.value.location == Location("nested_flow.py", _line("    with ml.when(flag > 0):"))
