"""A pipeline for the kill -9 trials: a file, a folder, a 4 MiB object and a map, all deterministic, so
that a resumed run's outputs can be compared byte for byte with an uninterrupted one's."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import mlopsdsl as ml


@ml.step
def table(rows: int) -> ml.Dataset:
    data = ml.Dataset.new("rows.csv")
    Path(data.path).write_text("".join(f"{i},{i * i}\n" for i in range(rows)))
    return data


@ml.step
def model(data: ml.Dataset) -> ml.Model:
    out = ml.Model.new("model")
    os.makedirs(os.path.join(out.path, "weights"))
    Path(out.path, "weights", "w.bin").write_bytes(Path(data.path).read_bytes() * 50)
    Path(out.path, "config.txt").write_text("layers=2\r\n")
    return out


@ml.step
def big(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(1 << 19)  # 4 MiB


@ml.step
def shards(n: int) -> list[int]:
    return list(range(n))


@ml.step
def shard(i: int, weights: np.ndarray) -> np.ndarray:
    return weights[i::4] * i


@ml.step
def summary(parts: list[np.ndarray], model: ml.Model) -> str:
    size = sum(f.stat().st_size for f in Path(model.path).rglob("*") if f.is_file())
    return f"{sum(float(p.sum()) for p in parts):.6f}/{size}"


@ml.pipeline
def killable(rows: int = 2000, n: int = 4) -> tuple[str, ml.Model, np.ndarray]:
    weights = big(seed=7)
    parts = shard.map(i=shards(n=n), weights=weights)
    trained = model(data=table(rows=rows))
    return summary(parts=parts, model=trained), trained, weights
