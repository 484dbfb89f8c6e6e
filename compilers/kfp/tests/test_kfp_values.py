"""Values on KFP: numbers held as doubles (and what that costs), Kubernetes' ``$(VAR)`` expansion, and
artifact metadata through the executor output, as KFP's driver, launcher and UI see them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlopsdsl_kfp.testing import held, render, to_json

import mlopsdsl as ml
from mlopsdsl.errors import CompileError
from mlopsdsl.testing import EmulatorError, kube_expand, run_kfp


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (7, "7"),
        (2.5, "2.5"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (1e23, "100000000000000000000000"),
        (99999999999999999999999, "100000000000000000000000"),  # the double nearest to it
        (2**53 + 1, "9007199254740992"),
        (123456789.125, "123456789.125"),
        (True, "true"),
        (None, ""),
        ("1.0", "1.0"),
        ([1.0, 1e21, 1e-7, 0.5, "<&>"], '[1,1e+21,1e-7,0.5,"\\u003c\\u0026\\u003e"]'),
        ({"b": 2.0, "a": {"z": None, "y": [True]}}, '{"a":{"y":[true],"z":null},"b":2}'),
    ],
)
def test_values_are_rendered_as_the_launcher_renders_them(value: Any, text: str) -> None:
    """``PBValueToText``: Go's ``FormatFloat(v, 'f', -1, 64)`` for numbers, protobuf JSON (keys sorted,
    exponent form outside [1e-6, 1e21)) compacted by ``encoding/json`` for lists and structs."""
    assert render(held(value)) == text


def test_protobuf_json_numbers() -> None:
    assert [to_json(x) for x in (1e20, 1e21, 1.5e-6, 1e-6, 9.99e-7, -2.5e30)] == [
        "100000000000000000000",
        "1e+21",
        "0.0000015",
        "0.000001",
        "9.99e-7",
        "-2.5e+30",
    ]


def test_kubernetes_expands_defined_variables_and_unescapes_dollars() -> None:
    env = {"A": "x", "B": "$(A)"}
    assert kube_expand("$(A) $(B) $(C) $$(A) $$$$ $ $( $((1+1)) end$", env) == (
        "x $(A) $(C) $(A) $$ $ $( $((1+1)) end$"
    )


def test_env_values_reach_the_step_exactly(tmp_path: Path) -> None:
    """Kubernetes expands ``$(VAR)`` in env values (``$$`` is its escape): KFP env values are written with
    every ``$`` doubled, so the step sees the text that was given."""
    given = {"PRICE": "$(HOME) costs $$5 or $5", "REF": "$(PRICE)", "PLAIN": "no dollars"}

    @ml.step(env=given)
    def read_env() -> dict[str, str]:
        import os

        return {name: os.environ[name] for name in ("PRICE", "REF", "PLAIN")}

    @ml.pipeline(name="env-values")
    def env_values() -> dict[str, str]:
        return read_env()

    text = ml.compile(env_values, backend="kfp", functions=env_values.step_functions())
    spec = next(yaml.safe_load_all(text))
    env = {
        e["name"]: e["value"]
        for e in spec["deploymentSpec"]["executors"]["exec-read-env"]["container"]["env"]
    }
    assert env == {"PLAIN": "no dollars", "PRICE": "$$(HOME) costs $$$$5 or $$5", "REF": "$$(PRICE)"}
    assert run_kfp(text, {}, workdir=tmp_path).outputs == {"output": given}
    # Written as given, Kubernetes would have expanded the reference: the escaping is what keeps it.
    assert kube_expand(given["REF"], {"PRICE": "x"}) == "x"


BIG = 99999999999999999999999


def test_a_default_a_double_would_round_is_refused_at_its_line() -> None:
    @ml.step
    def keep(n: int) -> int:
        return n

    @ml.pipeline(name="big-default")
    def big_default(n: int = BIG) -> int:
        return keep(n=n)

    with pytest.raises(CompileError) as caught:
        ml.compile(big_default, backend="kfp", functions=big_default.step_functions())
    line = big_default.build().pipeline.params[0].location
    where = caught.value.location
    assert (
        line is not None and where is not None and where.file.endswith(line.file) and where.line == line.line
    )
    assert f"the default of parameter 'n' is {BIG}, beyond ±(2**53 - 1)" in str(caught.value)
    assert "1e+23" in str(caught.value)


def test_a_constant_a_double_would_round_is_refused_at_its_call() -> None:
    @ml.step
    def keep_all(values: list[int]) -> list[int]:
        return values

    @ml.pipeline(name="big-constant")
    def big_constant() -> list[int]:
        return keep_all(values=[1, -(2**60)])

    with pytest.raises(CompileError) as caught:
        ml.compile(big_constant, backend="kfp", functions=big_constant.step_functions())
    task = big_constant.build().pipeline.tasks[0].location
    where = caught.value.location
    assert (
        task is not None and where is not None and where.file.endswith(task.file) and where.line == task.line
    )
    assert "input 'values'[1] is -1152921504606846976" in str(caught.value)


def test_the_largest_int_a_double_holds_is_written() -> None:
    @ml.step
    def keep_all(values: list[int]) -> list[int]:
        return values

    @ml.pipeline(name="largest")
    def largest() -> list[int]:
        return keep_all(values=[2**53 - 1, -(2**53 - 1)])

    text = ml.compile(largest, backend="kfp", functions=largest.step_functions())
    task = next(yaml.safe_load_all(text))["root"]["dag"]["tasks"]["keep-all"]
    assert task["inputs"]["parameters"]["values"]["runtimeValue"]["constant"] == [2**53 - 1, -(2**53 - 1)]


def test_artifact_metadata_lands_on_the_artifact_kfp_records(tmp_path: Path) -> None:
    """The step writes its artifacts' metadata to the executor output (``outputs.outputFile`` of the
    executor input); the launcher merges it into the artifact it records, which is what the UI shows."""

    @ml.step
    def produce(n: int) -> ml.Model:
        model = ml.Model.new("m.txt", metadata={"accuracy": 0.93, "epochs": n, "framework": "none"})
        Path(model.path).write_text("weights")
        return model

    @ml.step
    def describe(model: ml.Model) -> str:
        return json.dumps(model.metadata, sort_keys=True)

    @ml.pipeline(name="metadata")
    def metadata(n: int = 3) -> str:
        return describe(model=produce(n=n))

    text = ml.compile(metadata, backend="kfp", functions=metadata.step_functions())
    spec = next(yaml.safe_load_all(text))
    args = spec["deploymentSpec"]["executors"]["exec-produce"]["container"]["args"]
    call = json.loads(args[args.index("--spec-json") + 1])
    assert call["executor_output"] == {"arg": "mlopsdsl-executor-output"} and "{{$}}" in args
    consumer = spec["deploymentSpec"]["executors"]["exec-describe"]["container"]["args"]
    assert "{{$}}" in consumer  # every step writes its metrics artifact's metadata there too

    run = run_kfp(text, {}, workdir=tmp_path)
    assert run.succeeded, run.logs
    recorded = run.artifacts["produce"]["output"]
    assert recorded["metadata"] == {"accuracy": 0.93, "epochs": 3, "framework": "none"}
    assert recorded["uri"].startswith("file://")
    assert json.loads(run.outputs["output"]) == {"accuracy": 0.93, "epochs": 3, "framework": "none"}


def test_the_emulator_reads_the_executor_output_as_strictly_as_the_launcher(tmp_path: Path) -> None:
    """An executor output with a field protobuf JSON does not know fails the task, as the launcher's
    ``protojson.Unmarshal`` does; one that names a parameter overrides the parameter's file."""

    @ml.step
    def write(where: str) -> int:
        return 1

    @ml.pipeline(name="executor-output")
    def executor_output(where: str = "") -> int:
        return write(where=where)

    text = ml.compile(executor_output, backend="kfp", functions=executor_output.step_functions())
    # The step's own code writes the file the launcher reads: rewrite its command to do so.
    spec = next(yaml.safe_load_all(text))
    container = spec["deploymentSpec"]["executors"]["exec-write"]["container"]
    writer = (
        "import json, sys; executor = json.loads(sys.argv.pop(1)); "
        "open(executor['outputs']['outputFile'], 'w').write(sys.argv.pop(1))\n"
    )
    container["command"][2] = writer + container["command"][2]
    original = list(container["args"])
    # The runtime would write the executor output after the step (its metrics' metadata): leave it out.
    at = original.index("--spec-json") + 1
    call = json.loads(original[at])
    del call["executor_output"]
    original[at] = json.dumps(call)

    def run_with(output: dict[str, Any]) -> Any:
        container["args"] = ["{{$}}", json.dumps(output), *original]
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        return run_kfp(yaml.safe_dump(spec), {}, workdir=folder)

    assert run_with({"parameterValues": {"output": 7}}).outputs == {"output": 7}
    bad = run_with({"parameterValues": {}, "artefacts": {}})
    assert bad.failed == ["write"] and "failed to unmarshal ExecutorOutput" in bad.logs["write"]


def test_a_float_default_survives_yaml_as_a_float() -> None:
    """``1e+23`` without a dot is a string to a YAML 1.1 reader: floats are written ``1.0e+23``."""

    @ml.step
    def both(a: float, b: float) -> list[float]:
        return [a, b]

    @ml.pipeline(name="floats")
    def floats(x: float = 1e23, y: float = 1e-7) -> list[float]:
        return both(a=x, b=y)

    text = ml.compile(floats, backend="kfp", functions=floats.step_functions())
    defaults = next(yaml.safe_load_all(text))["root"]["inputDefinitions"]["parameters"]
    assert defaults["x"]["defaultValue"] == 1e23 and isinstance(defaults["x"]["defaultValue"], float)
    assert defaults["y"]["defaultValue"] == 1e-7


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1.0, float("-inf")]])
def test_nan_and_infinity_are_no_kfp_values(value: Any) -> None:
    with pytest.raises(EmulatorError, match="no NaN or infinity"):
        held(value)


def test_string_outputs_keep_their_bytes_exactly(tmp_path: Path) -> None:
    """An output parameter's file is read as bytes: ``\\r\\n`` and a lone ``\\r`` stay as they are."""
    text = "line one\r\nline two\rend\n\x0b\u2028"

    @ml.step
    def crlf() -> str:
        return text

    @ml.step
    def same(s: str) -> str:
        if s != text:  # a plain raise: pytest's rewritten assert would need pytest in the step
            raise ValueError(repr(s))
        return s

    @ml.pipeline(name="crlf")
    def crlf_pipeline() -> str:
        return same(s=crlf())

    compiled = ml.compile(crlf_pipeline, backend="kfp", functions=crlf_pipeline.step_functions())
    run = run_kfp(compiled, {}, workdir=tmp_path)
    assert run.outputs == {"output": text}, (run.status, run.failed, run.logs)
