# backend: kfp
from pathlib import Path

import mlopsdsl as ml


@ml.step
def make(n: int) -> ml.Dataset:
    data = ml.Dataset.new("n.txt")
    Path(data.path).write_text(str(n))
    return data


@ml.step
def size(d: ml.Dataset) -> int:
    return len(Path(d.path).read_text())


@ml.pipeline
def map_over_datasets(ns: list[int]) -> list[int]:
    made = make.map(n=ns)
    return size.map(d=made)  # refused: task 'size' maps over a list of Dataset; on KFP a map runs over a list of str, numbers, bools, lists, dicts, dataclasses or models
