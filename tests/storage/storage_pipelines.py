"""Steps and pipelines the storage tests run: files, folders and every built-in serialiser, plus one of
the user's own."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic

import mlopsdsl as ml


class Event(pydantic.BaseModel):
    """Not a JSON parameter (a datetime field), so stored as an object: with the JSON serialiser."""

    name: str
    at: datetime.datetime


@dataclasses.dataclass
class Box:
    """A dataclass with an object field: stored, and JSON can hold it."""

    label: str
    sizes: tuple[int, ...]
    when: Event | None = None


class Blob:
    """A plain class: cloudpickle."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Vocabulary:
    """A class with a serialiser of the user's own, registered below (module level: import mode works)."""

    def __init__(self, words: list[str]) -> None:
        self.words = words

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other.words == self.words

    __hash__ = None  # type: ignore[assignment]


def save_vocabulary(value: Vocabulary, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(value.words))


def load_vocabulary(path: str) -> Vocabulary:
    with open(path, encoding="utf-8") as handle:
        return Vocabulary(handle.read().split("\n"))


ml.register_serializer(Vocabulary, name="vocabulary-v1", dump=save_vocabulary, load=load_vocabulary)


@ml.step
def make_array(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64).reshape(-1, 2)


@ml.step
def array_sum(a: np.ndarray) -> float:
    assert isinstance(a, np.ndarray)
    return float(a.sum())


@ml.step(cache=False)
def array_max(a: np.ndarray) -> float:
    return float(a.max())


@ml.step
def make_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "y": [f"r{i}" for i in range(n)]})


@ml.step
def frame_rows(df: pd.DataFrame) -> int:
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["x", "y"]
    return len(df)


@ml.step
def make_event(name: str) -> Event:
    return Event(name=name, at=datetime.datetime(2026, 1, 2, 3, 4, 5))


@ml.step
def event_year(e: Event) -> int:
    assert isinstance(e.at, datetime.datetime)
    return e.at.year


@ml.step
def make_vocabulary(words: list[str]) -> Vocabulary:
    return Vocabulary(words)


@ml.step
def vocabulary_size(v: Vocabulary) -> int:
    assert isinstance(v, Vocabulary)
    return len(v.words)


@ml.step
def write_table(rows: int) -> ml.Dataset:
    data = ml.Dataset.new("table.csv", metadata={"rows": rows})
    Path(data.path).write_text("".join(f"{i},{i * i}\n" for i in range(rows)))
    return data


@ml.step
def write_model() -> ml.Model:
    model = ml.Model.new("model")
    os.makedirs(os.path.join(model.path, "weights"))
    Path(model.path, "config.json").write_text(json.dumps({"layers": 2}))
    Path(model.path, "weights", "w.bin").write_bytes(bytes(range(256)) * 4)
    return model


@ml.step
def describe(table: ml.Dataset, model: ml.Model) -> str:
    rows = len(Path(table.path).read_text().splitlines())
    layers = json.loads(Path(model.path, "config.json").read_text())["layers"]
    weights = Path(model.path, "weights", "w.bin").stat().st_size
    return f"{rows}/{table.metadata['rows']}/{layers}/{weights}"


@ml.pipeline
def mixed(n: int = 6) -> tuple[float, int, int, int, str, np.ndarray, Vocabulary, ml.Dataset]:
    """Every kind of stored value, produced by one step and consumed by another."""
    array = make_array(n=n)
    vocabulary = make_vocabulary(words=["a", "b", "c"])
    table = write_table(rows=n)
    return (
        array_sum(a=array),
        frame_rows(df=make_frame(n=n)),
        event_year(e=make_event(name="x")),
        vocabulary_size(v=vocabulary),
        describe(table=table, model=write_model()),
        array,
        vocabulary,
        table,
    )
