"""Importers on Argo: an artifact parameter of the run pipeline compiles to a workflow parameter (the URI)
read by an ``import-<name>`` task, and the workflow passes the strict checks. The emulated runs are in
``tests/conformance`` (``import-file-uri``)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

import mlopsdsl as ml
from mlopsdsl import backends


@ml.step
def rows(data: ml.Dataset) -> int:
    return len(Path(data.path).read_text().splitlines())


@ml.pipeline
def imported(data: ml.Dataset, label: str = "x") -> int:
    return rows(data=data)


def test_the_import_is_a_task_reading_the_workflow_parameter() -> None:
    text = ml.compile(imported, backend="argo", params={"data": "s3://bucket/rows.csv"})
    assert backends.load("argo").validate_compiled(text) == []
    workflow = yaml.safe_load(text)
    arguments = {p["name"]: p.get("value") for p in workflow["spec"]["arguments"]["parameters"]}
    assert json.loads(arguments["data"]) == "s3://bucket/rows.csv"
    dag = next(t for t in workflow["spec"]["templates"] if t["name"] == workflow["spec"]["entrypoint"])
    tasks = {t["name"]: t for t in dag["dag"]["tasks"]}
    uri = next(p for p in tasks["import-data"]["arguments"]["parameters"] if p["name"] == "uri")
    assert uri["value"] == "{{inputs.parameters.data}}"  # the entry template passes the workflow parameter
    assert "import-data" in tasks["rows"]["depends"]
