"""Stored values on Argo know where they are: each goes to a key of ours, as it is, and the step that reads
it gets its URI (``ml.Artifact.uri``), when the bucket is known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlopsdsl_argo import S3Repository, SecretKey

import mlopsdsl as ml
from mlopsdsl.errors import CompileError
from mlopsdsl.testing import run_argo

REPO = S3Repository(
    "ml-bucket", "minio:9000", SecretKey("s3", "id"), SecretKey("s3", "key"), key_prefix="runs"
)


@ml.step
def write_data(n: int) -> ml.Dataset:
    data = ml.Dataset.new("d.txt", metadata={"n": n})
    Path(data.path).write_text("x" * n)
    return data


@ml.step
def where(data: ml.Dataset) -> list[str]:
    return [str(data.uri), json.dumps(data.metadata), Path(data.path).read_text()]


@ml.step
def where_all(parts: list[ml.Dataset]) -> list[str]:
    return [str(p.uri) for p in parts]


@ml.pipeline
def located(n: int = 2) -> list[str]:
    return where(data=write_data(n=n))


@ml.pipeline
def located_all(ns: list[int] = [1, 2]) -> list[str]:  # noqa: B006 - a JSON default
    return where_all(parts=write_data.map(n=ns))


def _writer(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    template: dict[str, Any] = next(t for t in data["spec"]["templates"] if t["name"] == "write-data")
    return template


def test_stored_outputs_go_to_our_key_as_they_are() -> None:
    default = _writer(ml.compile(located, backend="argo"))
    assert default["outputs"]["artifacts"] == [
        {
            "name": "output",
            "path": "/tmp/mlopsdsl/outputs/output",
            "archive": {"none": {}},
            "s3": {"key": "mlopsdsl/{{workflow.name}}/{{pod.name}}/output"},
        }
    ]
    assert "--uri" not in default["container"]["args"]  # no bucket known: no URI to tell

    named = _writer(ml.compile(located, backend="argo", artifact_bucket="lake"))
    args = named["container"]["args"]
    assert args[args.index("--uri") + 1] == "output=s3://lake/mlopsdsl/{{workflow.name}}/{{pod.name}}/output"

    explicit = _writer(ml.compile(located, backend="argo", artifact_repository=REPO))
    (artifact,) = explicit["outputs"]["artifacts"]
    assert artifact["archive"] == {"none": {}}
    assert (
        artifact["s3"]["bucket"] == "ml-bucket"
        and artifact["s3"]["key"] == "runs/{{workflow.name}}/{{pod.name}}/output"
    )
    args = explicit["container"]["args"]
    assert args[args.index("--uri") + 1] == "output=s3://ml-bucket/runs/{{workflow.name}}/{{pod.name}}/output"


def test_the_step_gets_the_uri_of_what_it_reads(tmp_path: Path) -> None:
    run = run_argo(ml.compile(located, backend="argo", artifact_repository=REPO), {}, workdir=tmp_path)
    assert run.succeeded, run.logs
    uri, metadata, content = run.outputs["output"]
    assert uri.startswith("s3://ml-bucket/runs/emulated/pod-") and uri.endswith("/output")
    assert json.loads(metadata) == {"n": 2} and content == "xx"
    # The key names the bytes themselves (no archive): the emulated repository holds the file there.
    key = uri.removeprefix("s3://ml-bucket/")
    assert (tmp_path / "repository" / key).read_text() == "xx"


def test_collected_stored_values_keep_their_uris(tmp_path: Path) -> None:
    text = ml.compile(located_all, backend="argo", artifact_bucket="lake")
    run = run_argo(text, {}, workdir=tmp_path)
    assert run.succeeded, run.logs
    uris = run.outputs["output"]
    assert len(uris) == 2 and len(set(uris)) == 2
    # Each run's output under the loop's prefix: PREFIX/WORKFLOW/DAG/TASK/OUTPUT/POD.
    assert all(u.startswith("s3://lake/mlopsdsl/emulated/") and "/output/pod-" in u for u in uris), uris


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"artifact_bucket": "lake", "artifact_repository": REPO}, "with artifact_repository the bucket is"),
        ({"artifact_bucket": ""}, "artifact_bucket must be a bucket name"),
        ({"artifact_bucket": "a/b"}, "artifact_bucket must be a bucket name"),
    ],
)
def test_artifact_bucket_is_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(CompileError, match=message):
        ml.compile(located, backend="argo", **options)
