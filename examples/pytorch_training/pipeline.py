"""Train a small PyTorch network on the digits that ship with scikit-learn, on the CPU, and register the
model only when it beats the one already registered.

Run it with `mlopsdsl run examples/pytorch_training/pipeline.py -p registry=/tmp/registry` (twice: the
second run trains the same model, which is not better, so nothing is registered).

torch and scikit-learn are imported inside the steps, not at the top of this module: building, drawing and
compiling the pipeline then needs neither, only the step that runs does (`packages=` says what its image
must have).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import mlopsdsl as ml

TORCH = ["torch==2.13.0", "numpy"]
SKLEARN = ["scikit-learn", "numpy"]


class Split(NamedTuple):
    train: ml.Dataset
    test: ml.Dataset


class Evaluation(NamedTuple):
    accuracy: float
    baseline: float
    """The accuracy of always answering the most common digit of the training set."""


def _load(data: ml.Dataset) -> tuple[object, object]:
    """Features and labels of a split written by `prepare`."""
    import numpy as np

    with np.load(data.path) as arrays:
        return arrays["x"], arrays["y"]


def _network(hidden: int) -> object:
    from torch import nn

    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


@ml.step(packages=SKLEARN)
def prepare(test_fraction: float = 0.25, seed: int = 0) -> Split:
    """Scale the 8x8 images to [0, 1] and split them, stratified, into train and test sets."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    splits = []
    for name, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        data = ml.Dataset.new(f"{name}.npz", metadata={"rows": len(ys)})
        with open(data.path, "wb") as out:
            np.savez(out, x=xs, y=ys)
        splits.append(data)
    return Split(train=splits[0], test=splits[1])


@ml.step(packages=TORCH, resources=ml.Resources(cpu="1", memory="1Gi"))
def train(data: ml.Dataset, hidden: int = 64, epochs: int = 60, lr: float = 0.01, seed: int = 0) -> ml.Model:
    """Full-batch Adam on a one-hidden-layer network; the weights and the shape go into a model folder."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # the same numbers on any machine, and fair to its neighbours
    x, y = _load(data)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y).long()
    net = _network(hidden)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), labels)
        loss.backward()
        optimiser.step()
    model = ml.Model.new("digits-mlp", metadata={"hidden": hidden, "epochs": epochs, "loss": float(loss)})
    Path(model.path).mkdir()
    torch.save(net.state_dict(), Path(model.path) / "weights.pt")
    (Path(model.path) / "config.json").write_text(json.dumps({"hidden": hidden}))
    return model


@ml.step(packages=TORCH)
def evaluate(model: ml.Model, train: ml.Dataset, test: ml.Dataset) -> Evaluation:
    """Accuracy on the test set, and that of a trivial baseline to beat."""
    import numpy as np
    import torch

    config = json.loads((Path(model.path) / "config.json").read_text())
    net = _network(config["hidden"])
    net.load_state_dict(torch.load(Path(model.path) / "weights.pt", weights_only=True))
    net.eval()
    x, y = _load(test)
    with torch.no_grad():
        predicted = net(torch.from_numpy(x)).argmax(dim=1).numpy()
    _, y_train = _load(train)
    most_common = int(np.bincount(y_train).argmax())
    return Evaluation(accuracy=float((predicted == y).mean()), baseline=float((y == most_common).mean()))


@ml.step(cache=False)  # the registry changes between runs: read it every time
def current_accuracy(registry: str) -> float:
    """The accuracy of the registered model; 0 when there is none yet."""
    record = Path(registry) / "current.json"
    return float(json.loads(record.read_text())["accuracy"]) if record.exists() else 0.0


@ml.step(cache=False)
def register(model: ml.Model, accuracy: float, registry: str) -> str:
    """Copy the model into the registry as a new version and make it the current one."""
    import shutil

    root = Path(registry)
    version = 1 + sum(1 for p in root.glob("v*") if p.is_dir()) if root.exists() else 1
    target = root / f"v{version}"
    shutil.copytree(model.path, target)
    record = {"version": f"v{version}", "accuracy": accuracy, "source": model.uri}
    temporary = root / "current.json.tmp"
    temporary.write_text(json.dumps(record, indent=2))
    temporary.replace(root / "current.json")  # readers see the old record or the new one, never half
    return f"v{version}"


@ml.pipeline(name="digits-training")
def digits_training(
    registry: str = "/tmp/mlopsdsl-registry", hidden: int = 64, epochs: int = 60, lr: float = 0.01
) -> Evaluation:
    """Prepare the digits, train, evaluate, and register the model if it beats the registered one."""
    split = prepare()
    model = train(data=split.train, hidden=hidden, epochs=epochs, lr=lr)
    scores = evaluate(model=model, train=split.train, test=split.test)
    with ml.when(scores.accuracy > current_accuracy(registry=registry)):
        register(model=model, accuracy=scores.accuracy, registry=registry)
    return scores
