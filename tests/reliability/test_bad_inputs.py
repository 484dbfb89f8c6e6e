"""Every bad input of the adversarial campaign: exit 2, one line naming the user's file and line where
there is one, no traceback, nothing written. Each case is one row of the *bad inputs* figure of
docs/reliability.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from mlopsdsl.cli import main; main()"]

PIPELINE = """
import mlopsdsl as ml

@ml.step{options}
def inc(n: int) -> int:
    return n + 1

@ml.pipeline
def p(n: int = 1, s: str = "x") -> int:
    return inc(n=n)
"""

BIG_CONSTANT = """
import mlopsdsl as ml

@ml.step
def size(s: str) -> int:
    return len(s)

@ml.pipeline
def big() -> int:
    return size(s="y" * 200_000)
"""

# name -> (files to write, arguments, what stderr must say)
CASES: dict[str, tuple[dict[str, bytes], list[str | bytes], str]] = {
    "output into a missing folder": ({}, ["compile", "good.py", "-o", "missing/x.yaml"], "cannot write"),
    "output onto a folder": ({}, ["compile", "good.py", "-o", "folder"], "Is a directory"),
    "int beyond 4300 digits": ({}, ["compile", "good.py", "-p", "n=" + "9" * 5000], "good.py:9: "),
    "undecodable bytes in -p": ({}, ["compile", "good.py", b"-p", b"s=\xff\xfe"], "not valid UTF-8"),
    "NUL in a step's env": (
        {"nulenv.py": PIPELINE.format(options='(env={"A": "x\\x00y"})').encode()},
        ["compile", "nulenv.py"],
        "nulenv.py:4: step 'inc': option env: 'A' holds a NUL byte",
    ),
    "300 KB in a step's env": (
        {"bigenv.py": PIPELINE.format(options='(env={"A": "x" * 300_000})').encode()},
        ["run", "bigenv.py"],
        "bigenv.py:4: step 'inc': option env: 'A' is 300003 bytes, over the 128 KiB",
    ),
    "a file that calls sys.exit(0)": (
        {"exits.py": b"import sys\nsys.exit(0)\n"},
        ["compile", "exits.py"],
        "exits.py:2: exits called sys.exit(0) while being imported",
    ),
    "a NUL byte in the file": (
        {"nul.py": b"import mlopsdsl as ml\nx = 1\x00\n"},
        ["compile", "nul.py"],
        "nul.py:2: SyntaxError",
    ),
    "'.' as the target": ({}, ["compile", "."], "is neither a Python file nor a module name"),
    "--resume of no run": ({}, ["run", "good.py", "--resume", "nosuch"], "no run 'nosuch'"),
    "a 200 KB constant compiled for KFP": (
        {"bigconst.py": BIG_CONSTANT.encode()},
        ["compile", "bigconst.py", "--backend", "kfp"],
        "bigconst.py:10: input 's' of task 'size' is 195 KiB of JSON",
    ),
    "a 110 KB -p value submitted to Argo": (
        {},
        [
            "submit",
            "good.py",
            "--backend",
            "argo",
            "--host",
            "http://127.0.0.1:9",
            "-p",
            "s=" + "y" * 110_000,
        ],
        "parameter 's' is 107 KiB of JSON",
    ),
    "-p of no parameter": ({}, ["compile", "good.py", "-p", "m=1"], "has no parameter 'm'"),
    "-p without =": ({}, ["compile", "good.py", "-p", "n"], "-p takes name=value"),
}


def _cli(tmp_path: Path, args: list[str | bytes]) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "MLOPSDSL_HOME": str(tmp_path / "home")}
    command = [*CLI, *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_input_exits_2_with_one_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    files, args, expected = CASES[case]
    (tmp_path / "good.py").write_text(PIPELINE.format(options=""))
    (tmp_path / "folder").mkdir()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    before = sorted(p.name for p in tmp_path.iterdir())
    done = _cli(tmp_path, args)
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 2, stderr
    assert expected in stderr, stderr
    lines = [line for line in stderr.splitlines() if not line.startswith("error: 1 problem found")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and not done.stdout
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__")
    assert written == before and not list((tmp_path / "folder").iterdir())


def test_a_reader_that_goes_away_is_not_an_internal_error(tmp_path: Path) -> None:
    env = {**os.environ, "MLOPSDSL_HOME": str(tmp_path / "home")}
    for n in range(1500):  # more `runs list` output than a pipe holds (64 KiB)
        run = tmp_path / "home" / "runs" / f"p-{n:04d}"
        run.mkdir(parents=True)
        (run / "run.json").write_text(f'{{"run_id": "p-{n:04d}", "status": "succeeded", "pipeline": "p"}}')
    runner = subprocess.Popen(
        [*CLI, "runs", "list"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert runner.stdout is not None and runner.stderr is not None
    runner.stdout.readline()
    runner.stdout.close()  # as `| head -1` does
    stderr = runner.stderr.read().decode()
    runner.stderr.close()
    assert runner.wait(timeout=60) == 141 and stderr == ""


def test_an_import_error_shows_only_the_users_frames(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import mlopsdsl as ml\nimport no_such_module_xyz\n")
    done = _cli(tmp_path, ["compile", "broken.py"])
    stderr = done.stderr.decode()
    assert done.returncode == 2 and stderr.startswith("broken.py:2: ModuleNotFoundError"), stderr
    assert "importlib" not in stderr and "<frozen" not in stderr and 'broken.py", line 2' in stderr
