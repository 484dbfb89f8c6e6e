"""Importers on KFP: an artifact parameter of the run pipeline compiles to a STRING pipeline parameter read
by an ``import-<name>`` task (never cached), and the package passes the strict PipelineSpec parse. The
emulated runs are in ``tests/conformance`` (``import-file-uri``)."""

from __future__ import annotations

from pathlib import Path

import yaml
from kfp_server import check_package

import mlopsdsl as ml


@ml.step
def rows(data: ml.Dataset) -> int:
    return len(Path(data.path).read_text().splitlines())


@ml.pipeline
def imported(data: ml.Dataset, label: str = "x") -> int:
    return rows(data=data)


def test_the_import_is_a_task_of_a_string_parameter_never_cached() -> None:
    docs = list(
        yaml.safe_load_all(ml.compile(imported, backend="kfp", params={"data": "s3://bucket/rows.csv"}))
    )
    check_package(docs)
    spec = docs[0]
    assert spec["root"]["inputDefinitions"]["parameters"]["data"] == {
        "defaultValue": "s3://bucket/rows.csv",
        "isOptional": True,
        "parameterType": "STRING",
    }
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["import-data"]["inputs"]["parameters"]["uri"] == {"componentInputParameter": "data"}
    assert not tasks["import-data"].get("cachingOptions", {}).get("enableCache")
    assert tasks["rows"]["cachingOptions"] == {"enableCache": True}
    assert tasks["rows"]["inputs"]["artifacts"]["data"]["taskOutputArtifact"]["producerTask"] == "import-data"
