"""A user's file whose steps use every kind of code a by-value payload carries, for the determinism tests.

A pydantic model (with a validator, a nested model, a ``ClassVar`` and an enum field), a dataclass, an
enum, a NamedTuple, module-level helpers, a set constant (iterated in an order seeded per process), a
module-level model instance and a ``TypeAdapter``: each of them has made compiled output differ between
two compiles of this file. ``config`` uses all of them (it needs pydantic where it runs); ``plain`` uses
the standard library only, so it runs in a bare interpreter.

Compiled with ``mlopsdsl compile THIS_FILE:config`` it is module ``determinism_pipeline``; run as a script
(``python THIS_FILE BACKEND OUTPUT``) the same definitions live in ``__main__``, as in a notebook.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from typing import ClassVar, NamedTuple

import pydantic

import mlopsdsl as ml

SCALE = 3
LABELS = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot"}
WEIGHTS = {"alpha": 1.0, "bravo": 2.0}


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


class Schedule(pydantic.BaseModel):
    warmup: int = 1
    tags: frozenset[str] = frozenset({"nightly", "weekly", "adhoc"})


class TrainConfig(pydantic.BaseModel):
    kinds: ClassVar[set[str]] = {"linear", "tree", "forest"}
    version: ClassVar[str] = "v1"
    lr: float = 0.1
    epochs: int = 2
    mode: Mode = Mode.FAST
    schedule: Schedule = Schedule()

    @pydantic.field_validator("epochs")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("epochs must be positive")
        return value


DEFAULT = TrainConfig(lr=0.25, epochs=4)
EPOCH_LIST = pydantic.TypeAdapter(list[int])


@dataclasses.dataclass
class Summary:
    total: float
    label: str
    mode: Mode


class Pair(NamedTuple):
    low: int
    high: int


def scaled(x: float) -> float:
    return x * SCALE


def describe(mode: Mode) -> str:
    names = ",".join(sorted(LABELS))
    return f"{mode.value}:{names}:{len(WEIGHTS)}"


# Steps that use pydantic run on an image that has it (the emulated runs keep this venv's site-packages
# for them); naming it is how a pipeline says so (docs/images.md).
WITH_PYDANTIC = "registry.example/python-with-pydantic:3"


@ml.step(image=WITH_PYDANTIC)
def make(n: int, mode: Mode = Mode.SLOW) -> TrainConfig:
    epochs = EPOCH_LIST.validate_python([n, DEFAULT.epochs])
    return TrainConfig(lr=DEFAULT.lr, epochs=sum(epochs), mode=mode)


@ml.step(image=WITH_PYDANTIC)
def train(cfg: TrainConfig) -> Summary:
    assert isinstance(cfg, TrainConfig) and isinstance(cfg.mode, Mode)
    kind = "linear" if "linear" in TrainConfig.kinds else "?"
    return Summary(total=scaled(cfg.lr * cfg.epochs), label=f"{kind}/{describe(cfg.mode)}", mode=cfg.mode)


@ml.step
def bounds(s: Summary) -> Pair:
    assert isinstance(s, Summary) and isinstance(s.mode, Mode)
    bump = 1 if s.label.split("/")[0] in {"linear", "tree", "forest"} else 0
    return Pair(low=int(s.total), high=int(s.total) + bump)


@ml.pipeline(name="config")
def config(n: int = 2, mode: Mode = Mode.SLOW) -> Pair:
    return bounds(s=train(cfg=make(n=n, mode=mode)))


@ml.step
def tally(n: int, mode: Mode = Mode.FAST) -> Summary:
    return Summary(total=scaled(n), label=describe(mode), mode=mode)


@ml.step
def spread(s: Summary) -> Pair:
    low = int(s.total) if s.label.split(":")[0] in {"fast", "slow", "steady"} else -1
    return Pair(low=low, high=low + len(LABELS))


@ml.pipeline(name="plain")
def plain(n: int = 2) -> Pair:
    return spread(s=tally(n=n))


if __name__ == "__main__":
    # The script form: python determinism_pipeline.py BACKEND OUTPUT [PIPELINE]
    chosen = {"config": config, "plain": plain}[sys.argv[3] if len(sys.argv) > 3 else "config"]
    ml.compile(chosen, backend=sys.argv[1], output=sys.argv[2])
