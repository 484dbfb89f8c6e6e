"""What keeps a cold command cheap without changing it: the console script reads a well-formed command line
of a hot command without typer (``tests/test_cli_quick.py`` checks that reader against typer) and otherwise
builds only the invoked command, typer's pydantic coercion is built only for values that need it, and
backends are found without reading every distribution's metadata. Each test compares the fast path with the
whole command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlopsdsl import backends
from mlopsdsl.cli import COMMAND_MODULES, app

ROOT = Path(__file__).parent.parent
QUICKSTART = str(ROOT / "examples" / "quickstart.py")
# Both as the console script names itself in usage lines.
FAST = "import sys; sys.argv[0] = 'mlopsdsl'; from mlopsdsl.cli import main; main()"
WHOLE = "import sys; sys.argv[0] = 'mlopsdsl'; from mlopsdsl.cli import app; app()"
# Runs each command line of a JSON list in this one process, the fast way (`main`, which builds only the
# command asked for) or the whole way (`app`), and prints what each wrote and its exit code.
EACH = """
import contextlib, io, json, sys
lines, way = json.loads(sys.argv[1]), sys.argv[2]
sys.argv[0] = "mlopsdsl"
from mlopsdsl import cli
results = []
for args in lines:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if way == "fast":
                sys.argv[1:] = args
                cli.main()
            else:
                cli.app(args)
            code = 0
        except SystemExit as exc:
            code = exc.code
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def run(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "MLOPSDSL_HOME": str(cwd or ROOT / ".mlopsdsl")}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def both_ways(lines: list[list[str]], cwd: Path) -> tuple[list[list[object]], list[list[object]]]:
    """What each command line gives, the fast way and the whole way (one process each)."""
    fast = run(EACH, json.dumps(lines), "fast", cwd=cwd)
    whole = run(EACH, json.dumps(lines), "whole", cwd=cwd)
    assert fast.returncode == whole.returncode == 0, fast.stderr + whole.stderr
    return json.loads(fast.stdout.splitlines()[-1]), json.loads(whole.stdout.splitlines()[-1])


def test_the_command_table_names_each_command_s_module() -> None:
    registered = {info.name: info.callback.__module__ for info in app.registered_commands if info.callback}
    assert {name: f"mlopsdsl.cli.{module}" for name, module in COMMAND_MODULES.items()} == registered


def test_every_help_is_the_whole_command_line_s(tmp_path: Path) -> None:
    lines = [[*command.split(), "--help"] for command in ["", *COMMAND_MODULES, "runs", "runs show"]]
    fast, whole = both_ways(lines, tmp_path)
    assert fast == whole
    assert all(code == 0 and "Usage: mlopsdsl" in out for code, out, _ in fast)


def test_usage_errors_are_the_whole_command_line_s(tmp_path: Path) -> None:
    lines = [
        ["compile"],  # a missing argument
        ["compile", QUICKSTART, "--bogus"],  # an unknown option
        ["compile", QUICKSTART, "-p"],  # an option without its value
        ["run", QUICKSTART, "-j", "0"],  # below the option's minimum: typer's own check
        ["run", QUICKSTART, "-j", "many"],  # not a number: typer's own message
        ["compil", QUICKSTART],  # a mistyped command
    ]
    fast, whole = both_ways(lines, tmp_path)
    assert fast == whole
    assert [code for code, _, _ in fast] == [2] * len(lines)
    assert "valid integer" in str(fast[4][2])  # typer's own message, as before


def test_options_given_reach_the_command_unchanged(tmp_path: Path) -> None:
    args = ["compile", QUICKSTART, "-p", "n=3", "-o", "-", "--backend", "ir"]
    fast, whole = run(FAST, *args, cwd=tmp_path), run(WHOLE, *args, cwd=tmp_path)
    assert fast.returncode == whole.returncode == 0
    assert fast.stdout == whole.stdout and '"default": 3' in fast.stdout


def test_a_cold_compile_loads_only_its_command() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['mlopsdsl', 'compile', sys.argv[1], '-o', '-']\n"
        "from mlopsdsl.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('typer', 'mlopsdsl.cli.'))))\n"
    )
    result = run(code, QUICKSTART)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "['mlopsdsl.cli._commands', 'mlopsdsl.cli._decl', 'mlopsdsl.cli._errors', 'mlopsdsl.cli._fast']"
    )


def test_a_command_line_left_to_typer_builds_no_coercion_for_text() -> None:
    """`-o-` (a value stuck to a short option) is typer's to read; its text values need no pydantic."""
    pytest.importorskip("typer._coercion")  # typer 0.2x: the coercion built per option that is deferred
    code = (
        "import sys\n"
        "sys.argv = ['mlopsdsl', 'compile', sys.argv[1], '-o-', '--backend=ir']\n"
        "from mlopsdsl.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('typer._adapters', 'typer.main', 'mlopsdsl.cli.'))))\n"
    )
    result = run(code, QUICKSTART)
    assert result.returncode == 0, result.stderr
    assert '"root": "quickstart"' in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "['mlopsdsl.cli._app', 'mlopsdsl.cli._commands', 'mlopsdsl.cli._decl', 'mlopsdsl.cli._errors', "
        "'mlopsdsl.cli._fast', 'typer.main']"
    )


@pytest.mark.parametrize("group", [backends.GROUP, "pydantic", "console_scripts"])  # the last: not scanned
def test_entry_points_are_found_as_importlib_metadata_finds_them(group: str) -> None:
    from mlopsdsl import _plugins

    assert sorted(_plugins.declared(group), key=repr) == sorted(_plugins._from_metadata(group), key=repr)
    assert {"ir"} <= {b.name for b in backends.available()}


@pytest.mark.parametrize(
    "value",
    [
        "mlopsdsl.ir:Document.from_json",
        "mlopsdsl.ir",
        "mlopsdsl.ir : dump [extra]",
        "mlopsdsl_kfp:KfpBackend",
    ],
)
def test_an_entry_point_loads_what_importlib_metadata_loads(value: str) -> None:
    from importlib import metadata

    from mlopsdsl import _plugins

    ours = _plugins.EntryPoint("x", value, None, None, "mlopsdsl.backends").load()
    assert ours == metadata.EntryPoint(name="x", value=value, group="mlopsdsl.backends").load()


def test_pydantic_is_told_there_are_no_plugins_only_when_there_are_none() -> None:
    code = (
        "from mlopsdsl import ir\n"
        "ir.json_schema()\n"
        "from pydantic.plugin import _loader\n"
        "print(_loader._plugins)\n"
        "from importlib import metadata\n"
        "print(any(ep.group == 'pydantic' for d in metadata.distributions() for ep in d.entry_points))\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    plugins, installed = result.stdout.split()
    assert (plugins, installed) in (("{}", "False"), ("None", "True"))


SPAWN_SPY = """
import sys
from mlopsdsl.local import _prestart
spawned = []
real = _prestart.spawn


def spy(*args):
    spawned.append(sorted(m for m in sys.modules if m.startswith(("mlopsdsl.cli._", "mlopsdsl.ir", "pathlib"))))
    return real(*args)


_prestart.spawn = spy
sys.argv[0] = "mlopsdsl"
from mlopsdsl.cli import main
try:
    main()
except SystemExit:
    pass
print(spawned, file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        ([], True),
        (["--executor", "fork"], True),
        (["-j", "2", "--in-process"], False),
        (["--executor", "subprocess"], False),
        (["--executor=subprocess"], False),
        (["--help"], False),
    ],
)
def test_mlopsdsl_run_starts_its_fork_server_before_reading_its_command_line(
    args: list[str], starts: bool, tmp_path: Path
) -> None:
    """Before it imports the command, the IR or even pathlib: the server's start is most of the way to the
    first step, and it runs on another core meanwhile. Not for a run that will not fork."""
    result = run(SPAWN_SPY, "run", QUICKSTART, *args, cwd=tmp_path)
    spawned = result.stderr.strip().splitlines()[-1]
    if starts:
        assert "output:" in result.stdout, result.stderr
        assert spawned == "[[]]", spawned
    else:
        assert spawned == "[]", result.stderr


def test_the_fork_server_starts_before_the_runner_loads() -> None:
    """`mlopsdsl run` starts its fork server first, so that the server's start overlaps the runner's imports
    and the pipeline's build: what starting it needs must not load them."""
    code = (
        "import sys\n"
        "from mlopsdsl.local._prestart import prestart\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'mlopsdsl.ir', 'mlopsdsl.local._api'))))\n"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
