"""``ml.Markdown``, ``ml.HTML`` and ``ml.ClassificationMetrics`` as step outputs on every backend: KFP
artifacts of kfp's own schema titles with the metadata keys its UI reads, Argo output artifacts, local
artifacts with their metadata."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import mlopsdsl as ml
from mlopsdsl import backends
from mlopsdsl.testing import run_argo, run_kfp

sys.path.insert(0, str(Path(__file__).parent))
from rich_pipelines import rich

MATRIX = {
    "annotationSpecs": [{"displayName": "cat"}, {"displayName": "dog"}],
    "rows": [{"row": [8, 2]}, {"row": [1, 9]}],
}
EXPECTED = len("# Results\n\naccuracy **90%**") + 20


def test_local(tmp_path: Path) -> None:
    result = ml.run(rich, home=tmp_path, progress=False)
    assert result.output == EXPECTED
    record = result.step("evaluate").outputs["output"]
    assert record["type"] == "ClassificationMetrics"
    assert record["metadata"]["confusionMatrix"] == MATRIX
    assert record["metadata"]["confidenceMetrics"][1] == {
        "confidenceThreshold": 0.5,
        "recall": 0.9,
        "falsePositiveRate": 0.2,
    }
    assert result.step("summary").outputs["output"]["type"] == "Markdown"


def test_kfp_artifacts_carry_kfp_schema_titles_and_ui_metadata(tmp_path: Path) -> None:
    import yaml

    text = ml.compile(rich, backend="kfp")
    chosen = backends.load("kfp")
    assert isinstance(chosen, backends.Validates) and chosen.validate_compiled(text) == []
    components = next(yaml.safe_load_all(text))["components"]
    titles = {
        name: c["outputDefinitions"]["artifacts"]["output"]["artifactType"]["schemaTitle"]
        for name, c in components.items()
        if "output" in c.get("outputDefinitions", {}).get("artifacts", {})
    }
    assert titles == {
        "comp-summary": "system.Markdown",
        "comp-page": "system.HTML",
        "comp-evaluate": "system.ClassificationMetrics",
    }
    run = run_kfp(text, {}, workdir=tmp_path)
    assert run.succeeded, run.logs
    assert run.outputs["output"] == EXPECTED
    recorded = run.artifacts["evaluate"]["output"]["metadata"]
    assert recorded["confusionMatrix"] == MATRIX and len(recorded["confidenceMetrics"]) == 3


def test_argo_outputs_are_artifacts(tmp_path: Path) -> None:
    import yaml

    text = ml.compile(rich, backend="argo")
    templates = {t["name"]: t for t in yaml.safe_load(text)["spec"]["templates"]}
    assert [a["name"] for a in templates["evaluate"]["outputs"]["artifacts"]] == ["output"]
    run = run_argo(text, {}, workdir=tmp_path)
    assert run.succeeded, run.logs
    assert run.outputs["output"] == EXPECTED


def test_our_kinds_are_kfps_own_types() -> None:
    types = pytest.importorskip("kfp.dsl.types.artifact_types")
    for name in ("Markdown", "HTML", "ClassificationMetrics", "Metrics"):
        assert getattr(types, name).schema_title == f"system.{name}"
    # What kfp's own ClassificationMetrics writes is what ours writes.
    theirs = types.ClassificationMetrics(name="c")
    theirs.log_confusion_matrix(["cat", "dog"], [[8, 2], [1, 9]])
    theirs.log_roc_curve([0.0, 0.2], [0.0, 0.9], [1.0, 0.5])
    ours = ml.ClassificationMetrics.build(
        labels=["cat", "dog"], matrix=[[8, 2], [1, 9]], roc=[(0.0, 0.0, 1.0), (0.2, 0.9, 0.5)]
    )
    assert ours.metadata == theirs.metadata


@pytest.mark.parametrize(
    ("labels", "matrix", "roc"),
    [
        (["a"], [[1, 2]], None),
        (["a", "b"], [[1, 2]], None),
        (["a"], [[1.5]], None),
        (None, None, [(0.1, 0.2)]),
    ],
)
def test_bad_classification_figures_are_refused(labels: object, matrix: object, roc: object) -> None:
    with pytest.raises(ValueError):
        ml.ClassificationMetrics.build(labels=labels, matrix=matrix, roc=roc)  # type: ignore[arg-type]


def test_from_text_takes_text() -> None:
    note = ml.Markdown.from_text("# hi")
    assert note.read_text() == "# hi" and note.path.endswith("report.md")
    with pytest.raises(TypeError):
        ml.HTML.from_text(b"<p>")  # type: ignore[arg-type]
