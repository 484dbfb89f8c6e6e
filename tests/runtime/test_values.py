"""Inputs are rebuilt as the step declares them; values that travel as doubles cannot lose an int silently;
artifact metadata goes to KFP's executor output in KFP's own format."""

from __future__ import annotations

import dataclasses
import enum
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel

import mlopsdsl as ml
from mlopsdsl.runtime import execute
from mlopsdsl.runtime._values import SAFE_INT, LossyValue, check_float64, from_json, to_json
from mlopsdsl.runtime.bundle import bundle, unpack
from mlopsdsl.runtime.payload import pickle_function


class Shade(enum.Enum):
    DARK = "dark"
    LIGHT = "light"


class Rank(enum.IntEnum):
    ONE = 1
    TWO = 2


@dataclasses.dataclass
class Point:
    x: float
    tags: tuple[str, ...]
    shade: Shade
    near: list[Point] = dataclasses.field(default_factory=list)


class Config(BaseModel):
    rate: float
    sizes: tuple[int, ...]


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (float, 1, 1.0),
        (float, 2.5, 2.5),
        (float, True, True),  # not a number in disguise: validation's business, left as it is
        (int, 3.0, 3),
        (int, 2.5, 2.5),
        (int, float(2**60), float(2**60)),  # beyond what a double holds exactly: not made an int here
        (bool, True, True),
        (str, "1.0", "1.0"),
        (tuple[float, ...], [1, 2.5], (1.0, 2.5)),
        (tuple[int, str], [1, "a"], (1, "a")),
        (tuple, [1], (1,)),
        (list[float], [1, 2], [1.0, 2.0]),
        (dict[str, float], {"a": 1}, {"a": 1.0}),
        (dict[str, tuple[int, ...]], {"a": [1]}, {"a": (1,)}),
        (Optional[float], 1, 1.0),  # noqa: UP045 - the spelling users write
        (float | None, None, None),
        (Annotated[float, "unit"], 1, 1.0),
        (Literal["a", "b"], "a", "a"),
        (Any, {"k": [1]}, {"k": [1]}),
        (Shade, "dark", Shade.DARK),
        (Rank, 2, Rank.TWO),
        (list[Shade], ["light"], [Shade.LIGHT]),
        (Config, {"rate": 1, "sizes": [2]}, Config(rate=1.0, sizes=(2,))),
        (
            Point,
            {"x": 1, "tags": ["t"], "shade": "dark", "near": [{"x": 2, "tags": [], "shade": "light"}]},
            Point(1.0, ("t",), Shade.DARK, [Point(2.0, (), Shade.LIGHT)]),
        ),
    ],
)
def test_json_is_rebuilt_as_the_annotation_declares(annotation: Any, value: Any, expected: Any) -> None:
    rebuilt = from_json(annotation, value)
    assert rebuilt == expected
    assert repr(rebuilt) == repr(expected)  # the type too: 1 == 1.0, but a float prints as one


def test_enums_of_str_and_int_are_written_as_their_values() -> None:
    written = to_json({"a": Shade.DARK, "b": Rank.TWO, "c": [Point(1.0, ("t",), Shade.LIGHT)]}, "output")
    assert json.dumps(written) == (
        '{"a": "dark", "b": 2, "c": [{"x": 1.0, "tags": ["t"], "shade": "light", "near": []}]}'
    )
    assert type(written["b"]) is int


@pytest.mark.parametrize(
    "value", [SAFE_INT, -SAFE_INT, 2.0**80, [1, {"a": SAFE_INT}], True, "99999999999999999999"]
)
def test_values_a_double_holds_pass(value: Any) -> None:
    check_float64(value, "input 'n'")


@pytest.mark.parametrize(
    ("value", "where"),
    [(SAFE_INT + 1, "input 'n'"), (-(2**63), "input 'n'"), ([1, {"a": 10**23}], "input 'n'[1]['a']")],
)
def test_ints_a_double_would_round_are_refused(value: Any, where: str) -> None:
    with pytest.raises(LossyValue, match=r"beyond ±\(2\*\*53 - 1\)") as caught:
        check_float64(value, "input 'n'")
    assert str(caught.value).startswith(where + " is ")


def _spec(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "step": "step",
        "code": {"mode": "import", "module": "unused", "qualname": "unused"},
        "inputs": inputs,
        "outputs": outputs,
        "returns": "single" if outputs else "none",
        **extra,
    }


def test_a_float64_input_beyond_2_53_fails_and_is_not_retried() -> None:
    def step(n: int) -> int:
        return n

    inputs = [{"name": "n", "kind": "json", "arg": "n", "float64": True}]
    outputs = [{"name": "output", "kind": "json"}]
    ok = execute(_spec(inputs, outputs), function=step, args={"n": str(SAFE_INT)})
    assert ok["ok"] and ok["outputs"]["output"]["value"] == SAFE_INT
    # KFP renders the double 1e23 as below: the int it stood for is gone, so the step must not run.
    failed = execute(_spec(inputs, outputs), function=step, args={"n": "100000000000000000000000"})
    assert not failed["ok"]
    assert failed["error"]["phase"] == "inputs" and failed["error"]["retry"] is False
    assert "input 'n' is 100000000000000000000000, beyond ±(2**53 - 1)" in failed["error"]["message"]
    # Without the mark (JSON text, Argo, the local runner) the same int is exact.
    plain = [{"name": "n", "kind": "json", "arg": "n"}]
    exact = execute(_spec(plain, outputs), function=step, args={"n": "99999999999999999999999"})
    assert exact["outputs"]["output"]["value"] == 99999999999999999999999


def test_a_float64_output_beyond_2_53_fails_before_it_is_rounded(tmp_path: Path) -> None:
    def step() -> dict[str, int]:
        return {"big": 2**64}

    outputs = [{"name": "output", "kind": "json", "file": str(tmp_path / "out"), "float64": True}]
    failed = execute(_spec([], outputs), function=step)
    assert failed["error"]["phase"] == "outputs" and failed["error"]["retry"] is False
    assert "output 'output'['big'] is 18446744073709551616" in failed["error"]["message"]
    assert not (tmp_path / "out").exists()


def test_artifact_metadata_goes_to_the_executor_output_kfp_reads(tmp_path: Path) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    def step() -> ml.Dataset:
        data = ml.Dataset.new("d.txt", metadata={"rows": 3, "split": "train", "score": 0.5})
        Path(data.path).write_text("abc")
        return data

    outputs = [{"name": "data", "kind": "artifact", "file": str(tmp_path / "data")}]
    where = tmp_path / "kfp" / "output_metadata.json"
    spec = _spec(outputs=outputs, inputs=[], executor_output={"arg": "out"})
    result = execute(spec, function=step, args={"out": str(where)})
    assert result["ok"], result
    message = json_format.Parse(where.read_text(), pipeline_spec_pb2.ExecutorOutput())
    (artifact,) = message.artifacts["data"].artifacts
    assert json_format.MessageToDict(artifact.metadata) == {"rows": 3.0, "split": "train", "score": 0.5}
    assert artifact.uri == ""  # the launcher keeps the URI it chose


def test_a_malformed_executor_output_is_a_spec_error() -> None:
    failed = execute(_spec([], [], executor_output={"file": "x"}), function=lambda: None)
    assert failed["error"]["phase"] == "spec" and "executor_output" in failed["error"]["message"]


DATACLASS_MODULE = """
from __future__ import annotations

import dataclasses
import enum


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Reading:
    value: float
    tags: tuple[str, ...]
    level: Level


def show(reading: Reading) -> str:
    return repr(reading)
"""


def test_a_dataclass_shipped_by_value_is_rebuilt_where_its_module_is_not_importable(tmp_path: Path) -> None:
    """Its fields are annotated with strings (``from __future__ import annotations``) naming a class that
    only the pickled payload carries: the field types travel resolved."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "readings.py").write_text(DATACLASS_MODULE)
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        import readings

        payload = pickle_function(readings.show)
    finally:
        sys.path.remove(str(tmp_path / "src"))
        sys.modules.pop("readings", None)
    (tmp_path / "fn.pkl").write_bytes(payload)
    spec = {
        "version": 1,
        "step": "show",
        "code": {
            "mode": "value",
            "file": str(tmp_path / "fn.pkl"),
            "python": "{}.{}".format(*sys.version_info),
        },
        "inputs": [{"name": "reading", "kind": "json", "arg": "reading"}],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
        "result": str(tmp_path / "result.json"),
    }
    value = json.dumps({"value": 2, "tags": ["a"], "level": 2})
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlopsdsl.runtime",
            "--spec-json",
            json.dumps(spec),
            "--arg",
            f"reading={value}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["outputs"]["output"]["value"] == "Reading(value=2.0, tags=('a',), level=<Level.HIGH: 2>)"


def test_plain_json_inputs_never_import_typing(tmp_path: Path) -> None:
    (tmp_path / "plain_step.py").write_text(
        textwrap.dedent(
            """
            def step(n: int, rate: float, names: list, label: str) -> str:
                return repr((n, rate, names, label))
            """
        )
    )
    spec = {
        "version": 1,
        "step": "step",
        "code": {"mode": "import", "module": "plain_step", "qualname": "step"},
        "sys_path": [str(tmp_path)],
        "inputs": [
            {"name": "n", "kind": "json", "value": 1},
            {"name": "rate", "kind": "json", "value": 2},
            {"name": "names", "kind": "json", "value": ["a"]},
            {"name": "label", "kind": "json", "value": "x", "raw": True},
        ],
        "outputs": [{"name": "output", "kind": "json"}],
        "returns": "single",
        "result": str(tmp_path / "result.json"),
    }
    (tmp_path / "runtime.zip").write_bytes(unpack(bundle(include_cloudpickle=False)))
    probe = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path / "runtime.zip")!r})
        from mlopsdsl.runtime import main
        assert main(["--spec-json", {json.dumps(json.dumps(spec))}]) == 0
        print("typing" in sys.modules)
        """
    )
    # As in a pod: the bundle only, no site-packages.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["outputs"]["output"]["value"] == "(1, 2.0, ['a'], 'x')"


def test_artifact_metadata_that_travels_as_doubles_is_checked_before_anything_is_written(
    tmp_path: Path,
) -> None:
    def step() -> ml.Dataset:
        data = ml.Dataset.new("d.txt", metadata={"checksum": 2**64 - 1})
        Path(data.path).write_text("abc")
        return data

    outputs = [{"name": "data", "kind": "artifact", "file": str(tmp_path / "data"), "float64": True}]
    failed = execute(_spec([], outputs), function=step)
    assert failed["error"]["phase"] == "outputs" and failed["error"]["retry"] is False
    assert "output 'data' metadata['checksum'] is 18446744073709551615" in failed["error"]["message"]
    assert not (tmp_path / "data").exists()
    outputs[0].pop("float64")  # the same metadata where records are JSON text (Argo, local): exact
    assert execute(_spec([], outputs), function=step)["outputs"]["data"]["metadata"] == {
        "checksum": 2**64 - 1
    }
