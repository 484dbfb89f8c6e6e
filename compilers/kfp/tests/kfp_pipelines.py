"""Pipelines the KFP backend tests compile and run: every value kind, sub-pipelines, every step option."""

from __future__ import annotations

import dataclasses
import enum
import math
import tempfile
from pathlib import Path
from typing import NamedTuple

import mlopsdsl as ml

TRICKY = "it's \"quoted\"\nline two {{$.inputs.parameters['x']}} $(echo hi) `id` ünïcødé ✓ --arg x=y"


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Metrics:
    accuracy: float
    loss: float


class Point:
    """A plain class: its instances travel as stored objects (KFP artifacts)."""

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def norm(self) -> float:
        return math.hypot(self.x, self.y)


class Halves(NamedTuple):
    left: int
    right: int


@ml.step
def add(a: int, b: int = 1) -> int:
    return a + b


@ml.step
def halve(n: int) -> Halves:
    return Halves(left=n // 2, right=n - n // 2)


@ml.step
def evaluate(x: int, colour: Colour = Colour.RED) -> Metrics:
    assert isinstance(colour, Colour)
    return Metrics(accuracy=x / 100, loss=1.0 / (1 + x))


@ml.step
def make_point(x: float, y: float) -> Point:
    return Point(x, y)


@ml.step
def norm(p: Point) -> float:
    assert isinstance(p, Point)
    return round(p.norm(), 6)


@ml.step
def write_data(rows: int) -> ml.Dataset:
    path = Path(tempfile.mkdtemp()) / "data.csv"
    path.write_text("".join(f"{i},{i * i}\n" for i in range(rows)))
    return ml.Dataset(path=str(path))


@ml.step
def count_rows(data: ml.Dataset) -> int:
    return len(Path(data.path).read_text().splitlines())


@ml.step
def echo(text: str, suffix: str | None = None) -> str:
    return text + (suffix or "")


@ml.step
def summary(accuracy: float, norm: float, rows: int, colour: Colour, text: str) -> str:
    return f"{accuracy:.2f}/{norm}/{rows}/{colour.value}/{len(text)}"


@ml.pipeline
def inner(n: int, label: str = "inner") -> Halves:
    halves = halve(n=add(a=n))
    return Halves(left=halves.left, right=halves.right)


@ml.pipeline
def everything(n: int = 4, colour: Colour = Colour.BLUE, text: str = TRICKY) -> tuple[int, str, float]:
    """A diamond, a sub-pipeline used twice, NamedTuple fields, a field path, an object, an artifact."""
    top = add(a=n, b=0)
    halves = inner(n=top)
    again = inner(n=halves.left, label="again")
    left = add(a=halves.left, b=top)
    right = add(a=again.right)
    metrics = evaluate(x=add(a=left, b=right), colour=colour)
    point = make_point(x=3.0, y=4.0)
    said = echo(text=text)
    told = echo(text=said, suffix=TRICKY)
    result = summary(
        accuracy=metrics.accuracy,
        norm=norm(p=point),
        rows=count_rows(data=write_data(rows=3)),
        colour=colour,
        text=told,
    )
    return add(a=left, b=right), result, metrics.loss


@ml.step
def one(x: int) -> int:
    return x + 1


def chain_of(n: int) -> ml.Pipeline:  # type: ignore[type-arg]
    """A pipeline of ``n`` calls of one step, each fed by the one before."""

    @ml.pipeline(name=f"chain-{n}")
    def chain(x: int = 0) -> int:
        value = one(x=x)
        for _ in range(n - 1):
            value = one(x=value)
        return value

    return chain


@ml.step(
    image="python:3.11",
    packages=["numpy==2.0.0", "pandas>=2; python_version>'3.8'"],
    resources=ml.Resources(cpu="500m", memory="1Gi", gpu=2, gpu_type="nvidia.com/a100", cpu_limit="2"),
    retry=ml.Retry(attempts=4, backoff="10s", factor=3, max_backoff="5m"),
    timeout="90s",
    cache=False,
    env={"MODE": "fast", "QUOTE": "it's"},
    secrets=[ml.Secret("db", "password"), ml.Secret("db", "user", env="DB_USER"), ml.Secret("s3", "key")],
    node_selector={"disk": "ssd"},
    tolerations=[ml.Toleration(key="gpu", operator="Exists", effect="NoSchedule", seconds=60)],
    volumes=[
        ml.Volume("/data", pvc="shared"),
        ml.Volume("/etc/conf", config_map="conf"),
        ml.Volume("/etc/creds", secret="creds"),
        ml.Volume("/scratch", empty_dir=True),
    ],
    labels={"team": "ml"},
    annotations={"note": "x"},
)
def heavy(x: int) -> int:
    return x * 2


@ml.pipeline
def configured(x: int = 1) -> int:
    first = heavy(x=x)
    with ml.after(first):
        second = one(x=x)
    return heavy(x=second)


class Unusable(Exception):
    """An error retrying cannot fix."""


@ml.step(retry=ml.Retry(attempts=3, backoff="5s", stop_on=[Unusable]))
def careful(x: int) -> int:
    if x < 0:
        raise Unusable(f"{x} is negative")
    return x


@ml.pipeline
def stopping(xs: list[int] = [1, 2]) -> list[int]:  # noqa: B006 - a JSON default
    return careful.map(x=xs)


@ml.pipeline
def tolerant(xs: list[int] = [1, 2]) -> list[int]:  # noqa: B006 - a JSON default
    return careful.map(x=xs, allow_failures=True)


@ml.step(
    pod=ml.Pod(
        affinity=[
            ml.NodeAffinity("gpu", ["a100", "h100"]),
            ml.NodeAffinity("pool", operator="Exists"),
            ml.NodeAffinity("zone", ["a"], weight=10),
            ml.PodAffinity({"app": "db"}, topology_key="topology.kubernetes.io/zone", weight=50),
            ml.PodAffinity({"job": "train"}, anti=True, namespaces=["ml"]),
        ],
        image_pull_policy="Always",
        image_pull_secrets=["team"],
        shm_size="2Gi",
        run_as_user=2000,
    )
)
def loader(x: int) -> int:
    return x + 1


@ml.step(pod=ml.Pod(run_as_root=True))
def as_root(x: int) -> int:
    return x


@ml.pipeline(pod=ml.Pod(service_account="runner", image_pull_secrets=["regcred"]))
def pods(x: int = 1) -> int:
    """Pod settings on steps and pipeline defaults, all of which the PlatformSpec can carry."""
    return as_root(x=loader(x=x))


@ml.pipeline(schedule=ml.Schedule("@daily", max_concurrency=3, catch_up=True))
def scheduled(x: int = 1) -> int:
    """A pipeline that runs every day, up to three runs at once, catching up what it missed."""
    return one(x=x)


@ml.pipeline(
    schedule=ml.Schedule(
        "0 3 * * *", timezone="Europe/Paris", replace_running=True, starting_deadline="5m", keep_failed=2
    )
)
def argo_only_schedule(x: int = 1) -> int:
    return one(x=x)
