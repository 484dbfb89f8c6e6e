"""A hyper-parameter sweep with `.map`: one training per setting, at most `max_parallel` at once, then a
fan-in step that receives every model and its score and picks the best.

Run it with `mlopsdsl run examples/sweep/pipeline.py`.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import NamedTuple

import mlopsdsl as ml

PACKAGES = ["scikit-learn", "numpy"]


class Trial(NamedTuple):
    model: ml.Model
    accuracy: float


class Best(NamedTuple):
    model: ml.Model
    c: float
    accuracy: float
    tried: int


@ml.step(packages=PACKAGES)
def split(seed: int = 0) -> ml.Dataset:
    """The bundled digits, split once so that every trial sees the same rows."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    parts = train_test_split(digits.data / 16.0, digits.target, test_size=0.3, random_state=seed)
    data = ml.Dataset.new("digits.npz")
    with open(data.path, "wb") as out:
        np.savez(out, **dict(zip(["x_train", "x_test", "y_train", "y_test"], parts, strict=True)))
    return data


@ml.step(packages=PACKAGES, retry=ml.Retry(attempts=2, backoff="5s"))
def trial(data: ml.Dataset, c: float) -> Trial:
    """Fit a logistic regression with inverse regularisation ``c``; its test accuracy."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    with np.load(data.path) as arrays:
        fitted = LogisticRegression(C=c, max_iter=2000).fit(arrays["x_train"], arrays["y_train"])
        accuracy = float(fitted.score(arrays["x_test"], arrays["y_test"]))
    model = ml.Model.new("model.pkl", metadata={"c": c, "accuracy": accuracy})
    Path(model.path).write_bytes(pickle.dumps(fitted))
    return Trial(model=model, accuracy=accuracy)


@ml.step
def pick(models: list[ml.Model], accuracies: list[float], cs: list[float]) -> Best:
    """The best trial; on a tie the first (the strongest regularisation, as the grid is listed)."""
    best = max(range(len(accuracies)), key=lambda i: (accuracies[i], -i))
    return Best(model=models[best], c=cs[best], accuracy=accuracies[best], tried=len(models))


@ml.pipeline(name="digits-sweep")
def digits_sweep(cs: list[float] = [0.001, 0.01, 0.1, 1.0, 10.0]) -> Best:  # noqa: B006
    """Train one model per value of ``cs`` (two at a time), then keep the best."""
    data = split()
    trials = trial.map(data=data, c=cs, max_parallel=2)
    return pick(models=trials.model, accuracies=trials.accuracy, cs=cs)
