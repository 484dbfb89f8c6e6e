"""Every conformance case, through every path: plain Python (where it can run), the local runner, the
KFP and Argo documents executed by ``mlopsdsl.testing``'s emulators, and, where Airflow is installed (the
``airflow`` nox session, whose pins clash with kfp's), the Airflow DAG file run by Airflow itself
(``dag.test()``, pods run as local processes). All must agree with the case.

The compiled documents are also checked by the backends' own validators, so what runs here is what the
strict checks accept.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import mlopsdsl as ml

sys.path.insert(0, str(Path(__file__).parent))
import pipelines
from pipelines import CASES, Case


@dataclass
class Outcome:
    ok: bool
    outputs: dict[str, Any]
    failed: list[str]
    waits: list[list[float]]
    """The backoff waited before each retry, for every task that retried."""
    errors: str = ""
    """What the failed steps said."""
    tolerated: list[int] | None = None
    """The element indices a tolerant map left out, as the path reports them."""


def _params(case: Case, tmp_path: Path) -> dict[str, Any]:
    params = dict(case.params)
    if case.folder:
        folder = tmp_path / "state"
        folder.mkdir()
        params["folder"] = str(folder)
    for name, text in case.files.items():  # an existing artifact, passed by URI
        written = tmp_path / "files" / name / "data.csv"
        written.parent.mkdir(parents=True)
        written.write_text(text)
        params[name] = written.as_uri()
    return params


def run_local(case: Case, params: dict[str, Any], tmp_path: Path) -> Outcome:
    result = ml.run(
        case.pipeline, params=params, home=tmp_path / "home", progress=False, check=False, cache=False
    )
    failed = [s.task for s in result.steps if s.status == "failed"]
    waits = [s.waits for s in result.steps if s.waits]
    errors = "\n".join(str(s.error) for s in result.steps if s.status == "failed")
    tolerated = sorted(e["index"] for s in result.steps for e in s.failed_elements)
    return Outcome(result.ok, dict(result.outputs) if result.ok else {}, failed, waits, errors, tolerated)


def _tolerated(run: Any) -> list[int]:
    """The element indices an engine's run reports as left out by a tolerant map (``task[3]`` paths)."""
    return sorted(int(path.rsplit("[", 1)[1].rstrip("]")) for path in run.tolerated)


COMPILE_OPTIONS: dict[str, dict[str, Any]] = {"argo": {"artifact_bucket": "conformance"}}
"""The Argo runs name the bucket of the (emulated) default artifact repository: a pod cannot learn it from
Argo, and steps are told their artifacts' URIs."""


def _emulated(backend: str, runner: Callable[..., Any]) -> Callable[[Case, dict[str, Any], Path], Outcome]:
    def run(case: Case, params: dict[str, Any], tmp_path: Path) -> Outcome:
        from mlopsdsl import backends

        # Without the cache, as the local path runs: every step of every case really runs (caching has its
        # own cases in test_caching.py). KFP retries whatever the error: steps that stop on an error keep a
        # marker in a store.
        options: dict[str, Any] = {"store": str(tmp_path / "store")} if backend == "kfp" else {}
        if not case.isolated:  # the pods keep this venv's site-packages: an image that has its libraries
            options["image"] = "registry.example/this-venv:1"
        text = ml.compile(
            case.pipeline, backend=backend, cache=False, **options, **COMPILE_OPTIONS.get(backend, {})
        )
        chosen = backends.load(backend)
        assert isinstance(chosen, backends.Validates)
        assert chosen.validate_compiled(text) == []
        result = runner(text, params, workdir=tmp_path / backend, isolated=case.isolated)
        return Outcome(
            result.succeeded,
            dict(result.outputs) if result.succeeded else {},
            list(result.failed),
            list(result.waits.values()),
            "\n".join(result.logs.values()),
            _tolerated(result),
        )

    return run


def run_kfp(case: Case, params: dict[str, Any], tmp_path: Path) -> Outcome:
    from mlopsdsl_kfp._types import encode_value, encoding_of

    from mlopsdsl.lowering import desugar
    from mlopsdsl.testing import run_kfp as emulate

    # A str sent as `mlopsdsl submit` sends it: as the compiled pipeline declares it (the emulator sends a
    # str as it is, where an Optional[str], as an optional artifact's URI is, takes JSON text).
    types = {p.name: encoding_of(p.type) for p in desugar(case.pipeline.build()).pipeline.params}
    params = {
        name: encode_value(value, types[name])
        if isinstance(value, str) and types[name].type == "STRING"
        else value
        for name, value in params.items()
    }
    return _emulated("kfp", emulate)(case, params, tmp_path)


def run_argo(case: Case, params: dict[str, Any], tmp_path: Path) -> Outcome:
    from mlopsdsl.testing import run_argo as emulate

    return _emulated("argo", emulate)(case, params, tmp_path)


def run_airflow(case: Case, params: dict[str, Any], tmp_path: Path) -> Outcome:
    from mlopsdsl_airflow.testing import process_home, use_home
    from mlopsdsl_airflow.testing import run_airflow as on_airflow

    from mlopsdsl import backends

    use_home(process_home())  # one Airflow home (database, DAGs folder) per test process
    image = {} if case.isolated else {"image": "registry.example/this-venv:1"}  # as on KFP and Argo
    text = ml.compile(
        case.pipeline,
        backend="airflow",
        operator="local",
        store=(tmp_path / "store").as_uri(),
        cache=False,
        **image,
    )
    chosen = backends.load("airflow")
    assert isinstance(chosen, backends.Validates)
    assert chosen.validate_compiled(text) == []
    result = on_airflow(text, params, workdir=tmp_path / "airflow")
    return Outcome(
        result.succeeded,
        dict(result.outputs) if result.succeeded else {},
        list(result.failed),
        list(result.waits.values()),
        "\n".join(result.logs.values()),
        _tolerated(result),
    )


PATHS = {"local": run_local, "kfp": run_kfp, "argo": run_argo}
if importlib.util.find_spec("mlopsdsl_airflow") and importlib.util.find_spec("airflow"):
    PATHS["airflow"] = run_airflow
if os.environ.get("MLOPSDSL_REQUIRE_AIRFLOW"):
    # The airflow session runs this file for the airflow path alone: it must not skip it.
    assert "airflow" in PATHS, "MLOPSDSL_REQUIRE_AIRFLOW is set, but Airflow or mlopsdsl-airflow is missing"

DECLARED_GAPS: dict[tuple[str, str], str] = {
    ("nested-map", "airflow"): "maps sub-pipeline",
}
"""Cases a backend declares it cannot run (its ``capabilities``; the table in docs/backends.md), with a
fragment of the located problem it reports."""


def _failed_step(task: str) -> str:
    """The step name in a task path (``loop-1/explode[0]``, ``explode-2``), as engines spell task names
    (``odd_fails`` is KFP's ``odd-fails``)."""
    name = task.rsplit("/", 1)[-1].split("[", 1)[0]
    return name.replace("_", "-")


def _unsupported(case: Case, path: str) -> str | None:
    """The located problem when ``path``'s backend declares it cannot run ``case``, else ``None``."""
    if path == "local":
        return None
    from mlopsdsl import backends

    try:
        backends.check_capabilities(backends.load(path), case.pipeline.build())
    except ml.ValidationError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_conformance(case: Case, path: str, tmp_path: Path) -> None:
    gap = _unsupported(case, path)
    if gap is not None:
        # A declared gap is refused at the user's line before anything runs (tests/test_lowering.py);
        # only the cases listed here may be refused, so a new gap cannot hide.
        assert (case.name, path) in DECLARED_GAPS, gap
        with pytest.raises(ml.ValidationError, match=DECLARED_GAPS[case.name, path]):
            ml.compile(case.pipeline, backend=path)
        return
    params = _params(case, tmp_path)
    outcome = PATHS[path](case, params, tmp_path)
    if path in case.refused:
        assert not outcome.ok, f"{path}: the run should be refused"
        assert case.refused[path] in outcome.errors, outcome.errors
    elif case.fails is None:
        assert outcome.ok, f"{path}: the run failed ({outcome.failed}): {outcome.errors}"
        assert outcome.outputs == case.on.get(path, case.outputs)
    else:
        assert not outcome.ok, f"{path}: the run should fail"
        # A failed map lists its failed elements too (tolerant maps that got too few): one step name.
        assert sorted({_failed_step(t) for t in outcome.failed}) == [_failed_step(case.fails)]
        if path != "local" and case.name.startswith("tolerant-"):
            # The settle task fails with the verdict the local runner gives, word for word.
            assert "elements succeeded, but min_success=" in outcome.errors, outcome.errors
    if case.tolerated is not None:
        assert outcome.tolerated == case.tolerated, f"{path}: the failed elements reported differ"
    if case.exit_status is not None:
        assert (Path(params["folder"]) / "exit-status").read_text() == case.exit_status
    if case.attempts is not None:
        assert (Path(params["folder"]) / "flaky-attempts").read_text() == str(case.attempts)
    if case.waits is not None:
        assert outcome.waits == [case.waits], f"{path}: the backoff schedule differs"
    if case.calls is not None:
        calls = (Path(params["folder"]) / "fatal-calls").read_text().splitlines()
        assert len(calls) == case.calls, f"{path}: the step's function ran {len(calls)} times"


PLAIN = [
    c
    for c in CASES
    if c.fails is None and c.plain and not c.on and not c.folder and not c.pipeline.build().pipeline.groups
]


@pytest.mark.parametrize("case", PLAIN, ids=[c.name for c in PLAIN])
def test_plain_python_agrees(case: Case) -> None:
    """The expected outputs are what the pipeline function computes as plain Python."""
    assert {"output": case.pipeline(**case.params)} == case.outputs


def test_every_case_builds_without_problems() -> None:
    for case in CASES:
        assert case.pipeline.problems() == [], case.name
    assert pipelines.HOSTILE  # the hostile value is used by a case


def test_declared_gaps_are_still_gaps() -> None:
    """A gap closed by a backend must leave DECLARED_GAPS, so that conformance runs the case there."""
    by_name = {c.name: c for c in CASES}
    for name, path in sorted(DECLARED_GAPS):
        # The airflow session has no KFP or Argo plugin, and the core one no Airflow: check what is here.
        if path in PATHS and importlib.util.find_spec(f"mlopsdsl_{path}") is not None:
            assert _unsupported(by_name[name], path) is not None, (name, path)
