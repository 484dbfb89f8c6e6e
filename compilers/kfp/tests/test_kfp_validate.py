"""The semantic validator finds what kfp's schema cannot: dangling references, type mismatches, cycles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import kfp_pipelines as pipelines
import pytest
import yaml
from mlopsdsl_kfp import KfpBackend

import mlopsdsl as ml
from mlopsdsl.cli import app

BASE = yaml.safe_load(ml.compile(pipelines.everything, backend="kfp").split("---\n")[0])


def tasks(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["root"]["dag"]["tasks"]


def _unknown_component(spec: dict[str, Any]) -> None:
    tasks(spec)["add"]["componentRef"]["name"] = "comp-missing"


def _unknown_executor(spec: dict[str, Any]) -> None:
    spec["components"]["comp-add"]["executorLabel"] = "exec-missing"


def _unknown_producer(spec: dict[str, Any]) -> None:
    tasks(spec)["add-2"]["inputs"]["parameters"]["b"]["taskOutputParameter"]["producerTask"] = "ghost"


def _unknown_dependency(spec: dict[str, Any]) -> None:
    tasks(spec)["add-2"]["dependentTasks"].append("ghost")


def _undeclared_input(spec: dict[str, Any]) -> None:
    tasks(spec)["add-2"]["inputs"]["parameters"]["zzz"] = {"componentInputParameter": "n"}


def _type_mismatch(spec: dict[str, Any]) -> None:
    spec["components"]["comp-add"]["inputDefinitions"]["parameters"]["a"]["parameterType"] = "STRING"


def _bad_constant(spec: dict[str, Any]) -> None:
    tasks(spec)["add"]["inputs"]["parameters"]["b"] = {"runtimeValue": {"constant": "zero"}}


def _missing_input(spec: dict[str, Any]) -> None:
    del tasks(spec)["add"]["inputs"]["parameters"]["a"]


def _cycle(spec: dict[str, Any]) -> None:
    tasks(spec)["add"]["dependentTasks"].append("add-5")


def _schema(spec: dict[str, Any]) -> None:
    spec["root"]["dag"]["tasks"]["add"]["retryPolicy"] = {"maxRetries": 3}


CASES: list[tuple[Callable[[dict[str, Any]], None], str, str]] = [
    (_unknown_component, "unknown-component", "componentRef 'comp-missing' is not a component"),
    (
        _unknown_executor,
        "unknown-executor",
        "executorLabel 'exec-missing' is not in deploymentSpec.executors",
    ),
    (_unknown_producer, "unknown-task", "producerTask 'ghost' is not a task of this DAG"),
    (_unknown_dependency, "unknown-task", "dependentTasks names 'ghost', not a task of this DAG"),
    (_undeclared_input, "undeclared-input", "input 'zzz' is not declared by its component"),
    (_type_mismatch, "type-mismatch", "input 'a' is STRING but"),
    (_bad_constant, "type-mismatch", "input 'b' is NUMBER_INTEGER but its constant is 'zero'"),
    (_missing_input, "missing-input", "required input 'a' is not bound"),
    (_cycle, "cycle", "the tasks form a cycle"),
    (_schema, "kfp-schema", "maxRetries"),
]


@pytest.mark.parametrize(("damage", "code", "message"), CASES, ids=[c[1] + c[0].__name__ for c in CASES])
def test_validator_reports(damage: Callable[[dict[str, Any]], None], code: str, message: str) -> None:
    import copy

    spec = copy.deepcopy(BASE)
    damage(spec)
    problems = KfpBackend().validate_compiled(yaml.safe_dump(spec))
    assert any(p.code == code and message in p.message for p in problems), problems


def test_platform_spec_must_name_real_executors() -> None:
    text = ml.compile(pipelines.configured, backend="kfp").replace("exec-heavy:\n", "exec-nobody:\n", 1)
    text = text.replace("    exec-heavy:\n", "    exec-nobody:\n")
    problems = KfpBackend().validate_compiled(text)
    assert [p.code for p in problems] == ["unknown-executor"]


def test_validate_command_runs_the_kfp_checks() -> None:
    from typer.testing import CliRunner

    path = Path(pipelines.__file__)
    result = CliRunner().invoke(app, ["validate", f"{path}:configured", "--backend", "kfp"])
    assert result.exit_code == 0, result.output
    assert "checked the IR and the kfp output" in result.output
