"""Pipelines that log metrics and read ``ml.current()``, run by every backend in the tracking tests."""

from __future__ import annotations

import mlopsdsl as ml


@ml.step
def train(epochs: int) -> float:
    loss = 1.0
    for epoch in range(epochs):
        loss = loss / 2
        ml.log_metric("loss", loss, step=epoch)
    ml.log_metrics({"accuracy": 0.75, "f1": 0.5})
    return loss


@ml.step
def where() -> dict[str, str]:
    here = ml.current()
    return {
        "backend": str(here.backend),
        "pipeline": str(here.pipeline),
        "step": str(here.step),
        "has_run_id": str(bool(here.run_id)),
    }


@ml.step
def quiet(x: float) -> float:
    return x


@ml.pipeline
def tracked(epochs: int = 3) -> dict[str, str]:
    quiet(x=train(epochs=epochs))
    return where()


@ml.step(retry=ml.Retry(attempts=3, backoff="0s"))
def wobbly(folder: str) -> int:
    """Fails twice, then succeeds (counting its tries in a file: attempts are separate processes)."""
    from pathlib import Path

    counter = Path(folder) / "tries"
    tries = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(tries))
    ml.log_metric("tries", tries)
    if tries < 3:
        raise RuntimeError(f"try {tries} fails")
    return tries


@ml.pipeline
def flaky(folder: str) -> int:
    return wobbly(folder=folder)


@ml.step
def base(x: int) -> int:
    ml.log_metric("seen", x)
    return x + 1


@ml.step
def breaks(x: int) -> int:
    raise ValueError(f"no <good> value: {x}")


@ml.step
def after(x: int) -> int:
    return x


@ml.step(cache=False)
def always(x: int) -> int:
    for i in range(4):
        ml.log_metric("curve", i * i, step=i)
    return x


@ml.pipeline
def mixed(x: int = 1) -> int:
    first = base(x=x)
    always(x=x)
    return after(x=breaks(x=first))
