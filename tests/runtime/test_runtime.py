"""The step runtime on its own: the call-spec contract, code loading, its weight, and the bundle."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlopsdsl.runtime import execute
from mlopsdsl.runtime.bundle import BOOTSTRAP, bundle
from mlopsdsl.runtime.payload import pickle_function

HELPERS = """
import json

PREFIX = "n="

def describe(n):
    return PREFIX + json.dumps(n)

def step(n: int, label: str) -> str:
    return label + ":" + describe(n)

def fields(n: int):
    return (n, n * 2)
"""


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "rt_helpers.py").write_text(HELPERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    sys.modules.pop("rt_helpers", None)
    import rt_helpers

    yield rt_helpers
    sys.modules.pop("rt_helpers", None)


def _runtime(*args: str, cwd: Path, python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = python or [sys.executable, "-m", "mlopsdsl.runtime"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _value_spec(tmp_path: Path, fn: Any, **extra: Any) -> dict[str, Any]:
    (tmp_path / "fn.pkl").write_bytes(pickle_function(fn))
    spec = {
        "version": 1,
        "step": "step",
        "code": {
            "mode": "value",
            "file": str(tmp_path / "fn.pkl"),
            "python": "{}.{}".format(*sys.version_info[:2]),
        },
        "inputs": [
            {"name": "n", "kind": "json", "arg": "n"},
            {"name": "label", "kind": "json", "env": "LABEL", "raw": True},
        ],
        "outputs": [
            {"name": "output", "kind": "json", "file": str(tmp_path / "out" / "output"), "raw": True}
        ],
        "returns": "single",
        "result": str(tmp_path / "result.json"),
    }
    spec.update(extra)
    return spec


def test_by_value_step_runs_in_a_fresh_interpreter(tmp_path: Path, helpers: Any) -> None:
    spec = _value_spec(tmp_path, helpers.step)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "mlopsdsl.runtime", "spec.json", "--arg", "n=[1, 2]"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"LABEL": 'a "{{raw}}" $(x)', "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "output").read_text() == 'a "{{raw}}" $(x):n=[1, 2]'
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["ok"] and result["outputs"]["output"]["value"] == 'a "{{raw}}" $(x):n=[1, 2]'


def test_python_version_mismatch_is_reported_and_not_retried(tmp_path: Path, helpers: Any) -> None:
    spec = _value_spec(tmp_path, helpers.step)
    spec["code"]["python"] = "3.99"
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = _runtime("spec.json", "--arg", "n=1", cwd=tmp_path)
    assert done.returncode == 2
    assert "step 'step' was pickled by Python 3.99, but this is Python 3." in done.stderr
    assert "python:3.99 image" in done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["error"]["phase"] == "load" and result["error"]["retry"] is False


def test_import_mode_and_the_runtime_stays_light(tmp_path: Path, helpers: Any) -> None:
    spec = {
        "version": 1,
        "step": "fields",
        "code": {"mode": "import", "module": "rt_helpers", "qualname": "fields"},
        "sys_path": [str(tmp_path)],
        "inputs": [{"name": "n", "kind": "json", "value": 4}],
        "outputs": [
            {"name": "a", "kind": "json"},
            {"name": "b", "kind": "object", "file": str(tmp_path / "b")},
        ],
        "returns": "fields",
        "result": str(tmp_path / "result.json"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    probe = textwrap.dedent(
        """
        import runpy, sys
        sys.argv = ["runtime", "spec.json"]
        try:
            runpy.run_module("mlopsdsl.runtime", run_name="__main__")
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        heavy = ("pydantic", "typer", "rich", "yaml", "fsspec")
        heavy += ("mlopsdsl.ir", "mlopsdsl._step", "mlopsdsl.local", "mlopsdsl.runtime._cache")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["outputs"]["a"] == {"kind": "json", "value": 4}
    assert (
        result["outputs"]["b"]["format"] in ("cloudpickle", "pickle")
        and len(result["outputs"]["b"]["sha256"]) == 64
    )


def test_bundle_runs_a_by_value_step_without_site_packages(tmp_path: Path, helpers: Any) -> None:
    (tmp_path / "runtime.zip").write_bytes(bundle())
    assert bundle() == (tmp_path / "runtime.zip").read_bytes()  # deterministic
    spec = _value_spec(tmp_path, helpers.step)
    spec["inputs"][1] = {"name": "label", "kind": "json", "value": "x"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    # -I -S: no site-packages, no PYTHONPATH: neither mlopsdsl nor cloudpickle is installed for it.
    python = [sys.executable, "-I", "-S", "-c", BOOTSTRAP, str(tmp_path / "runtime.zip")]
    done = _runtime("spec.json", "--arg", "n=3", cwd=tmp_path, python=python)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "output").read_text() == "x:n=3"


def test_errors_carry_the_users_traceback_and_phase(helpers: Any) -> None:
    def broken(n: int) -> int:
        return helpers.describe(n) + 1  # str + int

    spec = {
        "version": 1,
        "step": "broken",
        "code": {"mode": "import", "module": "x", "qualname": "y"},
        "inputs": [{"name": "n", "kind": "json", "value": 1}],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
    }
    result = execute(spec, function=broken)
    error = result["error"]
    assert not result["ok"] and error["phase"] == "call" and error["type"] == "TypeError"
    assert "in broken" in error["traceback"] and "mlopsdsl/runtime" not in error["traceback"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 7}, "call spec version 7 is not readable"),
        ({"returns": "maybe"}, "spec.returns: one of single, fields, none"),
        (
            {"inputs": [{"name": "n", "kind": "json"}]},
            "inputs.n: give exactly one of value, file, env or arg",
        ),
        (
            {"inputs": [{"name": "n", "kind": "object", "value": 1}]},
            "inputs.n: an object input is read from a file",
        ),
    ],
)
def test_malformed_specs_are_not_retried(change: dict[str, Any], message: str) -> None:
    spec = {
        "version": 1,
        "step": "s",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [],
        "outputs": [],
        "returns": "none",
        **change,
    }
    result = execute(spec)
    assert result["error"]["phase"] == "spec" and result["error"]["retry"] is False
    assert message in result["error"]["message"]


def test_a_damaged_stored_input_fails_its_digest_check(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"not what was written")
    spec = {
        "version": 1,
        "step": "s",
        "code": {"mode": "import", "module": "m", "qualname": "f"},
        "inputs": [{"name": "x", "kind": "object", "file": str(tmp_path / "blob"), "sha256": "0" * 64}],
        "outputs": [],
        "returns": "none",
    }
    result = execute(spec, function=lambda x: None)
    assert (
        result["error"]["type"] == "IntegrityError" and "was changed or damaged" in result["error"]["message"]
    )
