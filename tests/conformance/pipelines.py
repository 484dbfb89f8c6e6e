"""The conformance pipelines: shapes x behaviours that every path (local runner, KFP, Argo) must run alike.

Each ``Case`` names a pipeline, the parameters of one run, and what plain Python says the outputs are (or
that the run fails). The harness in ``test_conformance.py`` runs every case through every path and
compares. Steps that must see state across attempts or runs (retries, exit handlers) write to a folder
given as a parameter, since every path runs steps as processes on this machine.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, NamedTuple

import mlopsdsl as ml

# --------------------------------------------------------------------------- steps


@ml.step
def number(x: int) -> int:
    return x


@ml.step
def add(a: int, b: int) -> int:
    return a + b


@ml.step
def double(x: int) -> int:
    return 2 * x


@ml.step
def square(x: int) -> int:
    return x * x


@ml.step
def total(values: list[int]) -> int:
    return sum(values)


@ml.step
def count_up(n: int) -> list[int]:
    return list(range(n))


class Pair(NamedTuple):
    low: int
    high: int


@ml.step
def spread(x: int) -> Pair:
    return Pair(x - 1, x + 1)


@dataclasses.dataclass
class Box:
    """A Python object passed by reference (pickled), not as JSON."""

    label: str
    size: int


@ml.step
def pack(size: int) -> Box:
    return Box(label=f"box-{size}", size=size)


@ml.step
def weigh(boxes: list[Box]) -> int:
    return sum(b.size for b in boxes)


@ml.step
def label(box: Box) -> str:
    return box.label


@ml.step
def write_rows(n: int) -> ml.Dataset:
    data = ml.Dataset.new("rows.txt", metadata={"rows": n})
    Path(data.path).write_text("".join(f"row {i}\n" for i in range(n)))
    return data


@ml.step
def count_rows(parts: list[ml.Dataset]) -> list[int]:
    return [len(Path(p.path).read_text().splitlines()) for p in parts]


@ml.step
def echo(text: str) -> str:
    return text


@ml.step
def describe(text: str, n: int) -> str:
    return json.dumps({"text": text, "n": n}, ensure_ascii=False)


@ml.step(retry=ml.Retry(attempts=3, backoff=0))
def flaky(folder: str, succeed_on: int) -> int:
    marker = Path(folder) / "flaky-attempts"
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    if tries < succeed_on:
        raise RuntimeError(f"attempt {tries} fails on purpose")
    return tries


@ml.step
def explode(x: int) -> int:
    raise ValueError(f"explode({x}) fails on purpose")


@ml.step
def record_status(folder: str, status: str) -> None:
    (Path(folder) / "exit-status").write_text(status)


class Weights:
    """A plain class: stored by reference (pickled), never JSON."""

    def __init__(self, size: int) -> None:
        self.size = size


@dataclasses.dataclass
class Trained:
    """Stored whole (it holds ``Weights``), while its typed fields stay selectable."""

    weights: Weights
    name: str
    accuracy: float


@ml.step
def train(size: int) -> Trained:
    return Trained(Weights(size), f"model-{size}", size / 10)


@ml.step
def total_size(models: list[Trained]) -> int:
    return sum(m.weights.size for m in models)


@dataclasses.dataclass
class Score:
    name: str
    value: int


@ml.step
def score(k: int) -> Score:
    return Score(name=f"k{k}", value=k * k)


@ml.step
def join(names: list[str]) -> str:
    return ",".join(names)


@ml.step
def keyed(values: dict[str, int]) -> str:
    return json.dumps(values, sort_keys=True)


# --------------------------------------------------------------------------- pipelines


@ml.pipeline
def diamond(x: int = 3) -> int:
    top = number(x=x)
    return add(a=double(x=top), b=square(x=top))


@ml.pipeline
def fan_values(n: int = 4) -> int:
    return total(values=square.map(x=count_up(n=n)))


@ml.pipeline
def fan_literal() -> int:
    return total(values=double.map(x=[1, 2, 3], max_parallel=2))


@ml.pipeline
def fan_objects(sizes: list[int] = [1, 2, 3]) -> int:  # noqa: B006 - a JSON default
    return weigh(boxes=pack.map(size=sizes))


@ml.pipeline
def fan_artifacts(ns: list[int] = [2, 0, 3]) -> list[int]:  # noqa: B006
    return count_rows(parts=write_rows.map(n=ns))


@ml.pipeline
def fan_fields(xs: list[int] = [1, 5]) -> int:  # noqa: B006
    pairs = spread.map(x=xs)
    return add(a=total(values=pairs.low), b=total(values=pairs.high))


@ml.pipeline
def per_item(x: int) -> int:
    return total(values=double.map(x=count_up(n=x)))


@ml.pipeline
def nested_map(xs: list[int] = [2, 3]) -> int:  # noqa: B006
    return total(values=per_item.map(x=xs))


@ml.pipeline
def empty_map(n: int = 0) -> int:
    return total(values=square.map(x=count_up(n=n)))


@ml.pipeline
def branch(x: int = 5, limit: int = 3) -> int:
    value = number(x=x)
    with ml.when(value > limit):
        big = double(x=value)
    with ml.otherwise():
        small = square(x=value)
    return ml.one_of(big, small)


@ml.pipeline
def nested_branch(x: int = 5, flag: bool = True) -> str:
    value = number(x=x)
    with ml.when(value >= 0):
        with ml.when(flag == True):  # noqa: E712 - a condition, not a Python comparison
            inner_yes = echo(text="positive and flagged")
        with ml.otherwise():
            inner_no = echo(text="positive")
        positive = echo(text=ml.one_of(inner_yes, inner_no))
    with ml.otherwise():
        negative = echo(text="negative")
    return ml.one_of(positive, negative)


@ml.pipeline
def retried(folder: str, succeed_on: int = 3) -> int:
    return flaky(folder=folder, succeed_on=succeed_on)


@ml.pipeline
def failing(x: int = 1) -> int:
    return add(a=explode(x=x), b=number(x=x))


@ml.pipeline(on_exit=record_status)
def exit_ok(folder: str, x: int = 2) -> int:
    return double(x=x)


@ml.pipeline(on_exit=record_status)
def exit_failed(folder: str, x: int = 2) -> int:
    return explode(x=x)


@ml.pipeline
def inner_sum(a: int, b: int = 10) -> int:
    return add(a=a, b=b)


@ml.pipeline
def sub_pipelines(x: int = 1) -> int:
    return inner_sum(a=inner_sum(a=x), b=x)


@ml.pipeline
def hostile(
    text: str = "{{workflow.name}} $(HOME) \"q\" 'q'\nzweite Zeile ünïcødé 🚀 {{inputs.parameters.x}}",
    n: int = 1,
) -> str:
    return describe(text=echo(text=text), n=n)


@ml.pipeline
def gather_values(x: int = 2) -> int:
    return total(values=[number(x=x), double(x=x), 7])


@ml.pipeline
def gather_dict(x: int = 2) -> str:
    return keyed(values={"one": number(x=x), "two": double(x=x), "lit": 5})


@ml.pipeline
def gather_objects(a: int = 2, b: int = 5) -> int:
    return total_size(models=[train(size=a), train(size=b)])


@ml.pipeline
def map_over_written(x: int = 3) -> int:
    return total(values=square.map(x=[number(x=x), double(x=x)]))


@ml.pipeline
def field_of_results(ks: list[int] = [1, 2, 3]) -> str:  # noqa: B006
    scores = score.map(k=ks)
    return describe(text=join(names=scores.name), n=total(values=scores.value))


@ml.pipeline
def field_of_stored_results(sizes: list[int] = [1, 4]) -> str:  # noqa: B006
    return join(names=train.map(size=sizes).name)


@ml.step
def rows_plus_meta(part: ml.Dataset) -> int:
    return len(Path(part.path).read_text().splitlines()) + part.metadata["rows"]


@ml.pipeline
def map_over_stored_results(ns: list[int] = [2, 0, 3]) -> int:  # noqa: B006
    return total(values=rows_plus_meta.map(part=write_rows.map(n=ns)))


@ml.pipeline
def condition_on_stored(size: int = 5) -> str:
    model = train(size=size)
    with ml.when(model.accuracy > 0.3):
        good = echo(text="good")
    with ml.otherwise():
        poor = echo(text="poor")
    return ml.one_of(good, poor)


HOSTILE = "{{=sprig.env('HOME')}} $((1+1)) `id` \\n \\\\ 日本語 {{tasks.x.outputs.result}}"


@dataclasses.dataclass(frozen=True)
class Case:
    """One run: the pipeline, its parameters, and the expected outputs (or the step expected to fail)."""

    name: str
    pipeline: Any
    params: dict[str, Any]
    outputs: dict[str, Any] | None
    fails: str | None = None
    """The step whose failure fails the run."""
    folder: bool = False
    """Give the run a scratch folder as parameter ``folder``."""
    exit_status: str | None = None
    """What the exit handler must record."""
    attempts: int | None = None
    """How many attempts the flaky step must have made."""


def _h(text: str) -> str:
    return json.dumps({"text": text, "n": 1}, ensure_ascii=False)


CASES = [
    Case("diamond", diamond, {}, {"output": 2 * 3 + 3 * 3}),
    Case("fan-values", fan_values, {"n": 4}, {"output": 0 + 1 + 4 + 9}),
    Case("fan-literal", fan_literal, {}, {"output": 12}),
    Case("fan-objects", fan_objects, {}, {"output": 6}),
    Case("fan-fields", fan_fields, {}, {"output": (0 + 4) + (2 + 6)}),
    Case("fan-artifacts", fan_artifacts, {}, {"output": [2, 0, 3]}),
    Case("nested-map", nested_map, {}, {"output": (0 + 2) + (0 + 2 + 4)}),
    Case("empty-map", empty_map, {"n": 0}, {"output": 0}),
    Case("branch-true", branch, {"x": 5}, {"output": 10}),
    Case("branch-false", branch, {"x": 2}, {"output": 4}),
    Case("nested-branch-flagged", nested_branch, {"x": 1, "flag": True}, {"output": "positive and flagged"}),
    Case("nested-branch-plain", nested_branch, {"x": 1, "flag": False}, {"output": "positive"}),
    Case("nested-branch-negative", nested_branch, {"x": -1, "flag": True}, {"output": "negative"}),
    Case("retry-succeeds", retried, {"succeed_on": 3}, {"output": 3}, folder=True, attempts=3),
    Case("retry-exhausted", retried, {"succeed_on": 4}, None, fails="flaky", folder=True, attempts=3),
    Case("failing-step", failing, {}, None, fails="explode"),
    Case("exit-on-success", exit_ok, {}, {"output": 4}, folder=True, exit_status="Succeeded"),
    Case("exit-on-failure", exit_failed, {}, None, fails="explode", folder=True, exit_status="Failed"),
    Case("sub-pipelines", sub_pipelines, {"x": 1}, {"output": (1 + 10) + 1}),
    Case("hostile-default", hostile, {}, {"output": _h(hostile.fn.__defaults__[0])}),
    Case("hostile-value", hostile, {"text": HOSTILE}, {"output": _h(HOSTILE)}),
    Case("gather-values", gather_values, {}, {"output": 2 + 4 + 7}),
    Case("gather-dict", gather_dict, {}, {"output": '{"lit": 5, "one": 2, "two": 4}'}),
    Case("gather-objects", gather_objects, {}, {"output": 7}),
    Case("map-over-written", map_over_written, {}, {"output": 9 + 36}),
    Case("field-of-results", field_of_results, {}, {"output": json.dumps({"text": "k1,k2,k3", "n": 14})}),
    Case("field-of-stored-results", field_of_stored_results, {}, {"output": "model-1,model-4"}),
    Case("map-over-stored-results", map_over_stored_results, {}, {"output": 4 + 0 + 6}),
    Case("condition-on-stored-true", condition_on_stored, {"size": 5}, {"output": "good"}),
    Case("condition-on-stored-false", condition_on_stored, {"size": 2}, {"output": "poor"}),
]
