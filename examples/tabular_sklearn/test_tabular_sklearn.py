"""The tabular example fits a real model on real data: locally and through every backend's emulator it
beats always answering the most common class, and its report shows the numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conftest import assert_picture_is_current, run_on

import mlopsdsl as ml
from tabular_sklearn.pipeline import _features, wine_classifier


def check(outputs: dict[str, object]) -> None:
    accuracy, baseline, report = outputs["accuracy"], outputs["baseline"], outputs["report"]
    assert isinstance(accuracy, float) and isinstance(baseline, float) and isinstance(report, str)
    assert baseline < 0.5 < 0.9 < accuracy  # three classes, the largest ~40% of the rows
    assert f"accuracy **{accuracy:.3f}**" in report
    assert report.count("\n| ") == 4  # the header and one row per class


def test_local_run(tmp_path: Path) -> None:
    result = ml.run(wine_classifier, home=tmp_path / "home", progress=False)
    check(result.outputs)
    features = result.step("features").outputs["output"]
    assert features["format"] == "parquet"  # a DataFrame travels between steps as parquet


def test_runs_through_every_backend(backend: str, tmp_path: Path) -> None:
    check(run_on(backend, wine_classifier, {}, tmp_path).outputs)


def test_features_as_plain_python() -> None:
    frame = pd.DataFrame(
        {
            "flavanoids": [2.0],
            "total_phenols": [4.0],
            "color_intensity": [6.0],
            "hue": [2.0],
            "proline": [1.0],
        }
    )
    out = _features(frame)
    assert out.loc[0, ["phenols_ratio", "colour_per_hue", "log_proline"]].tolist() == [0.5, 3.0, 0.0]
    assert "phenols_ratio" not in frame  # the input is not changed


def test_picture_is_current() -> None:
    assert_picture_is_current("tabular_sklearn")
