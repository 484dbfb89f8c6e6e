"""Importers: a pipeline parameter typed ``ml.Dataset`` takes the URI of an existing artifact (a local path,
``file://``, ``s3://`` on the test server), read once by an import task, then verified like any stored
value and named in the run's lineage. Bad URIs are parameter errors before the run when they can be told,
else a failed run naming the URI. KFP and Argo run the same through ``tests/conformance`` (``import-*``)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mlopsdsl as ml

SOURCE = """
from pathlib import Path

import mlopsdsl as ml


@ml.step
def rows(data: ml.Dataset) -> int:
    path = Path(data.path)
    files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
    return sum(len(f.read_text().splitlines()) for f in files)


@ml.step
def source(data: ml.Dataset) -> str:
    return str(data.metadata["source_uri"]) + " " + str(data.metadata["sha256"])


@ml.pipeline
def imported(data: ml.Dataset, label: str = "x") -> tuple[int, str]:
    return rows(data=data), source(data=data)
"""

TEXT = "a,b\n1,2\n3,4\n"
DIGEST = hashlib.sha256(TEXT.encode()).hexdigest()


@pytest.fixture
def pipe(user_module: Callable[..., ModuleType]) -> Any:
    return user_module(SOURCE, name="importpipe").imported


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    path = tmp_path / "in put" / "rows.csv"  # a space: its file:// URI has a percent-escape
    path.parent.mkdir()
    path.write_text(TEXT)
    return path


def _run(pipe: Any, tmp_path: Path, **params: Any) -> Any:
    return ml.run(pipe, home=tmp_path / "home", progress=False, **params)


def test_a_file_uri_is_read_once_and_named_in_the_lineage(pipe: Any, rows_csv: Path, tmp_path: Path) -> None:
    result = _run(pipe, tmp_path, data=rows_csv.as_uri())
    assert dict(result.outputs) == {"output_0": 3, "output_1": f"{rows_csv.as_uri()} {DIGEST}"}
    imports = [s for s in result.steps if s.task == "import-data"]
    assert len(imports) == 1  # one read for two consumers
    stored = imports[0].outputs["output"]
    assert stored["sha256"] == DIGEST and stored["type"] == "Dataset"
    past = ml.runs.get(result.run_id, home=tmp_path / "home")
    assert past.params == {"data": rows_csv.as_uri(), "label": "x"}
    lineage = past.lineage("output_0")
    assert [t.task for t in lineage] == ["rows", "import-data"]
    assert lineage[0].inputs["data"]["from"] == "import-data.output"
    assert lineage[0].inputs["data"]["sha256"] == DIGEST
    assert lineage[1].inputs["uri"]["value"] == rows_csv.as_uri()


def test_a_relative_path_and_an_artifact_object(
    pipe: Any, rows_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(rows_csv.parent)
    result = _run(pipe, tmp_path, data="rows.csv")
    assert result.outputs["output_1"] == f"{rows_csv} {DIGEST}"  # made absolute: steps run elsewhere
    assert _run(pipe, tmp_path, data=ml.Dataset(path=str(rows_csv))).outputs["output_0"] == 3


def test_a_folder_is_imported_whole(pipe: Any, tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    (folder / "part").mkdir(parents=True)
    (folder / "a.csv").write_text(TEXT)
    (folder / "part" / "b.csv").write_text("x\n")
    assert _run(pipe, tmp_path, data=str(folder)).outputs["output_0"] == 4


def test_a_changed_source_is_read_again_not_cached(pipe: Any, rows_csv: Path, tmp_path: Path) -> None:
    assert _run(pipe, tmp_path, data=str(rows_csv)).outputs["output_0"] == 3
    rows_csv.write_text(TEXT + "5,6\n")
    # The import task's input is the URI only: it runs again, and the new bytes get their own digest.
    again = _run(pipe, tmp_path, data=str(rows_csv))
    assert again.outputs["output_0"] == 4
    assert again.outputs["output_1"].endswith(hashlib.sha256((TEXT + "5,6\n").encode()).hexdigest())
    # Unchanged bytes: the import reads them again, and what reads the import is cached on their digest.
    third = _run(pipe, tmp_path, data=str(rows_csv))
    assert {s.task: s.status for s in third.steps} == {
        "import-data": "succeeded",
        "rows": "cached",
        "source": "cached",
    }


def test_a_missing_local_path_is_a_parameter_error_before_the_run(pipe: Any, tmp_path: Path) -> None:
    with pytest.raises(ml.ParameterError, match=r"pipeline parameter 'data': .*nope\.csv does not exist"):
        _run(pipe, tmp_path, data=str(tmp_path / "nope.csv"))
    assert not (tmp_path / "home" / "runs").exists() or not list((tmp_path / "home" / "runs").iterdir())


def test_an_unknown_scheme_is_a_parameter_error(pipe: Any, tmp_path: Path) -> None:
    with pytest.raises(
        ml.ParameterError, match=r"parameter 'data': 'ftp://host/rows.csv' has an unknown scheme"
    ):
        _run(pipe, tmp_path, data="ftp://host/rows.csv")
    with pytest.raises(ml.ParameterError, match=r"parameter 'data' takes the URI of an existing artifact"):
        _run(pipe, tmp_path, data=3)


def test_the_cli_takes_a_uri_and_exits_2_on_a_bad_one(
    pipe: Any, rows_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = str(tmp_path / "importpipe.py")
    monkeypatch.setenv("MLOPSDSL_HOME", str(tmp_path / "home"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", "from mlopsdsl.cli import main; main()", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)

    done = cli("run", file, "-p", f"data={rows_csv}")
    assert done.returncode == 0, done.stderr
    bad = cli("run", file, "-p", "data=ftp://host/rows.csv")
    assert bad.returncode == 2 and "unknown scheme 'ftp://'" in bad.stderr
    missing = cli("run", file, "-p", f"data={tmp_path / 'nope.csv'}")
    assert missing.returncode == 2 and "pipeline parameter 'data'" in missing.stderr
    assert "importpipe.py:" in missing.stderr  # located at the parameter
    compiled = cli("compile", file, "--backend", "kfp", "-o", "-", "-p", "data=s3://bucket/rows.csv")
    assert compiled.returncode == 0 and "s3://bucket/rows.csv" in compiled.stdout, compiled.stderr
    refused = cli("compile", file, "--backend", "argo", "-o", "-", "-p", "data=ftp://host/rows.csv")
    assert refused.returncode == 2 and "unknown scheme 'ftp://'" in refused.stderr


def test_an_s3_object_and_prefix(pipe: Any, tmp_path: Path, s3_root: str, s3fs_client: Any) -> None:
    key = s3_root.rsplit("/", 1)[0] + "/incoming/rows.csv"
    s3fs_client.pipe(key, TEXT.encode())
    result = _run(pipe, tmp_path, data=key)
    assert dict(result.outputs) == {"output_0": 3, "output_1": f"{key} {DIGEST}"}
    prefix = s3_root.rsplit("/", 1)[0] + "/shards"
    s3fs_client.pipe(prefix + "/a.csv", TEXT.encode())
    s3fs_client.pipe(prefix + "/part/b.csv", b"x\n")
    assert _run(pipe, tmp_path, data=prefix).outputs["output_0"] == 4


def test_a_missing_s3_object_fails_the_run_naming_the_uri(pipe: Any, tmp_path: Path, s3_root: str) -> None:
    missing = s3_root + "/nope.csv"
    with pytest.raises(ml.RunError, match=rf"pipeline parameter 'data': {missing} does not exist"):
        _run(pipe, tmp_path, data=missing)
