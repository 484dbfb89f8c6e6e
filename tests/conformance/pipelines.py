"""The conformance pipelines: shapes x behaviours that every path (local runner, KFP, Argo) must run alike.

Each ``Case`` names a pipeline, the parameters of one run, and what plain Python says the outputs are (or
that the run fails). The harness in ``test_conformance.py`` runs every case through every path and
compares. Steps that must see state across attempts or runs (retries, exit handlers) write to a folder
given as a parameter, since every path runs steps as processes on this machine.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any, Literal, NamedTuple, Optional
from urllib.parse import urlparse

from pydantic import BaseModel

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


# --------------------------------------------------------------------------- importers


@ml.step
def imported_rows(data: ml.Dataset) -> int:
    return len(Path(data.path).read_text().splitlines()) - 1


@ml.step
def imported_header(data: ml.Dataset) -> str:
    source = str(data.metadata.get("source_uri", ""))
    return Path(data.path).read_text().splitlines()[0] + "@" + source.rsplit("/", 1)[-1]


@ml.pipeline
def imported(data: ml.Dataset, scale: int = 10) -> tuple[int, str]:
    """A parameter naming an existing artifact: read once by an importer task, then by two steps."""
    return imported_rows(data=data), imported_header(data=data)


@ml.step
def rows_if_any(data: ml.Dataset | None) -> str:
    return "none" if data is None else f"{len(Path(data.path).read_text().splitlines())} lines"


@ml.pipeline
def imported_if_any(data: ml.Dataset | None = None) -> str:
    """An optional artifact parameter: given, read by its import task; left out, the step gets None."""
    return rows_if_any(data=data)


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


def _count_attempt(folder: str, name: str) -> int:
    marker = Path(folder) / name
    tries = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(tries))
    return tries


BACKOFF = ml.Retry(attempts=3, backoff=1, factor=2)


@ml.step(retry=BACKOFF)
def flaky_backoff(folder: str, succeed_on: int) -> int:
    tries = _count_attempt(folder, "flaky-attempts")
    if tries < succeed_on:
        raise RuntimeError(f"attempt {tries} fails on purpose")
    return tries


class Fatal(Exception):
    """An error the step declares final: ``Retry(stop_on=[Fatal])``."""


@ml.step(retry=ml.Retry(attempts=3, backoff=1, stop_on=[Fatal]))
def fatal(folder: str) -> int:
    with open(Path(folder) / "fatal-calls", "a") as calls:
        calls.write("called\n")
    raise Fatal("the input cannot be used, whatever the attempt")


@ml.step
def explode(x: int) -> int:
    raise ValueError(f"explode({x}) fails on purpose")


@ml.step
def odd_fails(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd_fails({x}) fails on purpose")
    return x * 10


@ml.step(retry=ml.Retry(attempts=3, backoff=0))
def odd_flaky(folder: str, x: int) -> int:
    """Every element fails its first attempt; the odd ones fail every attempt."""
    tries = _count_attempt(folder, f"attempts-{x}")
    if x % 2 or tries < 2:
        raise RuntimeError(f"odd_flaky({x}) attempt {tries} fails on purpose")
    return x * 10


@ml.step(retry=ml.Retry(attempts=3, backoff=0, stop_on=[Fatal]))
def odd_fatal(folder: str, x: int) -> int:
    """The odd elements fail for good at once (``stop_on``): one call each, however many attempts."""
    _count_attempt(folder, f"attempts-{x}")
    if x % 2:
        raise Fatal(f"odd_fatal({x}) cannot succeed")
    return x * 10


@ml.step
def attempts_report(folder: str, values: list[int]) -> str:
    """The values, then how many attempts each element made (``attempts-X=N``)."""
    counts = sorted(f"{p.name}={p.read_text()}" for p in Path(folder).glob("attempts-*"))
    return ",".join(str(v) for v in values) + "|" + ",".join(counts)


@ml.step
def join_ints(values: list[int]) -> str:
    return ",".join(str(v) for v in values)


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
def retried_backoff(folder: str, succeed_on: int = 3) -> int:
    return flaky_backoff(folder=folder, succeed_on=succeed_on)


@ml.pipeline
def fails_for_good(folder: str, x: int = 1) -> int:
    return add(a=fatal(folder=folder), b=x)


@ml.pipeline
def failing(x: int = 1) -> int:
    return add(a=explode(x=x), b=number(x=x))


@ml.pipeline
def tolerant_any(xs: list[int]) -> str:
    return join_ints(values=odd_fails.map(x=xs, allow_failures=True))


@ml.pipeline
def tolerant_most(xs: list[int]) -> str:
    return join_ints(values=odd_fails.map(x=xs, min_success=0.9))


@ml.pipeline
def tolerant_half(xs: list[int]) -> str:
    return join_ints(values=odd_fails.map(x=xs, min_success=0.5))


@ml.pipeline
def tolerant_retried(folder: str, xs: list[int]) -> str:
    return attempts_report(folder=folder, values=odd_flaky.map(folder=folder, x=xs, allow_failures=True))


@ml.pipeline
def tolerant_stop_on(folder: str, xs: list[int]) -> str:
    return attempts_report(folder=folder, values=odd_fatal.map(folder=folder, x=xs, min_success=0.5))


@ml.pipeline
def tolerant_inner(xs: list[int]) -> str:
    return join_ints(values=odd_fails.map(x=xs, allow_failures=True))


@ml.pipeline
def tolerant_nested(xs: list[int]) -> str:
    """A tolerant map inside a sub-pipeline: its settle task is in the sub-pipeline's DAG."""
    return echo(text=tolerant_inner(xs=xs))


@ml.pipeline
def tolerant_and_strict(xs: list[int]) -> str:
    """The same step mapped tolerantly and called strictly: the tolerant map runs a copy of it."""
    strict = odd_fails(x=4)
    return describe(text=join_ints(values=odd_fails.map(x=xs, allow_failures=True)), n=strict)


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


@ml.step
def rows_times(part: ml.Dataset, by: int) -> int:
    return len(Path(part.path).read_text().splitlines()) * by


@ml.pipeline
def map_over_stored_results_apart(ns: list[int] = [2, 0, 3], inside: bool = True) -> int:  # noqa: B006
    """Maps over stored results that cannot run in their producer's loop: one waits for all of them, one
    sits in a ``when`` block; and the whole list read inside the blocks."""
    parts = write_rows.map(n=ns)
    offset = total(values=rows_plus_meta.map(part=parts))
    with ml.when(inside):
        near = total(values=rows_plus_meta.map(part=parts))
    with ml.otherwise():
        far = total(values=count_rows(parts=parts))
    return add(a=total(values=rows_times.map(part=parts, by=offset)), b=ml.one_of(near, far))


@dataclasses.dataclass
class Shelved:
    """Stored (it may hold ``Weights``), and written as JSON when it holds none: read back as itself."""

    weights: Weights | None
    count: int


@ml.step
def shelve(n: int) -> Shelved:
    return Shelved(None, n)


@ml.step
def count_of(item: Shelved) -> int:
    return item.count


@ml.step
def show(item: Shelved, plus: int) -> str:
    return f"{type(item).__name__}:{item.count + plus}"


@ml.pipeline
def map_over_stored_json(ns: list[int] = [1, 2]) -> str:  # noqa: B006
    shelved = shelve.map(n=ns)
    return join(names=show.map(item=shelved, plus=total(values=count_of.map(item=shelved))))


@ml.step
def retrain(model: Trained, by: int) -> Trained:
    return Trained(Weights(model.weights.size + by), f"{model.name}+{by}", model.accuracy)


@ml.step
def title(model: Trained) -> str:
    return model.name


@ml.pipeline
def map_over_stored_chain(ns: list[int] = [1, 2, 3]) -> str:  # noqa: B006
    offset = total(values=rows_plus_meta.map(part=write_rows.map(n=ns)))
    models = retrain.map(model=retrain.map(model=train.map(size=ns), by=offset), by=1)
    return describe(text=join(names=title.map(model=models)), n=total_size(models=models))


@ml.step
def rows_or_none(part: ml.Dataset | None = None) -> str:
    return "none" if part is None else f"{len(Path(part.path).read_text().splitlines())} rows"


@ml.pipeline
def optional_stored(n: int = 2) -> list[str]:
    """``Dataset | None`` is stored on every path (the IR's one answer): given, and left to its default."""
    return [rows_or_none(part=write_rows(n=n)), rows_or_none()]


@ml.pipeline
def rows_of(data: ml.Dataset, extra: int = 0) -> int:
    """A sub-pipeline's artifact parameter: its caller binds it to an artifact a task made (no import)."""
    return add(a=imported_rows(data=data), b=extra)


@ml.pipeline
def artifact_into_sub(n: int = 3) -> int:
    return rows_of(data=write_rows(n=n), extra=10)


@ml.pipeline
def condition_on_stored(size: int = 5) -> str:
    model = train(size=size)
    with ml.when(model.accuracy > 0.3):
        good = echo(text="good")
    with ml.otherwise():
        poor = echo(text="poor")
    return ml.one_of(good, poor)


HOSTILE = "{{=sprig.env('HOME')}} $((1+1)) `id` \\n \\\\ 日本語 {{tasks.x.outputs.result}}"


# --------------------------------------------------------------------------- values keep their types
#
# Each typed pipeline hands one value to ``show_*`` three ways: straight from the pipeline parameter, after
# a round trip through a step's output (``keep_*``), and as a constant written in the pipeline. ``show_*``
# returns what it received as ``type:repr``, so a float that arrived as an int, a tuple as a list or a
# model as a dict shows, and the expected output is what plain Python prints.


def seen(*values: Any) -> list[str]:
    return [f"{type(v).__name__}:{v!r}" for v in values]


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Settings(BaseModel):
    rate: float
    layers: tuple[int, ...]
    name: str
    colour: Colour


@dataclasses.dataclass(frozen=True)
class Reading:
    value: float
    tags: tuple[str, ...]
    level: Level
    note: str | None = None


@ml.step
def show_float(direct: float, relayed: float, constant: float) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_float(x: float) -> float:
    return x


@ml.pipeline
def typed_float(value: float = 1.0) -> list[str]:
    return show_float(direct=value, relayed=keep_float(x=value), constant=1.0)


@ml.step
def show_int(direct: int, relayed: int, constant: int) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_int(x: int) -> int:
    return x


@ml.pipeline
def typed_int(value: int = -7) -> list[str]:
    return show_int(direct=value, relayed=keep_int(x=value), constant=-7)


@ml.step
def show_big(direct: int, relayed: int) -> list[str]:
    return seen(direct, relayed)


@ml.pipeline
def typed_big_int(value: int) -> list[str]:
    """An int beyond 2**53: exact where values travel as JSON text, refused where they travel as doubles."""
    return show_big(direct=value, relayed=keep_int(x=value))


@ml.step
def show_bool(direct: bool, relayed: bool, constant: bool) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_bool(x: bool) -> bool:
    return x


@ml.pipeline
def typed_bool(value: bool = True) -> list[str]:
    return show_bool(direct=value, relayed=keep_bool(x=value), constant=True)


@ml.step
def show_str(direct: str, relayed: str, constant: str) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_str(x: str) -> str:
    return x


@ml.pipeline
def typed_str_number(value: str = "1.0") -> list[str]:
    return show_str(direct=value, relayed=keep_str(x=value), constant="1.0")


JSON_TEXT = '{"a": [1, 2.0], "b": null, "c": true}'
UNICODE = "ünïcødé 🚀 日本語 \u2028 \u202e ascii"


@ml.pipeline
def typed_str_json(value: str = JSON_TEXT) -> list[str]:
    return show_str(direct=value, relayed=keep_str(x=value), constant=JSON_TEXT)


@ml.pipeline
def typed_str_unicode(value: str = UNICODE) -> list[str]:
    return show_str(direct=value, relayed=keep_str(x=value), constant=UNICODE)


@ml.step
def show_tuple(
    direct: tuple[float, ...], relayed: tuple[float, ...], constant: tuple[float, ...]
) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_tuple(x: tuple[float, ...]) -> tuple[float, ...]:
    return x


@ml.pipeline
def typed_tuple(value: tuple[float, ...] = (1.0, 2.5, -3.0)) -> list[str]:
    return show_tuple(direct=value, relayed=keep_tuple(x=value), constant=(1.0, 2.5, -3.0))


@ml.step
def show_list(direct: list[float], relayed: list[float], constant: list[float]) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_list(x: list[float]) -> list[float]:
    return x


@ml.pipeline
def typed_list(value: list[float] = [1.0, 0.5, 2.0]) -> list[str]:  # noqa: B006 - a JSON default
    return show_list(direct=value, relayed=keep_list(x=value), constant=[1.0, 0.5, 2.0])


@ml.step
def show_dict(direct: dict[str, float], relayed: dict[str, float], constant: dict[str, float]) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_dict(x: dict[str, float]) -> dict[str, float]:
    return x


@ml.pipeline
def typed_dict(value: dict[str, float] = {"a": 1.0, "b": 2.5}) -> list[str]:  # noqa: B006
    return show_dict(direct=value, relayed=keep_dict(x=value), constant={"a": 1.0, "b": 2.5})


@ml.step
def show_optional(
    direct: Optional[float],  # noqa: UP045 - both spellings are annotations users write
    relayed: float | None,
    constant: Optional[float],  # noqa: UP045
) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_optional(x: float | None) -> float | None:
    return x


@ml.pipeline
def typed_optional(value: float | None = 4.0) -> list[str]:
    return show_optional(direct=value, relayed=keep_optional(x=value), constant=None)


@ml.step
def show_literal(
    direct: Literal["low", "high"], relayed: Literal["low", "high"], number: Literal[1, 2]
) -> list[str]:
    return seen(direct, relayed, number)


@ml.step
def keep_literal(x: Literal["low", "high"]) -> Literal["low", "high"]:
    return x


@ml.pipeline
def typed_literal(value: Literal["low", "high"] = "high") -> list[str]:
    return show_literal(direct=value, relayed=keep_literal(x=value), number=2)


@ml.step
def show_enum(direct: Colour, relayed: Colour, number: Level) -> list[str]:
    return seen(direct, relayed, number)


@ml.step
def keep_enum(x: Colour) -> Colour:
    return x


@ml.pipeline
def typed_enum(value: Colour = Colour.BLUE) -> list[str]:
    return show_enum(direct=value, relayed=keep_enum(x=value), number=Level.HIGH)


SETTINGS = Settings(rate=1.0, layers=(2, 3), name="1.0", colour=Colour.RED)


@ml.step
def show_model(direct: Settings, relayed: Settings, constant: Settings) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_model(x: Settings) -> Settings:
    return x


@ml.pipeline
def typed_model(value: Settings = SETTINGS) -> list[str]:
    return show_model(direct=value, relayed=keep_model(x=value), constant=SETTINGS)


READING = Reading(value=3.0, tags=("a", "b"), level=Level.LOW)


@ml.step
def show_dataclass(direct: Reading, relayed: Reading, constant: Reading) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_dataclass(x: Reading) -> Reading:
    return x


@ml.pipeline
def typed_dataclass(value: Reading = READING) -> list[str]:
    return show_dataclass(direct=value, relayed=keep_dataclass(x=value), constant=READING)


@ml.step
def show_nested(
    direct: dict[str, list[Reading]], relayed: dict[str, list[Reading]], constant: list[Settings]
) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_nested(x: dict[str, list[Reading]]) -> dict[str, list[Reading]]:
    return x


@ml.pipeline
def typed_nested(value: dict[str, list[Reading]] = {"r": [READING]}) -> list[str]:  # noqa: B006
    return show_nested(direct=value, relayed=keep_nested(x=value), constant=[SETTINGS])


ANY = {"k": [1, 2.0, None, True, "1.0"], "n": 2.0}


@ml.step
def show_any(direct: Any, relayed: Any, constant: Any) -> list[str]:
    return seen(direct, relayed, constant)


@ml.step
def keep_any(x: Any) -> Any:
    return x


@ml.pipeline
def typed_any(value: Any = ANY) -> list[str]:
    return show_any(direct=value, relayed=keep_any(x=value), constant=ANY)


# --------------------------------------------------------------------------- artifacts know where they are


@ml.step
def write_table(n: int) -> ml.Dataset:
    data = ml.Dataset.new("table.txt", metadata={"rows": n, "ratio": 0.5, "name": "t"})
    Path(data.path).write_text("x\n" * n)
    return data


@ml.step
def locate(data: ml.Dataset) -> list[str]:
    assert data.uri is not None, "the artifact reached the step without its URI"
    return [urlparse(data.uri).scheme, type(data).__name__, json.dumps(data.metadata, sort_keys=True)]


@ml.step
def locate_all(parts: list[ml.Dataset]) -> list[str]:
    return sorted({urlparse(p.uri or "").scheme for p in parts})


@ml.pipeline
def artifact_uri(n: int = 2) -> list[str]:
    return locate(data=write_table(n=n))


@ml.pipeline
def artifact_uris(ns: list[int] = [1, 2]) -> list[str]:  # noqa: B006
    return locate_all(parts=write_table.map(n=ns))


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
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    """Files to write before the run, each given as a ``file://`` URI to the parameter of its name."""
    exit_status: str | None = None
    """What the exit handler must record."""
    attempts: int | None = None
    """How many attempts the flaky step must have made."""
    waits: list[float] | None = None
    """The backoff before each retry of the one step that retried (``Retry.schedule()``)."""
    calls: int | None = None
    """How many times the ``fatal`` step's function ran."""
    tolerated: list[int] | None = None
    """The elements of the tolerant map that failed and were left out, which every path must report."""
    on: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Expected outputs on one path (``local``, ``kfp``, ``argo``) where they differ by design: where the
    bytes are stored, say."""
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    """Paths that must refuse the case, with a fragment of their message: an engine that cannot carry the
    value exactly says so instead of altering it."""
    isolated: bool = True
    """Whether the emulated pods run without site-packages (a stock image); ``False`` for steps whose
    values need a library the image would have (pydantic)."""
    plain: bool = True
    """Whether plain Python computes the expected outputs (not when a path must convert what plain Python
    passes through as it is, such as an int given for a float)."""


BIG = 99999999999999999999999
"""Beyond 2**53: a double would make it 1e+23."""

STORED_SCHEMES = {"local": "file", "kfp": "file", "argo": "s3", "airflow": "file"}
"""The URI scheme of stored values on each path: the local store and the KFP emulator's pipeline root are
folders; the Argo emulator stands in for an S3 artifact repository; the Airflow runs store in a folder
given as a ``file://`` URL."""


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
    Case(
        "retry-backoff",
        retried_backoff,
        {"succeed_on": 3},
        {"output": 3},
        folder=True,
        attempts=3,
        waits=BACKOFF.schedule(),
    ),
    Case("never-retry", fails_for_good, {}, None, fails="fatal", folder=True, calls=1),
    Case("failing-step", failing, {}, None, fails="explode"),
    Case("exit-on-success", exit_ok, {}, {"output": 4}, folder=True, exit_status="Succeeded"),
    Case("exit-on-failure", exit_failed, {}, None, fails="explode", folder=True, exit_status="Failed"),
    Case("tolerant-map-any", tolerant_any, {"xs": [0, 1, 2, 3, 4]}, {"output": "0,20,40"}, tolerated=[1, 3]),
    Case("tolerant-map-none-failed", tolerant_any, {"xs": [0, 2]}, {"output": "0,20"}, tolerated=[]),
    Case("tolerant-map-all-failed", tolerant_any, {"xs": [1, 3]}, {"output": ""}, tolerated=[0, 1]),
    Case("tolerant-map-empty", tolerant_most, {"xs": []}, {"output": ""}, tolerated=[]),
    Case("tolerant-map-too-few", tolerant_most, {"xs": [0, 1, 2, 3, 4]}, None, fails="odd_fails"),
    Case("tolerant-map-enough", tolerant_half, {"xs": [0, 1, 2, 3, 4]}, {"output": "0,20,40"}),
    Case(
        "tolerant-map-retried",
        tolerant_retried,
        {"xs": [0, 1, 2]},
        {"output": "0,20|attempts-0=2,attempts-1=3,attempts-2=2"},
        folder=True,
        tolerated=[1],
    ),
    Case(
        "tolerant-map-stop-on",
        tolerant_stop_on,
        {"xs": [0, 1, 2, 3]},
        {"output": "0,20|attempts-0=1,attempts-1=1,attempts-2=1,attempts-3=1"},
        folder=True,
        tolerated=[1, 3],
    ),
    Case(
        "tolerant-map-in-sub-pipeline", tolerant_nested, {"xs": [0, 1, 2]}, {"output": "0,20"}, tolerated=[1]
    ),
    Case(
        "tolerant-and-strict",
        tolerant_and_strict,
        {"xs": [1, 2]},
        {"output": json.dumps({"text": "20", "n": 40})},
        tolerated=[0],
    ),
    Case("sub-pipelines", sub_pipelines, {"x": 1}, {"output": (1 + 10) + 1}),
    Case("artifact-into-sub-pipeline", artifact_into_sub, {"n": 4}, {"output": (4 - 1) + 10}, plain=False),
    Case(
        "import-file-uri",
        imported,
        {},
        {"output_0": 2, "output_1": "a,b@data.csv"},
        files={"data": "a,b\n1,2\n3,4\n"},
        plain=False,
    ),
    Case(
        "import-optional-given",
        imported_if_any,
        {},
        {"output": "3 lines"},
        files={"data": "a,b\n1,2\n3,4\n"},
        plain=False,
    ),
    Case("import-optional-absent", imported_if_any, {}, {"output": "none"}, plain=False),
    Case("hostile-default", hostile, {}, {"output": _h(hostile.fn.__defaults__[0])}),
    Case("hostile-value", hostile, {"text": HOSTILE}, {"output": _h(HOSTILE)}),
    Case("gather-values", gather_values, {}, {"output": 2 + 4 + 7}),
    Case("gather-dict", gather_dict, {}, {"output": '{"lit": 5, "one": 2, "two": 4}'}),
    Case("gather-objects", gather_objects, {}, {"output": 7}),
    Case("map-over-written", map_over_written, {}, {"output": 9 + 36}),
    Case("field-of-results", field_of_results, {}, {"output": json.dumps({"text": "k1,k2,k3", "n": 14})}),
    Case("field-of-stored-results", field_of_stored_results, {}, {"output": "model-1,model-4"}),
    Case("map-over-stored-results", map_over_stored_results, {}, {"output": 4 + 0 + 6}),
    Case("map-over-stored-json", map_over_stored_json, {}, {"output": "Shelved:4,Shelved:5"}),
    Case("map-over-stored-apart-when", map_over_stored_results_apart, {}, {"output": 50 + 10}),
    Case("map-over-stored-apart-otherwise", map_over_stored_results_apart, {"inside": False}, {"output": 55}),
    Case(
        "map-over-stored-chain",
        map_over_stored_chain,
        {},
        {"output": json.dumps({"text": "model-1+12+1,model-2+12+1,model-3+12+1", "n": 14 + 15 + 16})},
    ),
    Case("optional-stored", optional_stored, {}, {"output": ["2 rows", "none"]}),
    Case("condition-on-stored-true", condition_on_stored, {"size": 5}, {"output": "good"}),
    Case("condition-on-stored-false", condition_on_stored, {"size": 2}, {"output": "poor"}),
    *[
        Case(
            f"type-{name}",
            pipeline,
            params,
            {"output": expected},
            isolated=name not in ("model", "nested"),  # pydantic, as the image would have it
            plain=name != "float-from-int",
        )
        for name, pipeline, params, expected in [
            ("float", typed_float, {}, seen(1.0, 1.0, 1.0)),
            ("float-from-int", typed_float, {"value": 3}, seen(3.0, 3.0, 1.0)),
            ("int", typed_int, {}, seen(-7, -7, -7)),
            ("bool", typed_bool, {"value": False}, seen(False, False, True)),
            ("str-number", typed_str_number, {}, seen("1.0", "1.0", "1.0")),
            ("str-json", typed_str_json, {}, seen(JSON_TEXT, JSON_TEXT, JSON_TEXT)),
            ("str-unicode", typed_str_unicode, {}, seen(UNICODE, UNICODE, UNICODE)),
            ("tuple", typed_tuple, {}, seen(*[(1.0, 2.5, -3.0)] * 3)),
            ("list", typed_list, {}, seen(*[[1.0, 0.5, 2.0]] * 3)),
            ("dict", typed_dict, {}, seen(*[{"a": 1.0, "b": 2.5}] * 3)),
            ("optional", typed_optional, {}, seen(4.0, 4.0, None)),
            ("optional-none", typed_optional, {"value": None}, seen(None, None, None)),
            ("literal", typed_literal, {}, seen("high", "high", 2)),
            ("enum", typed_enum, {}, seen(Colour.BLUE, Colour.BLUE, Level.HIGH)),
            ("model", typed_model, {}, seen(SETTINGS, SETTINGS, SETTINGS)),
            ("dataclass", typed_dataclass, {}, seen(READING, READING, READING)),
            ("nested", typed_nested, {}, seen({"r": [READING]}, {"r": [READING]}, [SETTINGS])),
            ("any", typed_any, {}, seen(ANY, ANY, ANY)),
        ]
    ],
    Case(
        "type-big-int",
        typed_big_int,
        {"value": BIG},
        {"output": seen(BIG, BIG)},
        refused={"kfp": "beyond ±(2**53 - 1)"},
    ),
    Case(
        "artifact-uri",
        artifact_uri,
        {},
        None,
        on={
            path: {"output": [scheme, "Dataset", '{"name": "t", "ratio": 0.5, "rows": 2}']}
            for path, scheme in STORED_SCHEMES.items()
        },
    ),
    Case(
        "artifact-uris",
        artifact_uris,
        {},
        None,
        on={path: {"output": [scheme]} for path, scheme in STORED_SCHEMES.items()},
    ),
]
