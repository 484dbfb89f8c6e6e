"""Serialisers: each built-in format round-trips its values, the format is recorded and never guessed,
libraries load only when their format is used, and a user's registration reaches the step's process."""

from __future__ import annotations

import dataclasses
import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import storage_pipelines as sp

from mlopsdsl.runtime import execute, serializers


@dataclasses.dataclass
class Stamped:
    """JSON cannot hold a datetime faithfully, so this falls back to cloudpickle."""

    at: datetime.datetime


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, pd.DataFrame):
        return isinstance(b, pd.DataFrame) and a.equals(b)
    if isinstance(a, sp.Blob):
        return isinstance(b, sp.Blob) and a.payload == b.payload
    return bool(a == b)


VALUES = [
    pytest.param(np.arange(12, dtype=np.int32).reshape(3, 4), "npy", id="numpy"),
    pytest.param(np.array([1, "a", None], dtype=object), "cloudpickle", id="numpy-object-dtype"),
    pytest.param(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[5, 6]), "parquet", id="pandas"),
    pytest.param(pd.DataFrame({1: [1]}), "cloudpickle", id="pandas-int-columns"),
    pytest.param(sp.Event(name="e", at=datetime.datetime(2026, 1, 2)), "json", id="pydantic"),
    pytest.param(
        sp.Box(label="b", sizes=(1, 2), when=sp.Event(name="e", at=datetime.datetime(2026, 1, 2))),
        "json",
        id="dataclass",
    ),
    pytest.param(Stamped(at=datetime.datetime(2026, 1, 2)), "cloudpickle", id="dataclass-datetime"),
    pytest.param(sp.Blob(b"\x00\x01"), "cloudpickle", id="object"),
    pytest.param({1, 2, 3}, "cloudpickle", id="set"),
    pytest.param(sp.Vocabulary(["x", "y"]), "vocabulary-v1", id="user-registered"),
]


@pytest.mark.parametrize(("value", "fmt"), VALUES)
def test_values_round_trip_in_their_format(tmp_path: Path, value: Any, fmt: str) -> None:
    path = str(tmp_path / "value")
    assert serializers.dump(value, path) == fmt
    assert _equal(value, serializers.load(path, fmt, type(value)))


@pytest.mark.parametrize(("value", "fmt"), [VALUES[0], VALUES[2], VALUES[4], VALUES[5], VALUES[7], VALUES[9]])
def test_values_round_trip_between_steps_through_s3(
    tmp_path: Path, s3_root: str, value: Any, fmt: str
) -> None:
    common = {"version": 1, "code": {"mode": "import", "module": "m", "qualname": "f"}, "returns": "single"}
    produced = execute(
        {
            **common,
            "step": "make",
            "inputs": [],
            "outputs": [{"name": "output", "kind": "object", "store": s3_root}],
        },
        function=lambda: value,
    )
    record = produced["outputs"]["output"]
    assert record["format"] == fmt and record["uri"].startswith(s3_root) and "file" not in record
    box: list[Any] = []

    def consume(v: type(value)) -> int:  # type: ignore[valid-type]
        box.append(v)
        return 1

    spec_input = {
        "name": "v",
        "kind": "object",
        "uri": record["uri"],
        "sha256": record["sha256"],
        "format": fmt,
    }
    consumed = execute(
        {**common, "step": "use", "inputs": [spec_input], "outputs": [{"name": "output", "kind": "json"}]},
        function=consume,
    )
    assert consumed["ok"], consumed
    assert _equal(value, box[0])


def test_a_field_of_a_json_stored_object_can_be_selected(tmp_path: Path) -> None:
    path = str(tmp_path / "event")
    serializers.dump(sp.Event(name="e", at=datetime.datetime(2026, 1, 2)), path)
    assert serializers.load(path, "json", datetime.datetime, ["at"]) == datetime.datetime(2026, 1, 2)
    assert serializers.load(path, "json", None, ["name"]) == "e"
    # Without an annotation, the recorded class is imported.
    assert serializers.load(path, "json") == sp.Event(name="e", at=datetime.datetime(2026, 1, 2))


def test_an_unknown_format_is_reported_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("?")
    with pytest.raises(LookupError, match="no serializer named 'zstd-v9' is registered in this process"):
        serializers.load(str(tmp_path / "x"), "zstd-v9")


def test_registration_rules() -> None:
    with pytest.raises(ValueError, match="'npy' is a built-in format"):
        serializers.register_serializer(sp.Blob, name="npy", dump=print, load=print)
    with pytest.raises(TypeError, match="is not a class"):
        serializers.register_serializer("Blob", name="b", dump=print, load=print)  # type: ignore[arg-type]


def test_the_runtime_imports_numpy_only_for_a_numpy_value(tmp_path: Path) -> None:
    """Reading and writing plain pickles never imports numpy, pandas, pyarrow or fsspec."""
    probe = f"""
import sys
from mlopsdsl.runtime import execute
spec = {{"version": 1, "step": "s", "code": {{"mode": "import", "module": "m", "qualname": "f"}},
        "inputs": [], "outputs": [{{"name": "output", "kind": "object", "file": {str(tmp_path / "o")!r}}}],
        "returns": "single"}}
assert execute(spec, function=lambda: {{1, 2}})["ok"]
spec["inputs"] = [{{"name": "v", "kind": "object", "file": {str(tmp_path / "o")!r}, "format": "cloudpickle"}}]
spec["outputs"] = [{{"name": "output", "kind": "json"}}]
assert execute(spec, function=lambda v: len(v))["ok"]
print(sorted(m for m in ("numpy", "pandas", "pyarrow", "fsspec", "s3fs", "pydantic") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_registrations_travel_with_a_by_value_payload(tmp_path: Path) -> None:
    """The step's process cannot import the module that registered the serialiser: the payload carries it."""
    from mlopsdsl.runtime.payload import pickle_function

    def make() -> sp.Vocabulary:
        return sp.Vocabulary(["p", "q"])

    (tmp_path / "fn.pkl").write_bytes(pickle_function(make))
    spec = {
        "version": 1,
        "step": "make",
        "code": {
            "mode": "value",
            "file": str(tmp_path / "fn.pkl"),
            "python": "{}.{}".format(*sys.version_info[:2]),
        },
        "inputs": [],
        "outputs": [{"name": "output", "kind": "object", "file": str(tmp_path / "out")}],
        "returns": "single",
        "result": str(tmp_path / "result.json"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    src = str(Path(serializers.__file__).parents[2])
    done = subprocess.run(
        [sys.executable, "-m", "mlopsdsl.runtime", "spec.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert (
        json.loads((tmp_path / "result.json").read_text())["outputs"]["output"]["format"] == "vocabulary-v1"
    )
    assert (tmp_path / "out").read_text() == "p\nq"
