"""Pipelines the Argo backend tests compile and run: every option, value kind and hostile string."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

import mlopsdsl as ml

HOSTILE = "{{workflow.name}} {{=sprig.env('HOME')}} $(HOME) $$ 'q' \"dq\" \\ \nline2 ünï 日本 `id` ; rm -rf /"
"""A string Argo, Kubernetes or a shell would all like to interpret."""


@dataclasses.dataclass
class Metrics:
    accuracy: float
    label: str


class Point:
    """A plain class: its instances travel as stored objects (Argo artifacts)."""

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y


class Pair(NamedTuple):
    first: str
    second: str


@ml.step
def echo(text: str, suffix: str = "!") -> str:
    return text + suffix


@ml.step
def pair(a: str, b: str) -> Pair:
    return Pair(first=a, second=b)


@ml.step
def measure(text: str) -> Metrics:
    return Metrics(accuracy=len(text) / 100, label=text)


@ml.step
def make_point(x: float, y: float) -> Point:
    return Point(x, y)


@ml.step
def norm(p: Point, scale: float = 1.0) -> float:
    return round((p.x**2 + p.y**2) ** 0.5 * scale, 6)


@ml.step(
    image="python:3.11-slim",
    packages=["six==1.16.0"],
    resources=ml.Resources(cpu="500m", memory="1Gi", gpu=1, memory_limit="2Gi"),
    retry=ml.Retry(attempts=4, backoff="10s", factor=3, max_backoff="5m"),
    timeout="1h30m",
    cache=False,
    env={"MODE": "fast", "PRICE": "$(HOME) costs $5"},
    secrets=[ml.Secret(name="db", key="password", env="DB_PASSWORD")],
    node_selector={"disktype": "ssd"},
    tolerations=[ml.Toleration(key="gpu", operator="Exists", effect="NoSchedule")],
    volumes=[
        ml.Volume(mount_path="/data", pvc="data-claim", read_only=True),
        ml.Volume(mount_path="/scratch", empty_dir=True),
    ],
    labels={"team": "ml"},
    annotations={"owner": "ann@example.com"},
)
def heavy(x: float) -> float:
    return x * 2


@ml.pipeline
def inner(text: str, mark: str = "?") -> Pair:
    """A sub-pipeline: a parameter passed straight through, and a computed output."""
    shouted = echo(text=text, suffix=mark)
    return Pair(first=text, second=shouted)


@ml.pipeline(schedule="0 3 * * *")
def hostile(text: str = HOSTILE, n: int = 3) -> tuple[str, str, float, str]:
    """Hostile strings as a default, a constant and a step's output; a sub-pipeline; objects; ordering."""
    first = echo(text=text)
    constant = echo(text=HOSTILE, suffix=" {{tasks.x.outputs.result}}")
    both = pair(a=first, b=constant)
    metrics = measure(text=both.second)
    nested = inner(text=both.first)
    again = echo(text=nested.first, suffix=metrics.label)
    length = norm(p=make_point(x=3.0, y=4.0))
    with ml.after(again):
        last = echo(text=nested.second)
    return again, last, length, metrics.label


@ml.pipeline
def options(x: float = 1.5) -> float:
    """A step with every option."""
    return heavy(x=heavy(x=x))


CHAIN = 5


@ml.pipeline
def chain(start: str = "start") -> str:
    """A small chain of one step function."""
    value = echo(text=start)
    for _ in range(CHAIN):
        value = echo(text=value)
    return value


# --------------------------------------------------------------------------- control flow


@ml.step
def join(parts: list[str]) -> str:
    return "|".join(parts)


@ml.step
def texts_of(text: str) -> list[str]:
    return [text, text + "!", "{{item}}"]


@ml.step
def spread(n: int) -> list[float]:
    return [float(i) for i in range(n)]


@ml.step
def norms(points: list[Point]) -> list[float]:
    return [round((p.x**2 + p.y**2) ** 0.5, 6) for p in points]


@ml.step
def total(values: list[float]) -> float:
    return sum(values)


@ml.pipeline
def hostile_branch(text: str = HOSTILE, other: str = "x") -> str:
    """A user's strings inside conditions: compared in Python, never read by Argo's expression language."""
    with ml.when((text == HOSTILE) & ~(other == "' || true || '")):
        same = echo(text=text, suffix=" matched")
    with ml.otherwise():
        different = echo(text=other, suffix=" {{item}}")
    return ml.one_of(same, different)


@ml.pipeline
def relay(text: str) -> str:
    """Passes its parameter straight through (and calls a step, as every pipeline must)."""
    echo(text=text, suffix=" relayed")
    return text


@ml.pipeline
def relayed_branch(text: str = HOSTILE, pick: bool = True) -> str:
    """``ml.one_of`` over a sub-pipeline that passes through a value made inside its branch."""
    with ml.when(pick == True):  # noqa: E712 - a condition, not a Python comparison
        through = relay(text=echo(text=text, suffix=" +"))
    with ml.otherwise():
        other = echo(text=text, suffix=" -")
    return echo(text=ml.one_of(through, other), suffix="!")


@ml.pipeline
def hostile_items(texts: list[str] = [HOSTILE, "{{item}}", "$(HOME)"]) -> tuple[str, str, str]:  # noqa: B006
    """Hostile strings as loop items: a parameter, a literal list and a step's output."""
    from_param = join(parts=echo.map(text=texts))
    from_literal = join(parts=echo.map(text=[HOSTILE, "{{workflow.name}}"], suffix="$(X)"))
    from_step = join(parts=echo.map(text=texts_of(text=HOSTILE), max_parallel=2))
    return from_param, from_literal, from_step


@ml.pipeline
def points_of(n: int) -> float:
    """Fan-out and fan-in of stored objects inside a sub-pipeline (mapped again below: nested)."""
    xs = spread(n=n)
    return total(values=norms(points=make_point.map(x=xs, y=4.0)))


@ml.pipeline
def stored_fan_in(n: int = 3, sizes: list[int] = [2, 0, 1]) -> tuple[list[float], list[float], float]:  # noqa: B006
    """Objects collected after a map (and after a limited map), nested fan-out, an empty nested map."""
    flat = norms(points=make_point.map(x=spread(n=n), y=4.0))
    limited = norms(points=make_point.map(x=spread(n=n), y=0.0, max_parallel=1))
    return flat, limited, total(values=points_of.map(n=sizes))


@ml.step
def record(folder: str, status: str, text: str) -> None:
    from pathlib import Path

    (Path(folder) / "status").write_text(status + " " + text)


@ml.pipeline(on_exit=record)
def with_exit(folder: str, text: str = HOSTILE) -> str:
    return echo(text=text)


@ml.step
def make_array(n: int) -> np.ndarray:
    return np.arange(n)


@ml.step
def array_size(a: np.ndarray) -> int:
    return int(a.size)


@ml.pipeline
def arrays(n: int = 3) -> int:
    """A numpy array between steps: written with ``npy``, so the reader must learn the format."""
    return array_size(a=make_array(n=n))


@ml.step(
    pod=ml.Pod(
        affinity=[
            ml.NodeAffinity("gpu", ["a100"]),
            ml.NodeAffinity("cores", ["8"], operator="Gt"),
            ml.NodeAffinity("zone", ["a"], weight=10),
            ml.PodAffinity({"app": "db"}, weight=50),
            ml.PodAffinity({"job": "train"}, anti=True, namespaces=["ml"]),
        ],
        image_pull_policy="IfNotPresent",
        image_pull_secrets=["team"],
        shm_size="2Gi",
        run_as_user=2000,
        priority_class="high",
        patch={"containers": [{"name": "main", "stdin": True}], "dnsPolicy": "ClusterFirst"},
    )
)
def loader(x: int) -> int:
    return x + 1


@ml.step(pod=ml.Pod(run_as_root=True, service_account="builder"))
def as_root(x: int) -> int:
    return x * 2


@ml.pipeline(pod=ml.Pod(service_account="runner", image_pull_secrets=["regcred"]))
def pods(x: int = 1) -> int:
    """Every pod setting, on steps and as the pipeline's defaults."""
    return as_root(x=loader(x=x))


@ml.pipeline(
    schedule=ml.Schedule(
        "0 3 * * 1-5",
        timezone="Europe/Paris",
        replace_running=True,
        starting_deadline="5m",
        keep_succeeded=3,
        keep_failed=1,
        enabled=False,
    )
)
def nightly(x: int = 1) -> int:
    """Weekday nights, Paris time; a late run replaces a running one."""
    return as_root(x=x)


@ml.pipeline(schedule=ml.Schedule("@hourly", max_concurrency=3, catch_up=True))
def kfp_only_schedule(x: int = 1) -> int:
    return as_root(x=x)
