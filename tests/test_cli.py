"""The `mlopsdsl` command line: outputs, exit codes, and user errors as file:line without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlopsdsl.cli import app

ROOT = Path(__file__).parent.parent
QUICKSTART = str(ROOT / "examples" / "quickstart.py")

runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def shown(path: str) -> str:
    """How errors show a file: relative to the working directory when below it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def write(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


@pytest.fixture(autouse=True)
def _isolated_modules(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test imports user files afresh. Only the users' modules are forgotten: a library dropped from
    ``sys.modules`` (cloudpickle, say) would be loaded twice, and pickling by value would then fail in
    whichever test runs next in this process."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    users = (str(tmp_path_factory.getbasetemp()), str(ROOT / "examples"))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(users):
            sys.modules.pop(name, None)


def test_compile_ir_to_stdout_is_the_ir() -> None:
    code, out, err = cli("compile", QUICKSTART)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["root"] == "quickstart" and [t["id"] for t in doc["pipelines"][0]["tasks"]] == [
        "load",
        "fit",
        "report",
    ]


def test_compile_with_params_and_output_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, out, err = cli("compile", QUICKSTART, "-p", "n=7", "--param", "lr=0.5", "-o", str(target))
    assert code == 0, err
    assert out == "" and f"wrote {target}" in err
    params = {p["name"]: p["default"] for p in json.loads(target.read_text())["pipelines"][0]["params"]}
    assert params == {"n": 7, "lr": 0.5}


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("n=abc", "parameter 'n': 'abc' is not a valid int (write it as JSON)"),
        ("n=1.5", "parameter 'n' must be int, got float 1.5"),
        ("nope=1", "pipeline 'quickstart' has no parameter 'nope' (parameters: n, lr)"),
        ("n", "-p takes name=value, got 'n'"),
    ],
)
def test_bad_param_values_are_user_errors_and_write_nothing(tmp_path: Path, param: str, message: str) -> None:
    target = tmp_path / "out.json"
    code, _, err = cli("compile", QUICKSTART, "-p", param, "-o", str(target))
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_bad_param_points_at_the_parameter_line() -> None:
    code, _, err = cli("compile", QUICKSTART, "-p", "n=abc")
    line = next(
        i for i, text in enumerate(Path(QUICKSTART).read_text().splitlines(), 1) if "def quickstart(" in text
    )
    assert code == 2
    assert err.startswith(f"{shown(QUICKSTART)}:{line}: ")


def test_validation_errors_list_every_problem_and_keep_the_old_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken.py",
        """\
        import mlopsdsl as ml

        @ml.step
        def a(x: int) -> int:
            return x

        @ml.pipeline
        def broken(s: str = "x") -> int:
            first = a(x=s)
            return a(y=first)
    """,
    )
    target = tmp_path / "out.json"
    target.write_text("old")
    code, out, err = cli("compile", path, "-o", str(target))
    assert code == 2 and out == ""
    where = shown(path)
    assert err.splitlines() == [
        f"{where}:9: input 'x' of step 'a' expects int, but pipeline parameter s is str",
        f"{where}:10: step 'a' has no input 'y'; its inputs are x",
        f"{where}:10: step 'a' is missing required input 'x'",
        "error: 3 problems found",
    ]
    assert target.read_text() == "old"


def test_validate_reports_ok_and_problems(tmp_path: Path) -> None:
    code, out, _ = cli("validate", QUICKSTART)
    assert code == 0 and out.strip() == "ok: pipeline 'quickstart': 3 tasks, 3 steps; checked the IR"
    path = write(
        tmp_path,
        "bad.py",
        """\
        import mlopsdsl as ml

        @ml.step
        def a(x: int) -> int:
            return x

        @ml.pipeline
        def bad(x: int = 1) -> int:
            y = a(x=x)
            if y:
                return y
            return a(x=y)
    """,
    )
    code, out, err = cli("validate", path)
    assert code == 2
    assert err.splitlines()[0] == (
        f"{shown(path)}:10: the output of a has no value while the pipeline is built, so it cannot "
        "be used in an `if`, `while`, `and`/`or` or bool(); use `with ml.when(...)` for a condition that is "
        "decided when the pipeline runs"
    )


def test_validate_with_a_backend_without_checks(tmp_path: Path) -> None:
    code, out, err = cli("validate", QUICKSTART, "--backend", "ir")
    assert code == 0, err
    assert "backend ir has no checks of its own; it compiled" in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.py", "error: no such file: missing.py"),
        (f"{QUICKSTART}:nope", "error: 'nope' is not defined in"),
        ("no_such_module_xyz", "error: no module named 'no_such_module_xyz'"),
    ],
)
def test_bad_targets(target: str, message: str) -> None:
    code, _, err = cli("compile", target)
    assert code == 2 and message in err


def test_target_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write(
        pkg,
        "flows.py",
        """\
        import mlopsdsl as ml

        @ml.step
        def one() -> int:
            return 1

        @ml.pipeline
        def first() -> int:
            return one()

        @ml.pipeline(name="second-one")
        def second() -> int:
            return one()
    """,
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("compile", "mypkg/flows.py")
    assert (
        code == 2
        and "mypkg/flows.py defines 2 pipelines (first, second); choose one with mypkg/flows.py:NAME" in err
    )
    for target, root in [
        ("mypkg/flows.py:first", "first"),
        ("mypkg.flows:second", "second-one"),
        ("mypkg/flows.py:second-one", "second-one"),
    ]:
        code, out, err = cli("compile", target)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["root"] == root
        # Imported as its real module name, with its package: the runtime can import it the same way.
        assert {s["code"]["module"] for s in doc["steps"]} == {"mypkg.flows"}
        assert doc["pipelines"][0]["location"]["file"] == "mypkg/flows.py"


def test_a_file_without_pipelines(tmp_path: Path) -> None:
    path = write(tmp_path, "empty_flows.py", "x = 1\n")
    code, _, err = cli("compile", path)
    assert code == 2 and "defines no pipeline (decorate a function with @ml.pipeline)" in err


def test_user_code_that_raises_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "raises.py",
        """\
        import mlopsdsl as ml

        CONFIG = {}
        LR = CONFIG["lr"]
    """,
    )
    code, _, err = cli("compile", path)
    assert code == 2
    first = err.splitlines()[0]
    assert first == f"{shown(path)}:4: KeyError while importing raises: 'lr'"
    assert 'LR = CONFIG["lr"]' in err and "mlopsdsl/" not in err


def test_syntax_error_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax.py", "import mlopsdsl as ml\n\ndef broken(:\n    pass\n")
    code, _, err = cli("compile", path)
    assert code == 2 and err.startswith(f"{shown(path)}:3: SyntaxError while importing syntax")


def test_exception_in_the_pipeline_body(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "body.py",
        """\
        import mlopsdsl as ml

        @ml.pipeline
        def body() -> None:
            raise RuntimeError("boom")
    """,
    )
    code, _, err = cli("compile", path)
    assert code == 2
    assert err.splitlines()[0] == f"{shown(path)}:5: RuntimeError while building pipeline 'body': boom"


def test_unknown_backend() -> None:
    code, _, err = cli("compile", QUICKSTART, "--backend", "nope")
    assert code == 2 and "error: no backend named 'nope'; installed backends: " in err


def test_backends_lists_ir() -> None:
    code, out, _ = cli("backends")
    assert code == 0
    assert any(line.split()[:2] == ["ir", "mlopsdsl"] for line in out.splitlines())


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "svg"])
def test_graph_formats(fmt: str, tmp_path: Path) -> None:
    target = tmp_path / f"g.{fmt}"
    code, _, err = cli("graph", QUICKSTART, "--format", fmt, "-o", str(target))
    assert code == 0, err
    text = target.read_text()
    assert "load" in text and "fit" in text and "report" in text


def test_graph_unknown_format() -> None:
    code, _, err = cli("graph", QUICKSTART, "--format", "png")
    assert code == 2 and "unknown format 'png'" in err


def test_internal_errors_exit_3_with_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from mlopsdsl.cli._errors import Exit, report_errors

    @report_errors
    def explode() -> None:
        raise RuntimeError("bug")

    with pytest.raises(Exit) as info:
        explode()
    assert info.value.code == info.value.exit_code == 3
    err = capsys.readouterr().err
    assert (
        err.startswith("internal error (please report it, with this traceback):")
        and "RuntimeError: bug" in err
    )


def test_console_script_help_and_exit_codes() -> None:
    """The installed entry point, as a user runs it."""
    exe = Path(sys.executable).with_name("mlopsdsl")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("compile", "validate", "graph", "backends"):
        assert command in result.stdout
    result = subprocess.run([str(exe), "compile", "missing.py"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == "error: no such file: missing.py"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-O", "novalue"], "error: -O takes name=value, got 'novalue'"),
        (["-O", "color=blue"], "{root}: [ir] takes no options, got color"),
        (["--kind", "cron"], "{root}: [ir] takes no options, got kind"),
    ],
)
def test_bad_backend_options_are_user_errors(args: list[str], message: str, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, _, err = cli("compile", QUICKSTART, *args, "-o", str(target))
    # A bad option is a compile error at the root pipeline's definition (its decorator's line).
    decorator = '@ml.pipeline(name="quickstart")'
    root = f"{shown(QUICKSTART)}:{Path(QUICKSTART).read_text().splitlines().index(decorator) + 1}"
    assert code == 2 and err.strip() == message.format(root=root)
    assert not target.exists()


def test_backend_options_reach_the_backend() -> None:
    from mlopsdsl.cli._commands import compile_options

    assert compile_options(
        "cron", "0 3 * * *", ['image="python:3.12"', "non_root=false", "name=plain text"]
    ) == {
        "image": "python:3.12",
        "non_root": False,
        "name": "plain text",
        "kind": "cron",
        "schedule": "0 3 * * *",
    }


def test_validate_takes_the_backend_options_its_output_depends_on(tmp_path: Path) -> None:
    path = tmp_path / "stopper.py"
    path.write_text(
        "import mlopsdsl as ml\n\n"
        "class Unusable(Exception):\n    pass\n\n"
        "@ml.step(retry=ml.Retry(attempts=2, stop_on=[Unusable]))\n"
        "def careful(x: int) -> int:\n    return x\n\n"
        "@ml.pipeline\n"
        "def stopper(x: int = 1) -> int:\n    return careful(x=x)\n"
    )
    code, _, err = cli("validate", str(path), "--backend", "kfp")
    assert code == 2 and "stopper.py:6: [kfp] step 'careful' retries but stops on" in err
    code, out, _ = cli("validate", str(path), "--backend", "kfp", "-O", f"store={tmp_path / 'markers'}")
    assert code == 0 and out.startswith("ok: pipeline 'stopper'")
