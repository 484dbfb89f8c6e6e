"""The compiled containers really run: placeholders filled as KFP would, commands run with the real runtime.

Each command runs under ``python -I -S`` (no site-packages) through ``mlopsdsl.testing.run_kfp``, so the
step finds only what the package ships: the runtime bundle written by the ``mlopsdsl-runtime`` task and the
by-value payload in its call spec.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import kfp_pipelines as pipelines
import numpy as np
import pandas as pd

import mlopsdsl as ml
from mlopsdsl.runtime.bundle import bundle, unpack
from mlopsdsl.testing import run_kfp


def test_quickstart_like_chain_runs_from_its_compiled_commands(tmp_path: Path) -> None:
    text = ml.compile(pipelines.chain_of(3), backend="kfp")
    run = run_kfp(text, {"x": 10}, workdir=tmp_path)
    assert run.outputs == {"output": 13}
    assert list(run.tasks) == ["mlopsdsl-runtime", "one", "one-2", "one-3"]
    # every step ran from the bundle the runtime task wrote (its folder is the first one): the bundle's
    # zip, its files deflated again for the steps' downloads
    written = next(tmp_path.glob("001-mlopsdsl-runtime")) / "artifacts" / "bundle"
    with zipfile.ZipFile(written) as archive, zipfile.ZipFile(io.BytesIO(unpack(bundle()))) as shipped:
        assert archive.namelist() == shipped.namelist()
        assert all(archive.read(n) == shipped.read(n) for n in shipped.namelist())
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}


def test_everything_gives_what_the_local_runner_gives(tmp_path: Path) -> None:
    text = ml.compile(pipelines.everything, backend="kfp")
    outputs = run_kfp(text, {}, workdir=tmp_path).outputs
    local = ml.run(pipelines.everything, home=tmp_path / "local", progress=False).outputs
    assert outputs["output_0"] == local["output_0"] == 9
    assert outputs["output_2"] == local["output_2"]
    # KFP renders 5.0 as "5" (numbers are float64 there); the step still gets the float it declared.
    assert "/5.0/" in local["output_1"]
    assert outputs["output_1"] == local["output_1"]


def test_tricky_strings_reach_the_step_unchanged(tmp_path: Path) -> None:
    @ml.step
    def measure(text: str, extra: str | None = None) -> str:
        return f"{len(text)}:{text}|{extra}"

    @ml.pipeline(name="tricky")
    def tricky(text: str = "plain") -> str:
        return measure(text=text, extra=pipelines.TRICKY)

    value = pipelines.TRICKY + " {{$.outputs.parameters['output'].output_file}} {{$}}"
    text = ml.compile(tricky, backend="kfp", functions=tricky.step_functions())
    outputs = run_kfp(text, {"text": value}, workdir=tmp_path).outputs
    assert outputs["output"] == f"{len(value)}:{value}|{pipelines.TRICKY}"


def test_a_failing_step_fails_its_container(tmp_path: Path) -> None:
    @ml.step
    def boom(x: int) -> int:
        raise ValueError(f"bad {x}")

    @ml.pipeline(name="fails")
    def fails() -> int:
        return boom(x=1)

    text = ml.compile(fails, backend="kfp", functions=fails.step_functions())
    run = run_kfp(text, {}, workdir=tmp_path)
    assert run.status == "Failed" and run.failed == ["boom"]
    assert "ValueError: bad 1" in run.logs["boom"]


def test_stored_values_keep_their_format_between_steps(tmp_path: Path) -> None:
    """The issue-7 gap: a numpy array and a data frame written as npy/parquet are read back as such, because
    the producer's output record (format, digest) travels with the artifact as ``NAME--meta``."""

    @ml.step
    def make_array(n: int) -> np.ndarray:
        return np.arange(n, dtype=np.float32)

    @ml.step
    def make_frame(n: int) -> pd.DataFrame:
        return pd.DataFrame({"x": list(range(n))})

    @ml.step
    def describe(a: np.ndarray, f: pd.DataFrame) -> str:
        return f"{a.dtype}:{a.sum()}:{type(f).__name__}:{int(f['x'].sum())}"

    @ml.pipeline(name="stored")
    def stored(n: int = 4) -> str:
        return describe(a=make_array(n=n), f=make_frame(n=n))

    # an image of the user's that has numpy and pandas, as isolated=False below stands for
    text = ml.compile(
        stored, backend="kfp", functions=stored.step_functions(), image="registry.example/sci:1"
    )
    assert "a--meta" in text and "meta_file" in text
    run = run_kfp(text, {}, workdir=tmp_path, isolated=False)  # numpy and pandas from this venv
    assert run.outputs == {"output": "float32:6.0:DataFrame:6"}, run.logs
    formats = sorted(p.read_text() for p in tmp_path.glob("*-make-*/attempt-*/parameters/output--meta"))
    assert '"format": "npy"' in formats[0] and '"format": "parquet"' in formats[1]


def test_each_iteration_of_a_map_keeps_its_own_never_retry_marker(tmp_path: Path) -> None:
    """KFP retries each failed iteration; the marker of one iteration does not stop another."""
    store = tmp_path / "store"
    text = ml.compile(pipelines.stopping, backend="kfp", store=str(store))
    run = run_kfp(text, {"xs": [-1, 2, -3]}, workdir=tmp_path / "run")
    assert run.status == "Failed"
    failed = sorted(run.failed)
    assert failed == ["for-loop-careful/careful[0]", "for-loop-careful/careful[2]"]
    assert {path: run.attempts[path] for path in failed} == dict.fromkeys(failed, 3)
    assert [run.waits[path] for path in failed] == [[5.0, 10.0], [5.0, 10.0]]
    markers = sorted(p.read_text() for p in (store / "never-retry").iterdir())
    assert len(markers) == 2 and all('"type": "Unusable"' in m for m in markers)
    for path in failed:  # the second and third attempts stopped before running the step
        assert run.logs[path].count("failed (call)") == 1 and run.logs[path].count("failed (retry)") == 2
    assert (
        run.tasks["for-loop-careful/careful[1]"] == "Succeeded"
        and run.attempts["for-loop-careful/careful[1]"] == 1
    )
