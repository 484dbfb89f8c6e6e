"""Classify wines from their chemistry with pandas and scikit-learn: raw data as a parquet dataset, a
feature step, a fitted model, and an evaluation report in Markdown.

Run it with `mlopsdsl run examples/tabular_sklearn/pipeline.py`.

pandas is imported here because the steps' annotations name `pd.DataFrame` (a data frame is stored as
parquet between steps); scikit-learn only inside the steps that use it.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import NamedTuple

import pandas as pd

import mlopsdsl as ml

PACKAGES = ["scikit-learn", "pandas", "pyarrow"]


class Tables(NamedTuple):
    train: ml.Dataset
    test: ml.Dataset


class Scores(NamedTuple):
    accuracy: float
    baseline: float
    """The accuracy of always answering the most common class of the training set."""
    report: str


@ml.step(packages=PACKAGES)
def load(test_fraction: float = 0.3, seed: int = 0) -> Tables:
    """The wine data set that ships with scikit-learn, split into two parquet files."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    frame = load_wine(as_frame=True).frame
    train, test = train_test_split(
        frame, test_size=test_fraction, random_state=seed, stratify=frame["target"]
    )
    tables = []
    for name, part in (("train", train), ("test", test)):
        data = ml.Dataset.new(f"{name}.parquet", metadata={"rows": len(part), "columns": list(part.columns)})
        part.reset_index(drop=True).to_parquet(data.path)
        tables.append(data)
    return Tables(train=tables[0], test=tables[1])


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    """Ratios that chemists read, next to the raw columns; the label is kept as it is."""
    out = frame.copy()
    out["phenols_ratio"] = out["flavanoids"] / out["total_phenols"]
    out["colour_per_hue"] = out["color_intensity"] / out["hue"]
    out["log_proline"] = out["proline"].apply(math.log)
    return out


@ml.step(packages=PACKAGES)
def features(data: ml.Dataset) -> pd.DataFrame:
    """The feature table of one split (stored as parquet by mlopsdsl, since it is a DataFrame)."""
    return _features(pd.read_parquet(data.path))


@ml.step(packages=PACKAGES)
def fit(table: pd.DataFrame, c: float = 1.0) -> ml.Model:
    """A scaled logistic regression, pickled into a model file."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = table.drop(columns="target"), table["target"]
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
    estimator.fit(x, y)
    model = ml.Model.new("wine.pkl", metadata={"features": list(x.columns), "c": c})
    Path(model.path).write_bytes(pickle.dumps(estimator))
    return model


@ml.step(packages=PACKAGES)
def evaluate(model: ml.Model, train: pd.DataFrame, test: pd.DataFrame) -> Scores:
    """Accuracy, a trivial baseline, and a Markdown report with the confusion matrix."""
    from sklearn.metrics import confusion_matrix

    estimator = pickle.loads(Path(model.path).read_bytes())
    x, y = test.drop(columns="target"), test["target"]
    predicted = estimator.predict(x)
    accuracy = float((predicted == y).mean())
    baseline = float((y == train["target"].mode()[0]).mean())
    matrix = confusion_matrix(y, predicted)
    classes = sorted(y.unique())
    lines = [
        "# Wine classifier",
        "",
        f"Test rows: {len(y)}; accuracy **{accuracy:.3f}** (always the most common class: {baseline:.3f}).",
        "",
        "| true \\ predicted | " + " | ".join(str(c) for c in classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    lines += [
        f"| {c} | " + " | ".join(str(n) for n in row) + " |" for c, row in zip(classes, matrix, strict=True)
    ]
    return Scores(accuracy=accuracy, baseline=baseline, report="\n".join(lines) + "\n")


@ml.pipeline(name="wine-classifier")
def wine_classifier(c: float = 1.0, test_fraction: float = 0.3) -> Scores:
    """Load the wine data, build features, fit, evaluate."""
    tables = load(test_fraction=test_fraction)
    train = features(data=tables.train)
    test = features(data=tables.test)
    model = fit(table=train, c=c)
    return evaluate(model=model, train=train, test=test)
