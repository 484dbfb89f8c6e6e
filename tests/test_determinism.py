"""Compiled output is byte-identical wherever and whenever it is compiled, and still runs.

Each compile is a separate ``mlopsdsl compile`` process (or the user's own script, for code that lives in
``__main__``) with its own ``PYTHONHASHSEED``, its own working directory and its own copy of the file at
its own absolute path: the things that differ between a laptop and two CI runs. The file's steps use a
pydantic model, a dataclass, an enum, a NamedTuple, helpers, constants and a set: what used to make two
compiles differ (pydantic's schema refs hold ``id()`` values; sets iterate in a seeded order).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlopsdsl as ml

SOURCE = Path(__file__).parent / "determinism_pipeline.py"
SEEDS = ("0", "1", "17", "4242", "random")
BACKENDS = ("ir", "kfp", "argo")
CLI = Path(sys.executable).with_name("mlopsdsl")


def _places(tmp_path: Path) -> list[tuple[Path, Path]]:
    """Five (copy of the file, working directory) pairs: different folders, depths and cwds."""
    places = []
    for i in range(len(SEEDS)):
        folder = tmp_path / f"copy{i}" / ("deep/" * i) / "project"
        folder.mkdir(parents=True)
        shutil.copy(SOURCE, folder / SOURCE.name)
        cwd = [folder, tmp_path, folder.parent, Path("/"), Path(__file__).parent][i]
        places.append((folder / SOURCE.name, cwd))
    return places


def _env(seed: str) -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": seed, "PYTHONDONTWRITEBYTECODE": "1"}


def _run_all(commands: list[tuple[list[str], Path, str]]) -> None:
    """Run the processes two at a time (the machine is shared); fail with the stderr of any that fails."""
    for start in range(0, len(commands), 2):
        running = [
            (subprocess.Popen(cmd, cwd=cwd, env=_env(seed), stderr=subprocess.PIPE, text=True), cmd)
            for cmd, cwd, seed in commands[start : start + 2]
        ]
        for proc, cmd in running:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{cmd}: {err}"


def _compile_everywhere(tmp_path: Path, backend: str, target: str, as_script: bool) -> list[bytes]:
    commands = []
    outputs = []
    for i, ((path, cwd), seed) in enumerate(zip(_places(tmp_path), SEEDS, strict=True)):
        out = tmp_path / f"out{i}"
        if as_script:
            cmd = [sys.executable, str(path), backend, str(out), target]
        else:
            cmd = [str(CLI), "compile", f"{path}:{target}", "--backend", backend, "-o", str(out)]
        commands.append((cmd, cwd, seed))
        outputs.append(out)
    _run_all(commands)
    return [out.read_bytes() for out in outputs]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("as_script", [False, True], ids=["module", "main-script"])
def test_five_processes_compile_the_same_bytes(tmp_path: Path, backend: str, as_script: bool) -> None:
    outputs = _compile_everywhere(tmp_path, backend, "config", as_script)
    assert len(outputs[0]) > 1000
    for i, other in enumerate(outputs[1:], start=1):
        assert other == outputs[0], f"process {i} (PYTHONHASHSEED={SEEDS[i]}) wrote different bytes"
    text = outputs[0].decode()
    assert str(tmp_path) not in text and os.path.expanduser("~") not in text


def test_plain_pipeline_compiles_the_same_bytes_as_a_script(tmp_path: Path) -> None:
    """The standard-library pipeline of the same file, from ``__main__``: its payloads have no pydantic."""
    outputs = _compile_everywhere(tmp_path, "argo", "plain", as_script=True)
    assert all(o == outputs[0] for o in outputs[1:])


KERNEL = """
import hashlib, linecache, os, sys, tempfile
import mlopsdsl as ml
source = open(sys.argv[1]).read().split('if __name__ == "__main__":')[0]
cells = source.replace("\\n\\nclass ", "\\n# %%\\nclass ").replace("\\n\\n@ml.", "\\n# %%\\n@ml.").split("# %%")
namespace = sys.modules["__main__"].__dict__
for cell in cells:  # as ipykernel runs cells: no file, a name in a folder of the kernel's pid
    name = os.path.join(tempfile.gettempdir(), f"ipykernel_{os.getpid()}", hashlib.sha1(cell.encode()).hexdigest()[:12] + ".py")
    linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
    exec(compile(cell, name, "exec"), namespace)
ml.compile(namespace["config"], backend=sys.argv[2], output=sys.argv[3])
"""


@pytest.mark.parametrize("backend", ["kfp", "argo"])
def test_notebook_cells_compile_the_same_bytes(tmp_path: Path, backend: str) -> None:
    """Code from notebook cells has no file (each cell is named in a folder of the kernel's pid)."""
    outputs = [tmp_path / f"out{i}" for i in range(3)]
    _run_all(
        [
            ([sys.executable, "-c", KERNEL, str(SOURCE), backend, str(out)], cwd, seed)
            for out, cwd, seed in zip(outputs, (tmp_path, Path("/"), SOURCE.parent), SEEDS, strict=False)
        ]
    )
    texts = [out.read_bytes() for out in outputs]
    assert texts[1] == texts[0] and texts[2] == texts[0]
    assert b"ipykernel_" not in texts[0]


def _expected(n: int, mode: str) -> dict[str, int]:
    # make: epochs = n + DEFAULT.epochs (4), lr = DEFAULT.lr (0.25); train: total = 3 * lr * epochs
    total = 3 * 0.25 * (n + 4)
    return {"low": int(total), "high": int(total) + 1}


def test_compiled_in_another_process_it_runs_locally_and_emulated(tmp_path: Path) -> None:
    """What two processes agreed on still runs: on the local runner, and as KFP and Argo documents."""
    from mlopsdsl._target import load_pipeline
    from mlopsdsl.testing import run_argo, run_kfp

    (path, cwd), _ = _places(tmp_path)[3], None
    kfp_out, argo_out, plain_out = tmp_path / "kfp.yaml", tmp_path / "argo.yaml", tmp_path / "plain.yaml"
    _run_all(
        [
            ([str(CLI), "compile", f"{path}:config", "-b", "kfp", "-o", str(kfp_out)], cwd, "5"),
            ([sys.executable, str(path), "argo", str(argo_out), "plain"], cwd, "6"),
            ([sys.executable, str(path), "kfp", str(plain_out), "plain"], cwd, "7"),
        ]
    )
    params = {"n": 3, "mode": "fast"}
    # pydantic must be importable where the config steps run, so the KFP pods keep site-packages
    kfp = run_kfp(kfp_out.read_text(), params, workdir=tmp_path / "kfp", isolated=False)
    assert kfp.succeeded, kfp.logs
    assert kfp.outputs == _expected(3, "fast")
    # the standard-library pipeline runs in bare interpreters (-I -S), from a __main__ script's payloads
    expected_plain = {"low": 9, "high": 15}
    argo = run_argo(argo_out.read_text(), {"n": 3}, workdir=tmp_path / "argo")
    assert argo.succeeded, argo.logs
    assert argo.outputs == expected_plain
    bare = run_kfp(plain_out.read_text(), {"n": 3}, workdir=tmp_path / "kfp-plain")
    assert bare.succeeded, bare.logs
    assert bare.outputs == expected_plain
    try:
        pipeline = load_pipeline(f"{path}:config")
        local = ml.run(pipeline, params=params, home=tmp_path / "home", progress=False, check=False)
    finally:
        sys.modules.pop("determinism_pipeline", None)
        sys.path[:] = [p for p in sys.path if p != str(path.parent)]
    assert local.ok, [(s.task, s.status) for s in local.steps]
    assert dict(local.outputs) == _expected(3, "fast")
